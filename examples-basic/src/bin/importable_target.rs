//! A target that lives in another module: the crate's library.
//!
//! Python twin: `python/importable_target.py`, with its target in
//! `python/importable_worker.py` (tutorial 003, section 2 "Importable target
//! functions").
//!
//! ```console
//! $ cargo run -p examples-basic --bin importable_target
//! Worker
//! Worker
//! Worker
//! Worker
//! Worker
//! ```
//! The target is `examples_basic::importable_worker::worker`, from
//! `src/lib.rs`. Python needs the target importable because a `spawn`ed
//! child imports it afresh; a Rust child is a `fork`ed copy that already
//! holds every function of the program, so any path will do (the library's
//! docs say more).

use examples_basic::importable_worker;
use shared::Process;

fn main() -> Result<(), shared::Error> {
    let mut jobs = Vec::new();
    for _ in 0..5 {
        let mut p = Process::new(importable_worker::worker);
        p.start()?;
        jobs.push(p);
    }
    Ok(())
}
