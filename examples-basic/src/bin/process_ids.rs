//! Each child prints its name, its argument, its parent's pid and its own.
//!
//! Python twin: `python/process_ids.py` (tutorial 004, first block).
//!
//! ```console
//! $ cargo run -p examples-basic --bin process_ids
//! name: process 0, argument : 0
//! parent pid:[..]  pid:[..]
//!
//! name: process 1, argument : 1
//! parent pid:[..]  pid:[..]
//!
//! ...
//! ```
//! Five blocks like these: one parent pid, `main`'s, and five child pids,
//! all different. Each `println!` is a line of its own, so lines of different
//! children may interleave; the order is up to the scheduler.

use std::os::unix::process::parent_id;

use shared::{Process, current_process};

fn worker(count: i32) {
    println!("name: {}, argument : {count}", current_process().name());
    println!("parent pid:{}  pid:{}", parent_id(), std::process::id()); // Python: os.getppid(), os.getpid()
    println!();
}

fn main() -> Result<(), shared::Error> {
    for i in 0..5 {
        let mut p = Process::new(move || worker(i)).named(format!("process {i}"));
        p.start()?;
    }
    Ok(())
}
