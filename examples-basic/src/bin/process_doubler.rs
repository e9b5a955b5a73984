//! One process per number, each doubling it.
//!
//! Python twin: `python/process_doubler.py` (tutorial 001, "Process").
//!
//! ```console
//! $ cargo run -p examples-basic --bin process_doubler
//! 0 doubled to 0 by process id: [..]
//! 1 doubled to 2 by process id: [..]
//! 2 doubled to 4 by process id: [..]
//! ```
//! Three different pids, one per process; the lines come in any order.
//! `examples-pool`'s `pool_map` does the same work with a pool of three
//! workers that take turns.

use shared::Process;

fn doubler(number: i32) {
    let result = number * 2;
    let proc = std::process::id(); // Python: os.getpid()
    println!("{number} doubled to {result} by process id: {proc}");
}

fn main() -> Result<(), shared::Error> {
    let numbers = [0, 1, 2];
    let mut procs = Vec::new();

    for number in numbers {
        let mut proc = Process::new(move || doubler(number));
        proc.start()?;
        procs.push(proc);
    }

    for proc in &procs {
        proc.join()?;
    }
    Ok(())
}
