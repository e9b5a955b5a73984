//! Six workers, a semaphore of two: at most two inside at once.
//!
//! Python twin: `python/semaphore.py` (beyond the tutorials: PyMOTW-3's
//! "Controlling Concurrent Access to Resources").
//!
//! ```console
//! $ cargo run -p examples-ipc --bin semaphore
//! [..] enters (1 inside)
//! ...
//! [..] leaves (0 inside)
//! ```
//! Twelve lines: each worker enters and leaves once, in an order the
//! scheduler picks. The count of those inside, kept in a shared `Value`
//! and printed under its lock, never passes 2: a third worker waits in
//! `acquire` until one of the two inside releases its unit.

use std::thread::sleep;
use std::time::Duration;

use shared::{Error, Process, Semaphore, Value, current_process};

fn worker(sem: &Semaphore, inside: &Value<i32>) {
    let name = current_process().name().to_owned();
    let _unit = sem.lock(); // Python: `with sem:`
    {
        let _held = inside.get_lock().lock();
        inside.set(inside.get() + 1);
        println!("{name} enters ({} inside)", inside.get());
    }
    sleep(Duration::from_millis(100)); // the work, done holding a unit
    let _held = inside.get_lock().lock();
    inside.set(inside.get() - 1);
    println!("{name} leaves ({} inside)", inside.get());
}

fn main() -> Result<(), Error> {
    let sem = Semaphore::new(2)?;
    let inside = Value::new(0i32)?;
    let mut jobs = Vec::new();
    for i in 0..6 {
        let (sem, inside) = (sem.clone(), inside.clone());
        let mut j = Process::new(move || worker(&sem, &inside)).named(i.to_string());
        j.start()?;
        jobs.push(j);
    }
    for j in &jobs {
        j.join()?;
    }
    Ok(())
}
