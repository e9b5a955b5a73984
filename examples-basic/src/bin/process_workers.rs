//! The same two workers, as processes: a three-line change.
//!
//! Python twin: `python/process_workers.py` (tutorial 000, second block).
//!
//! ```console
//! $ cargo run -p examples-basic --bin process_workers
//! Process-1: start
//! Process-1: 10
//! Process-1: end
//! renamed worker2: start
//! renamed worker2: 10
//! renamed worker2: end
//! ```
//! The two children's lines may interleave in any order. There is no `join`,
//! yet all six lines appear: when `main` returns, the exit steps wait for
//! every non-daemon child, as Python does.
//!
//! Compared with `thread_workers.rs`, the three lines the tutorial changes
//! change here too (marked `// New!`): the log format names the process
//! instead of the thread, and the two threads become processes. Two more
//! differences are Rust's own: a thread runs as soon as it is spawned, while
//! a process waits for `start()`; and the thread version must join its
//! threads, which Rust's `main` would not wait for.

use log::LevelFilter;
use shared::Process;

fn worker1(i: i32) {
    log::debug!("start");
    log::debug!("{i}");
    log::debug!("end");
}

fn worker2(i: i32) {
    log::debug!("start");
    log::debug!("{i}");
    log::debug!("end");
}

fn main() -> Result<(), shared::Error> {
    shared::basic_config(LevelFilter::Debug); // New! "%(processName)s: %(message)s"
    let i = 10;
    let mut p1 = Process::new(move || worker1(i)); // New!
    let mut p2 = Process::new(move || worker2(i)).named("renamed worker2"); // New!
    p1.start()?;
    p2.start()?;
    Ok(()) // no join: the exit steps wait for both children
}
