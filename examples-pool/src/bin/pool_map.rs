//! A pool of three processes doubles ten numbers with `map`.
//!
//! Python twin: `python/pool_map.py` (tutorial 001, "Pool").
//!
//! ```console
//! $ cargo run -p examples-pool --bin pool_map
//! 0 doubled to 0 by process id: [..]
//! 2 doubled to 4 by process id: [..]
//! 1 doubled to 2 by process id: [..]
//! …
//! 9 doubled to 18 by process id: [..]
//! map returned [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]
//! ```
//! The workers print in whatever order they run, and which of the three
//! pids doubles which number changes from run to run; `map` still returns
//! the results in input order.
//!
//! `doubler` reaches the workers as the address of a small function the
//! pool compiles for it: the workers are forks of this program, so that
//! address means the same code there. Nothing is pickled.

use shared::pool::Pool;

fn doubler(number: u64) -> u64 {
    let result = number * 2;
    let proc = std::process::id();
    println!("{number} doubled to {result} by process id: {proc}");
    result
}

fn main() -> Result<(), shared::Error> {
    let results = {
        let p = Pool::new(3)?; // Python: with Pool(3) as p:
        p.map(doubler, 0..10)?
    }; // the pool is dropped here, which terminates it, as leaving `with` does
    // Workers print in any order, but map returns results in input order.
    println!("map returned {results:?}");
    Ok(())
}
