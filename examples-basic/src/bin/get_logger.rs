//! The same program as `log_to_stderr`, with the level set at INFO.
//!
//! Python twin: `python/get_logger.py` (tutorial 003, section 8 "log_to_stderr",
//! second block).
//!
//! ```console
//! $ cargo run -p examples-basic --bin get_logger
//! [INFO/Process-1] child process calling self.run()
//! Doing some work
//! [INFO/Process-1] process shutting down
//! [INFO/Process-1] process exiting with exitcode 0
//! [INFO/MainProcess] process shutting down
//! ```
//! The four DEBUG lines of `log_to_stderr` are gone.
//!
//! Differs from Python: there is no logger object to get; `log` has one
//! global logger, and `log::set_max_level` sets its level, as
//! `get_logger().setLevel(...)` does in Python.
//!
//! CPython 3.13 moves the child's `process exiting with exitcode 0` up,
//! before its `process shutting down`; this program follows 3.11.

use log::LevelFilter;
use shared::Process;

fn worker() {
    println!("Doing some work");
}

fn main() -> Result<(), shared::Error> {
    // Python's `log_to_stderr()` sets no level: records pass from WARNING up.
    shared::log_to_stderr(LevelFilter::Warn);
    log::set_max_level(LevelFilter::Info); // Python: get_logger().setLevel(logging.INFO)
    let mut p = Process::new(worker);
    p.start()?;
    p.join()?;
    Ok(())
}
