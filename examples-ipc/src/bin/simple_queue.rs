//! The minimal queue: `put`, `get` and `empty` across processes.
//!
//! Python twin: `python/simple_queue.py` (tutorial 004, "Process
//! Communication", where `SimpleQueue` is named but not shown).
//!
//! ```console
//! $ cargo run -p examples-ipc --bin simple_queue
//! empty before: True
//! got alpha
//! got beta
//! got gamma
//! empty after: True
//! ```
//! Items come out in the order the producer put them. `None` tells the
//! reader there is nothing more, so each item is an `Option<String>`.

use shared::Process;
use shared::ipc::SimpleQueue;
use shared::py::py_bool;

fn producer(q: &SimpleQueue<Option<String>>) -> Result<(), shared::Error> {
    for word in ["alpha", "beta", "gamma"] {
        q.put(Some(word.to_owned()))?;
    }
    q.put(None) // tells the reader there is nothing more
}

fn main() -> Result<(), shared::Error> {
    let q = SimpleQueue::new()?;
    println!("empty before: {}", py_bool(q.empty()?));

    let child_q = q.clone();
    let mut p = Process::new(move || producer(&child_q));
    p.start()?;

    // get() blocks until an item arrives; items come out in the order put.
    while let Some(item) = q.get()? {
        println!("got {item}");
    }

    p.join()?;
    println!("empty after: {}", py_bool(q.empty()?));
    q.close();
    Ok(())
}
