//! Five children, with `multiprocessing`'s own log at DEBUG.
//!
//! Python twin: `python/logging_workers.py` (tutorial 004, logging block).
//!
//! ```console
//! $ cargo run -p examples-basic --bin logging_workers
//! [INFO/Process-1] child process calling self.run()
//! count: 0
//! [INFO/Process-1] process shutting down
//! [DEBUG/Process-1] running all "atexit" finalizers with priority >= 0
//! [DEBUG/Process-1] running the remaining "atexit" finalizers
//! [INFO/Process-1] process exiting with exitcode 0
//! ...
//! [INFO/MainProcess] process shutting down
//! [DEBUG/MainProcess] running all "atexit" finalizers with priority >= 0
//! [INFO/MainProcess] calling join() for process Process-5
//! ...
//! [DEBUG/MainProcess] running the remaining "atexit" finalizers
//! ```
//! One real run, cut short. Each child's six lines come in this order, but
//! the children's lines interleave as the scheduler decides. `main` never
//! joins: at exit it logs `calling join() for process Process-k` for each
//! child still running then, so how many such lines appear depends on timing.

use log::LevelFilter;
use shared::Process;

fn worker(count: i32) {
    println!("count: {count}");
}

fn main() -> Result<(), shared::Error> {
    shared::log_to_stderr(LevelFilter::Warn); // Python: log_to_stderr()
    log::set_max_level(LevelFilter::Debug); // Python: get_logger().setLevel(logging.DEBUG)

    for i in 0..5 {
        let mut p = Process::new(move || worker(i));
        p.start()?;
    }
    Ok(())
}
