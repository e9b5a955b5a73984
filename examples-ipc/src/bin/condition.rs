//! A two-stage pipeline: stage-2 processes wait on a condition until the
//! stage-1 process notifies them all.
//!
//! Python twin: `python/condition.py` (beyond the tutorials: PyMOTW-3's
//! "Synchronizing Operations").
//!
//! ```console
//! $ cargo run -p examples-ipc --bin condition
//! Starting stage_2[1]
//! Starting stage_2[2]
//! Starting s1
//! s1 done and ready for stage 2
//! stage_2[1] running
//! stage_2[2] running
//! ```
//! The two `Starting stage_2` lines come in either order, and so do the
//! two `running` lines; every `running` line comes after stage 1's `done`.
//! Each stage-2 process says it waits (a semaphore, released while it
//! holds the condition's lock) before `main` starts stage 1: PyMOTW sleeps
//! a second there instead, which usually, not always, is long enough.

use shared::sync::Block;
use shared::{Condition, Error, Process, Semaphore, current_process};

/// Do the first stage of the work, then notify stage 2.
fn stage_1(cond: &Condition) -> Result<(), Error> {
    let name = current_process().name().to_owned();
    println!("Starting {name}");
    let _held = cond.lock(); // Python: `with cond:`
    println!("{name} done and ready for stage 2");
    cond.notify_all()
}

/// Wait for stage 1 to say it is done.
fn stage_2(cond: &Condition, ready: &Semaphore) -> Result<(), Error> {
    let name = current_process().name().to_owned();
    println!("Starting {name}");
    let _held = cond.lock();
    ready.release()?; // "I am waiting": main starts stage 1 only then
    cond.wait()?;
    println!("{name} running");
    Ok(())
}

fn main() -> Result<(), Error> {
    let condition = Condition::new()?;
    let ready = Semaphore::new(0)?;
    let cond = condition.clone();
    let mut s1 = Process::new(move || stage_1(&cond)).named("s1");
    let mut s2_clients = Vec::new();
    for i in 1..=2 {
        let (cond, ready) = (condition.clone(), ready.clone());
        let client = Process::new(move || stage_2(&cond, &ready)).named(format!("stage_2[{i}]"));
        s2_clients.push(client);
    }
    for c in &mut s2_clients {
        c.start()?;
    }
    for _ in &s2_clients {
        ready.acquire(Block::Forever); // PyMOTW sleeps 1 s here instead
    }
    s1.start()?;
    s1.join()?;
    for c in &s2_clients {
        c.join()?;
    }
    Ok(())
}
