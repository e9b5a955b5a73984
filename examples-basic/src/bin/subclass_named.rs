//! A runnable type that carries its own name and arguments.
//!
//! Python twin: `python/subclass_named.py` (tutorial 004, class block).
//!
//! ```console
//! $ cargo run -p examples-basic --bin subclass_named
//! name: process 3, argument: 3
//! parent pid: [..], pid: [..]
//! name: process 4, argument: 4
//! parent pid: [..], pid: [..]
//! ...
//! ```
//! One real run, cut short: lines of different children may interleave in
//! any order. One parent pid, `main`'s; five child pids.
//!
//! Python's `__init__(self, name, args)` becomes the struct's fields, and
//! `Run::name` hands the name to the process (Python: `super().__init__(name=name)`).
//! The tutorial wrote `Worker(name="process %i" % args(i,))`, which fails;
//! the twin and this file pass the name and the arguments separately.

use std::os::unix::process::parent_id;

use shared::Run;

struct Worker {
    name: String,
    args: (i32,),
}

impl Run for Worker {
    fn name(&self) -> Option<String> {
        Some(self.name.clone())
    }

    fn run(&mut self) {
        println!("name: {}, argument: {}", self.name, self.args.0);
        println!("parent pid: {}, pid: {}", parent_id(), std::process::id());
    }
}

fn main() -> Result<(), shared::Error> {
    for i in 0..5 {
        let name = format!("process {i}");
        let mut p = Worker { name, args: (i,) }.into_process();
        p.start()?;
    }
    Ok(())
}
