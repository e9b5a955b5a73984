//! Daemon vs. non-daemon processes.
//!
//! Python twin: `python/daemon.py` (tutorial 003, section 4 "Daemon").
//!
//! ```console
//! $ cargo run -p examples-daemon --bin daemon
//! Starting: daemon [..]
//! Starting: non-daemon [..]
//! Exiting : non-daemon [..]
//! ```
//! The daemon never prints `Exiting`: when `main` returns, daemons are
//! terminated and the other children are joined, as in Python.
//!
//! The tutorial flushes stdout after each `print` so that a line is out
//! before the daemon is killed. `println!` needs no flush: Rust's stdout is
//! line-buffered even into a pipe, so each line leaves as it is printed.

use std::thread::sleep;
use std::time::Duration;

use shared::{Process, current_process};

fn daemon() {
    let p = current_process();
    println!("Starting: {} {}", p.name(), p.pid());
    sleep(Duration::from_secs(2));
    println!("Exiting : {} {}", p.name(), p.pid()); // never printed: see above
}

fn non_daemon() {
    let p = current_process();
    println!("Starting: {} {}", p.name(), p.pid());
    println!("Exiting : {} {}", p.name(), p.pid());
}

fn main() -> Result<(), shared::Error> {
    let mut d = Process::new(daemon).named("daemon").daemon(true); // Python: d.daemon = True
    let mut n = Process::new(non_daemon).named("non-daemon").daemon(false);

    d.start()?;
    sleep(Duration::from_secs(1));
    n.start()?;
    Ok(()) // no join: the exit steps terminate `d` and wait for `n`
}
