//! `main` returns while its daemon child still sleeps.
//!
//! Python twin: `python/daemon_main_exit.py` (tutorial 004, "Daemon Process").
//!
//! ```console
//! $ cargo run -p examples-daemon --bin daemon_main_exit
//! Start
//! Main process terminated
//! ```
//! The tutorial shows a third line, `Exit`, as if the daemon outlived `main`
//! and finished its 5 s sleep. CPython 3.11 never prints it, and neither do
//! we: when `main` returns, live daemon children are terminated (SIGTERM)
//! before the process exits. A daemon is the child you do *not* wait for.

use std::thread::sleep;
use std::time::Duration;

use shared::Process;

fn daemon() {
    println!("Start");
    sleep(Duration::from_secs(5));
    println!("Exit"); // never printed: see above
}

fn main() -> Result<(), shared::Error> {
    let mut d = Process::new(daemon).named("daemon").daemon(true);

    d.start()?;
    sleep(Duration::from_secs(3));
    println!("Main process terminated");
    Ok(()) // the exit steps terminate `d`, 2 s before it would print `Exit`
}
