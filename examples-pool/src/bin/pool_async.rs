//! Asynchronous results: `apply_async` with a timeout, `imap_unordered`,
//! and a worker's error coming back as a value.
//!
//! Python twin: `python/pool_async.py` (CPython's `Pool` API, beyond the
//! tutorials).
//!
//! ```console
//! $ cargo run -p examples-pool --bin pool_async
//! get(timeout=0.1) timed out; the task is still running
//! get() -> 1.0
//! imap_unordered yielded 0.3
//! imap_unordered yielded 0.6
//! imap_unordered yielded 0.9
//! the worker's error: bad input 3
//! successful() -> False
//! apply(nap, (0.0,)) -> 0.0
//! ```
//!
//! Differs from Python: the worker's error is not an exception raised
//! again, but `Err(Error::Remote { kind, message })` from `get`: the type
//! (`String`, where Python's is `ValueError`) and the text of the `Err`
//! that `fail` returned. A little longer than most sections: three
//! features, side by side with the twin.

use std::thread::sleep;
use std::time::Duration;

use shared::Error;
use shared::pool::Pool;
use shared::py::py_bool;

fn nap(seconds: f64) -> f64 {
    sleep(Duration::from_secs_f64(seconds));
    seconds
}

fn fail(n: i32) -> Result<i32, String> {
    Err(format!("bad input {n}"))
}

fn main() -> Result<(), Error> {
    let pool = Pool::new(3)?; // Python: with multiprocessing.Pool(3) as pool:

    // get(timeout) gives up waiting; the task itself keeps running.
    let result = pool.apply_async(nap, (1.0,))?;
    if let Err(Error::Timeout) = result.get_timeout(Duration::from_millis(100)) {
        println!("get(timeout=0.1) timed out; the task is still running");
    }
    println!("get() -> {:?}", result.get()?);

    // imap_unordered yields each result as soon as it is ready; the naps
    // are 0.3 s apart so the finishing order is not left to chance.
    for seconds in pool.imap_unordered(nap, [0.9, 0.3, 0.6])? {
        println!("imap_unordered yielded {:?}", seconds?);
    }

    // The worker's error travels back and comes out here, in get().
    let result = pool.apply_async(fail, (3,))?;
    if let Err(Error::Remote { message, .. }) = result.get() {
        println!("the worker's error: {message}");
    }
    println!("successful() -> {}", py_bool(result.successful()?));

    // The pool is still usable after a task failed.
    println!("apply(nap, (0.0,)) -> {:?}", pool.apply(nap, (0.0,))?);
    Ok(())
} // dropping the pool terminates it, as leaving the `with` block does
