//! Daemon children that log, joined before `main` returns.
//!
//! Python twin: `python/daemon_logging.py` (tutorial 000, third block
//! "マルチプロセスのデーモン化").
//!
//! ```console
//! $ cargo run -p examples-daemon --bin daemon_logging
//! Process-1: start
//! Process-1: 10
//! renamed worker2: start
//! renamed worker2: 10
//! renamed worker2: end
//! Process-1: end
//! ```
//! The first five lines come in any order; `Process-1: end` comes last,
//! after its 5 s sleep. Without the two `join`s the daemons would be
//! terminated when `main` returns, and `Process-1: end` would never appear.

use std::thread::sleep;
use std::time::Duration;

use log::{LevelFilter, debug};
use shared::Process;

fn worker1(i: i32) {
    debug!("start");
    debug!("{i}");
    sleep(Duration::from_secs(5));
    debug!("end");
}

fn worker2(i: i32) {
    debug!("start");
    debug!("{i}");
    debug!("end");
}

fn main() -> Result<(), shared::Error> {
    // Python: logging.basicConfig(level=logging.DEBUG, format="%(processName)s: %(message)s")
    shared::basic_config(LevelFilter::Debug);

    let i = 10;
    let mut p1 = Process::new(move || worker1(i)).daemon(true);

    let mut p2 = Process::new(move || worker2(i))
        .named("renamed worker2")
        .daemon(true);
    p1.start()?;
    p2.start()?;

    // Daemons are terminated when main exits, so wait for them explicitly.
    p1.join()?;
    p2.join()?;
    Ok(())
}
