//! A `JoinableQueue`: workers call `task_done`, and `join` on the queue
//! returns once every item put is done.
//!
//! Python twin: `python/joinable_queue.py` (tutorial 004, "Process
//! Communication", where `JoinableQueue` is named but not shown).
//!
//! ```console
//! $ cargo run -p examples-ipc --bin joinable_queue
//! tasks.join() returned: all 5 items are done
//! 0 squared is 0
//! …
//! workers stopped with exit codes [0, 0]
//! ```
//! A little over the usual length: it mirrors its twin line for line.

use shared::Process;
use shared::ipc::{JoinableQueue, Queue};
use shared::py::py_exitcodes;

type Tasks = JoinableQueue<Option<i64>>; // `None` is the sentinel: no more work
type Results = Queue<(i64, i64)>;

fn worker(tasks: &Tasks, results: &Results) -> Result<(), shared::Error> {
    while let Some(n) = tasks.get()? {
        results.put((n, n * n))?;
        tasks.task_done()?; // one call for each item taken with get()
    }
    tasks.task_done() // the sentinel was taken with get() too
}

fn main() -> Result<(), shared::Error> {
    let tasks = Tasks::new()?;
    let results = Results::new()?;
    let mut workers = Vec::new();
    for _ in 0..2 {
        let (tasks, results) = (tasks.clone(), results.clone());
        let mut w = Process::new(move || worker(&tasks, &results));
        w.start()?;
        workers.push(w);
    }

    for n in 0..5 {
        tasks.put(Some(n))?;
    }
    // join() returns once task_done() has been called for every item put.
    tasks.join();
    println!("tasks.join() returned: all 5 items are done");

    // Which worker squared which number is up to the scheduler; sorting
    // prints the results in a fixed order.
    let mut squares = (0..5)
        .map(|_| results.get())
        .collect::<Result<Vec<_>, _>>()?;
    squares.sort();
    for (n, square) in squares {
        println!("{n} squared is {square}");
    }

    for _ in &workers {
        tasks.put(None)?; // one sentinel per worker
    }
    for w in &workers {
        w.join()?;
    }
    let codes = workers.iter().map(Process::exitcode);
    println!("workers stopped with exit codes {}", py_exitcodes(codes));
    Ok(())
}
