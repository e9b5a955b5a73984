//! A shared counter, four processes adding 1 to it 10 000 times each:
//! without a lock, then with one.
//!
//! Python twin: `python/lock.py` (beyond the tutorials: PyMOTW-3's
//! "Controlling Access to Resources").
//!
//! ```console
//! $ cargo run -p examples-ipc --bin lock
//! without the lock: [..] (at most 40000)
//! with the lock: 40000
//! ```
//! `counter.set(counter.get() + 1)` is a read, then a write: between the
//! two another process may write, and its update is lost, so the first
//! total is often less than 40 000, by a different amount each run (and
//! often exactly 40 000: four workers done in under a millisecond may not
//! overlap at all). With the lock held across the read and the write, no
//! other process can come between them, and the total is exact. A
//! `Barrier` starts the four together, so that they overlap when they can.

use shared::{Barrier, Error, Lock, Process, RawValue};

const TIMES: u32 = 10_000;

fn add_unlocked(counter: &RawValue<u32>, start: &Barrier) -> Result<(), Error> {
    start.wait(None)?; // all four begin together, so that they overlap
    for _ in 0..TIMES {
        counter.set(counter.get() + 1); // a read, then a write: another process may write between them
    }
    Ok(())
}

fn add_locked(counter: &RawValue<u32>, lock: &Lock, start: &Barrier) -> Result<(), Error> {
    start.wait(None)?;
    for _ in 0..TIMES {
        let _held = lock.lock(); // Python: `with lock:`, to the end of the loop's body
        counter.set(counter.get() + 1);
    }
    Ok(())
}

/// Start four workers running `work`, and join them.
fn run_four(work: impl Fn() -> Result<(), Error> + Clone + 'static) -> Result<(), Error> {
    let mut workers = Vec::new();
    for _ in 0..4 {
        let mut w = Process::new(work.clone());
        w.start()?;
        workers.push(w);
    }
    for w in &workers {
        w.join()?;
    }
    Ok(())
}

fn main() -> Result<(), Error> {
    let unlocked = RawValue::new(0u32)?;
    let start = Barrier::new(4, None)?;
    let (counter, barrier) = (unlocked.clone(), start.clone());
    run_four(move || add_unlocked(&counter, &barrier))?;
    println!("without the lock: {} (at most 40000)", unlocked.get());

    let locked = RawValue::new(0u32)?;
    let lock = Lock::new()?;
    let counter = locked.clone();
    run_four(move || add_locked(&counter, &lock, &start))?;
    println!("with the lock: {}", locked.get());
    Ok(())
}
