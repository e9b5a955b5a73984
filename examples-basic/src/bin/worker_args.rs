//! Passing an argument to each worker.
//!
//! Python twin: `python/worker_args.py` (tutorial 003, section 1 "multiprocessing basics").
//!
//! ```console
//! $ cargo run -p examples-basic --bin worker_args
//! Worker: 0
//! Worker: 1
//! Worker: 2
//! Worker: 4
//! Worker: 3
//! ```
//! One real run: the scheduler decides the order of the five lines.
//!
//! Python passes arguments as a tuple, `args=(i,)`; in Rust the target is a
//! closure that captures them. `move` copies `i` into the closure, and
//! `fork` copies the closure into the child.

use shared::Process;

fn worker(num: i32) {
    println!("Worker: {num}");
}

fn main() -> Result<(), shared::Error> {
    let mut jobs = Vec::new();
    for i in 0..5 {
        let mut p = Process::new(move || worker(i)); // Python: Process(target=worker, args=(i,))
        p.start()?;
        jobs.push(p);
    }
    Ok(())
}
