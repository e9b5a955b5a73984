//! The simplest start: five processes, each printing `Worker`.
//!
//! Python twin: `python/workers.py` (tutorial 003, section 1 "multiprocessing basics").
//!
//! ```console
//! $ cargo run -p examples-basic --bin workers
//! Worker
//! Worker
//! Worker
//! Worker
//! Worker
//! ```
//! `Process::new` takes the function to run in the child (Python's
//! `target=`); `start` forks the child, which runs it and exits. `main` never
//! joins, yet it does not return to the shell before the five children are
//! done: the exit steps wait for them, as Python's do.

use shared::Process;

fn worker() {
    println!("Worker");
}

fn main() -> Result<(), shared::Error> {
    let mut jobs = Vec::new();
    for _ in 0..5 {
        let mut p = Process::new(worker);
        p.start()?;
        jobs.push(p);
    }
    Ok(())
}
