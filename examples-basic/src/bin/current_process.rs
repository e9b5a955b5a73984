//! Which process am I? Names given, and names by default.
//!
//! Python twin: `python/current_process.py` (tutorial 003, section 3
//! "Determining the current process").
//!
//! ```console
//! $ cargo run -p examples-basic --bin current_process
//! worker 1 Starting
//! Process-3 Starting
//! my_service Starting
//! Process-3 Exiting
//! worker 1 Exiting
//! my_service Exiting
//! ```
//! The three `Starting` lines come first, in any order, and so do the two
//! workers' `Exiting` lines; `my_service` sleeps longest, so it exits last.
//!
//! Why `Process-3`? Every process object takes the next number of a counter
//! when it is made, named or not: `service` is number 1, `worker_1` number
//! 2, so the unnamed `worker_2` is `Process-3`.

use std::thread::sleep;
use std::time::Duration;

use shared::{Process, current_process};

fn worker() {
    let name = current_process().name().to_owned();
    println!("{name} Starting");
    sleep(Duration::from_secs(2));
    println!("{name} Exiting");
}

fn my_service() {
    let name = current_process().name().to_owned();
    println!("{name} Starting");
    sleep(Duration::from_secs(3));
    println!("{name} Exiting");
}

fn main() -> Result<(), shared::Error> {
    let mut service = Process::new(my_service).named("my_service");
    let mut worker_1 = Process::new(worker).named("worker 1");
    let mut worker_2 = Process::new(worker); // default name

    worker_1.start()?;
    worker_2.start()?;
    service.start()?;
    Ok(())
}
