//! The same daemon, joined: now it finishes before `main` does.
//!
//! Python twin: `python/daemon_main_exit_join.py` (tutorial 004, the prose
//! after the "Daemon Process" block: "to wait for the daemon, use `join`").
//!
//! ```console
//! $ cargo run -p examples-daemon --bin daemon_main_exit_join
//! Start
//! Exit
//! Main process terminated
//! ```
//! `join` waits the remaining 2 s of the daemon's sleep, so `Exit` comes
//! before `Main process terminated`: being a daemon only matters for a
//! child still running when `main` returns.

use std::thread::sleep;
use std::time::Duration;

use shared::Process;

fn daemon() {
    println!("Start");
    sleep(Duration::from_secs(5));
    println!("Exit");
}

fn main() -> Result<(), shared::Error> {
    let mut d = Process::new(daemon).named("daemon").daemon(true);

    d.start()?;
    sleep(Duration::from_secs(3));
    d.join()?; // New! wait for the daemon; without this, exit would terminate it
    println!("Main process terminated");
    Ok(())
}
