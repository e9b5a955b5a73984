//! `join` with a timeout: stop waiting, whether or not the child is done.
//!
//! Python twin: `python/daemon_join_timeout.py` (tutorial 003, section 5
//! "join()", its last remark: "join() blocks forever by default; it also
//! takes a timeout").
//!
//! ```console
//! $ cargo run -p examples-daemon --bin daemon_join_timeout
//! Starting: daemon
//! Starting: non-daemon
//! Exiting : non-daemon
//! d.is_alive() True
//! ```
//! `join_timeout` returns `Ok` whether the child finished or the time ran
//! out, as Python's `join(timeout)` returns `None` either way: `is_alive()`
//! tells which. Here the daemon is still asleep, and `main` returning then
//! terminates it, so `Exiting : daemon` never appears.
//!
//! Differs from Python: Rust has no optional arguments, so `join(0.5)` is a
//! method of its own, `join_timeout(Duration::from_millis(500))`.

use std::thread::sleep;
use std::time::Duration;

use shared::py::py_bool;
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

    // The daemon sleeps 2 s; join gives up after 0.5 s (about 1.5 s in).
    d.join_timeout(Duration::from_millis(500))?; // Python: d.join(0.5)
    println!("d.is_alive() {}", py_bool(d.is_alive()));
    n.join()?;
    Ok(()) // main exits here and terminates the daemon before it prints Exiting
}
