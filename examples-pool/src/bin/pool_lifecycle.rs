//! The lifecycle of a pool: `close`, `join` and `terminate`.
//!
//! Python twin: `python/pool_lifecycle.py` (tutorial 001, the notes on
//! close/join/terminate).
//!
//! ```console
//! $ cargo run -p examples-pool --bin pool_lifecycle
//! apply_async after close: Pool not running
//! ready after close: [False, False, False, False]
//! ready after join: [True, True, True, True]
//! results: [0, 1, 4, 9]
//! ready after terminate: [False, False, False, False]
//! terminate took less than 10 s: True
//! map after terminate: Pool not running
//! ```
//!
//! Differs from Python: using a closed pool is an `Err` whose text is the
//! message of CPython's `ValueError`; `slow_square` has no default for
//! `seconds`, so `map` gets a closure that supplies it. Longer than most
//! sections: two pools, one closed and joined, one terminated, as in the twin.

use std::thread::sleep;
use std::time::{Duration, Instant};

use shared::pool::Pool;
use shared::py::{py_bool, py_bools};

fn slow_square(n: u64, seconds: f64) -> u64 {
    sleep(Duration::from_secs_f64(seconds));
    n * n
}

fn main() -> Result<(), shared::Error> {
    let pool = Pool::new(2)?;
    let results = (0..4)
        .map(|n| pool.apply_async(slow_square, (n, 0.5)))
        .collect::<Result<Vec<_>, _>>()?;

    // close(): no new work is accepted, but queued work still runs.
    pool.close();
    if let Err(e) = pool.apply_async(slow_square, (4, 0.5)) {
        println!("apply_async after close: {e}");
    }
    println!(
        "ready after close: {}",
        py_bools(results.iter().map(|r| r.ready()))
    );

    // join(): waits until the workers have finished everything queued.
    pool.join()?;
    println!(
        "ready after join: {}",
        py_bools(results.iter().map(|r| r.ready()))
    );
    let squares = results
        .iter()
        .map(|r| r.get())
        .collect::<Result<Vec<_>, _>>()?;
    println!("results: {squares:?}");

    // terminate(): stops the workers at once; queued and running work is lost.
    let pool = Pool::new(2)?;
    let results = (0..4)
        .map(|n| pool.apply_async(slow_square, (n, 10.0)))
        .collect::<Result<Vec<_>, _>>()?;
    let start = Instant::now();
    pool.terminate()?;
    pool.join()?;
    println!(
        "ready after terminate: {}",
        py_bools(results.iter().map(|r| r.ready()))
    );
    let quick = start.elapsed() < Duration::from_secs(10);
    println!("terminate took less than 10 s: {}", py_bool(quick));
    if let Err(e) = pool.map(|n: u64| slow_square(n, 0.5), 0..4) {
        println!("map after terminate: {e}");
    }
    Ok(())
}
