//! `terminate` stops a child, but only `join` shows that it has stopped.
//!
//! Python twin: `python/terminate.py` (tutorial 003, section 6 "terminate()").
//!
//! ```console
//! $ cargo run -p examples-exitcode --bin terminate
//! BEFORE: <Process name='Process-1' parent=[..] initial> False
//! Starting worker
//! DURING: <Process name='Process-1' pid=[..] parent=[..] started> True
//! TERMINATED: <Process name='Process-1' pid=[..] parent=[..] started> True
//! JOINED: <Process name='Process-1' pid=[..] parent=[..] stopped exitcode=-SIGTERM> False
//! ```
//! `terminate` sends SIGTERM and returns at once: right after it the child
//! has usually not died yet, so it still counts as alive and its repr still
//! says `started`; `join` is how to wait for the end. `Finished worker`
//! never appears.
//!
//! Timing decides one line, in both languages: `is_alive` and the repr ask
//! the kernel (`waitpid` with `WNOHANG`), so now and then the child has
//! already died and `TERMINATED` reads `... stopped exitcode=-SIGTERM> False`.
//!
//! The tutorial shows the reprs of Pythons before 3.8, such as
//! `<Process(Process-1, stopped[SIGTERM])>`; these are CPython 3.11's.
//!
//! The tutorial terminated the child at once, so whether `Starting worker`
//! came first was up to the scheduler; like the twin, we pause 0.2 s so the
//! child reaches its (now 1 s) sleep, which `terminate` cuts short.

use std::thread::sleep;
use std::time::Duration;

use shared::Process;
use shared::py::py_bool;

fn slow_worker() {
    println!("Starting worker");
    sleep(Duration::from_secs(1));
    println!("Finished worker");
}

fn main() -> Result<(), shared::Error> {
    let mut p = Process::new(slow_worker);
    println!("BEFORE: {p} {}", py_bool(p.is_alive()));

    p.start()?;
    sleep(Duration::from_millis(200)); // let the child reach its sleep
    println!("DURING: {p} {}", py_bool(p.is_alive()));

    // terminate() only sends SIGTERM; until join() reaps the child, it still
    // looks alive and its repr still says "started".
    p.terminate()?;
    println!("TERMINATED: {p} {}", py_bool(p.is_alive()));

    p.join()?;
    println!("JOINED: {p} {}", py_bool(p.is_alive()));
    Ok(())
}
