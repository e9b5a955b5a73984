//! Watching the machinery: `log_to_stderr` at DEBUG.
//!
//! Python twin: `python/log_to_stderr.py` (tutorial 003, section 8 "log_to_stderr").
//!
//! ```console
//! $ cargo run -p examples-basic --bin log_to_stderr
//! [INFO/Process-1] child process calling self.run()
//! Doing some work
//! [INFO/Process-1] process shutting down
//! [DEBUG/Process-1] running all "atexit" finalizers with priority >= 0
//! [DEBUG/Process-1] running the remaining "atexit" finalizers
//! [INFO/Process-1] process exiting with exitcode 0
//! [INFO/MainProcess] process shutting down
//! [DEBUG/MainProcess] running all "atexit" finalizers with priority >= 0
//! [DEBUG/MainProcess] running the remaining "atexit" finalizers
//! ```
//! `Doing some work` is stdout, the rest stderr. The last three lines come
//! after `main` returns: `shared` registers its exit steps with C's
//! `atexit`, as CPython registers them with Python's.
//!
//! The tutorial (Python 3.6 on Windows) shows `Doing some work` above all
//! the log lines; CPython 3.11 on Linux prints it where this program does.
//!
//! CPython 3.13 moves the child's `process exiting with exitcode 0` up,
//! before its `process shutting down`; this program follows 3.11.

use log::LevelFilter;
use shared::Process;

fn worker() {
    println!("Doing some work");
}

fn main() -> Result<(), shared::Error> {
    shared::log_to_stderr(LevelFilter::Debug); // Python: log_to_stderr(logging.DEBUG)
    let mut p = Process::new(worker);
    p.start()?;
    p.join()?;
    Ok(())
}
