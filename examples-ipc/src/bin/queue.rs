//! Passing a message from one child to another through a `Queue`.
//!
//! Python twin: `python/queue.py` (tutorial 004, "Process Communication").
//!
//! ```console
//! $ cargo run -p examples-ipc --bin queue
//! [set_data] set queue data : Hello world
//! [get_data] get queue data : Hello world
//! ```
//! The second line comes about a second after the first: `get_data` sleeps
//! before it reads, and the message waits in the queue meanwhile.
//!
//! Differs from Python: the queue is cloned into each closure (Python
//! passes it in `args`); both clones are handles on the same channel, and
//! `fork` gives each child its own copy of the handle.

use std::thread::sleep;
use std::time::Duration;

use shared::ipc::Queue;
use shared::{Process, current_process};

fn set_data(q: &Queue<String>) -> Result<(), shared::Error> {
    let p = current_process();
    let msg = "Hello world";
    q.put(msg.to_owned())?;
    println!("[{}] set queue data : {msg}", p.name());
    Ok(())
}

fn get_data(q: &Queue<String>) -> Result<(), shared::Error> {
    sleep(Duration::from_secs(1));
    let p = current_process();
    println!("[{}] get queue data : {}", p.name(), q.get()?);
    Ok(())
}

fn main() -> Result<(), shared::Error> {
    let queue = Queue::new()?;

    let q = queue.clone();
    let mut p1 = Process::new(move || set_data(&q)).named("set_data");
    p1.start()?;

    let q = queue.clone();
    let mut p2 = Process::new(move || get_data(&q)).named("get_data");
    p2.start()?;

    p1.join()?;
    p2.join()?;
    Ok(())
}
