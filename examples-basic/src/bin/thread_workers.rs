//! The "before" picture: two threads that log with their names.
//!
//! Python twin: `python/thread_workers.py` (tutorial 000, first block).
//!
//! ```console
//! $ cargo run -p examples-basic --bin thread_workers
//! Thread-1 (worker1): start
//! Thread-1 (worker1): 10
//! Thread-1 (worker1): end
//! renamed worker2: start
//! renamed worker2: 10
//! renamed worker2: end
//! ```
//! The threads' lines may interleave in any order. `process_workers.rs` is
//! this program with processes: three lines change.
//!
//! Differs from Python: Rust neither names an unnamed thread nor waits for
//! threads when `main` returns, so `t1` gets Python's default name by hand
//! and `main` joins both.

use std::io::Write;
use std::thread;

use log::LevelFilter;

fn worker1(i: i32) {
    log::debug!("start");
    log::debug!("{i}");
    log::debug!("end");
}

fn worker2(i: i32) {
    log::debug!("start");
    log::debug!("{i}");
    log::debug!("end");
}

/// Python's `logging.basicConfig(level=level, format="%(threadName)s: %(message)s")`.
fn basic_config(level: LevelFilter) {
    env_logger::Builder::new()
        .format(|buf, record| {
            let name = thread::current().name().unwrap_or("<unnamed>").to_owned();
            writeln!(buf, "{name}: {}", record.args())
        })
        .filter_level(level)
        .init();
}

fn main() -> Result<(), shared::Error> {
    basic_config(LevelFilter::Debug);
    let i = 10;
    let named_thread = |name: &str| thread::Builder::new().name(name.to_owned());
    // `spawn` is Python's `Thread(...)` and `start()` in one step.
    let t1 = named_thread("Thread-1 (worker1)").spawn(move || worker1(i))?;
    let t2 = named_thread("renamed worker2").spawn(move || worker2(i))?;
    // A thread that panicked has printed why already; like Python, carry on.
    let _ = t1.join();
    let _ = t2.join();
    Ok(())
}
