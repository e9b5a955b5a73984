//! Waiting for a daemon with `join`.
//!
//! Python twin: `python/daemon_join.py` (tutorial 003, section 5 "join()").
//!
//! ```console
//! $ cargo run -p examples-daemon --bin daemon_join
//! Starting: daemon
//! Starting: non-daemon
//! Exiting : non-daemon
//! Exiting : daemon
//! ```
//! Unlike in `daemon`, the daemon gets to print `Exiting`: `join` waits for
//! it, so it has finished before `main` returns and nobody terminates it.
//!
//! The tutorial shows both non-daemon lines first: it ran where each child's
//! output was block-buffered and appeared only when the child exited (the
//! non-daemon at 1 s, the daemon at 2 s). Line-buffered, the order follows
//! the clock.

use std::thread::sleep;
use std::time::Duration;

use shared::{Process, current_process};

fn daemon() {
    let name = current_process().name().to_owned();
    println!("Starting: {name}");
    sleep(Duration::from_secs(2));
    println!("Exiting : {name}");
}

fn non_daemon() {
    let name = current_process().name().to_owned();
    println!("Starting: {name}");
    println!("Exiting : {name}");
}

fn main() -> Result<(), shared::Error> {
    let mut d = Process::new(daemon).named("daemon").daemon(true);

    let mut n = Process::new(non_daemon).named("non-daemon").daemon(false);

    d.start()?;
    sleep(Duration::from_secs(1));
    n.start()?;

    // join() blocks until the daemon is done, so this time it gets to exit.
    d.join()?;
    n.join()?;
    Ok(())
}
