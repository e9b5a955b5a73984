//! A pool of three processes doubles ten numbers with `map`.
//!
//! Python twin: `python/pool_map.py` (tutorial 001, "Pool").

use shared::pool::Pool;

fn doubler(number: u64) -> u64 {
    let result = number * 2;
    let proc = std::process::id();
    println!("{number} doubled to {result} by process id: {proc}");
    result
}

fn main() -> Result<(), shared::Error> {
    let results = {
        let p = Pool::new(3)?;
        p.map(doubler, 0..10)?
    }; // the pool is dropped here: it terminates, as leaving `with` does
    println!("map returned {results:?}");
    Ok(())
}
