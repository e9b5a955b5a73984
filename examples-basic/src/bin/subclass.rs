//! Subclassing `Process`, the Rust way: a type that implements `Run`.
//!
//! Python twin: `python/subclass.py` (tutorial 003, section 9 "Subclassing Process").
//!
//! ```console
//! $ cargo run -p examples-basic --bin subclass
//! In Worker-1
//! In Worker-5
//! In Worker-3
//! In Worker-4
//! In Worker-2
//! ```
//! One real run: the five lines come in any order.
//!
//! Rust has no subclasses. Python's `class Worker(Process)` overriding
//! `run()` becomes a type of our own implementing the trait `shared::Run`;
//! `into_process` wraps it in a `Process`. As in Python, the default name
//! comes from the type: `Worker-1` … `Worker-5`.
//!
//! Differs from Python: a `Worker` inherits no `name` field, so `run` asks
//! `current_process()` for the name the child was started with.

use shared::{Run, current_process};

struct Worker;

impl Run for Worker {
    fn run(&mut self) {
        println!("In {}", current_process().name());
    }
}

fn main() -> Result<(), shared::Error> {
    let mut jobs = Vec::new();
    for _ in 0..5 {
        let mut p = Worker.into_process(); // Python: Worker()
        p.start()?;
        jobs.push(p);
    }
    for j in &jobs {
        j.join()?;
    }
    Ok(())
}
