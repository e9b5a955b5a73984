//! Waiting on an `Event`: one child without a timeout, one with.
//!
//! Python twin: `python/event.py` (tutorial 004, "Process Event", whose
//! example the tutorial omits).
//!
//! ```console
//! $ cargo run -p examples-ipc --bin event
//! block: waiting
//! nonblock: waiting at most 1.0 s at a time
//! nonblock: wait(1.0) timed out
//! main: setting the event
//! block: e.is_set() -> True
//! nonblock: e.is_set() -> True
//! ```
//! The two `waiting` lines, and the two `is_set` lines, come in either
//! order: both children run at once.

use std::thread::sleep;
use std::time::Duration;

use shared::ipc::Event;
use shared::py::py_bool;
use shared::{Process, current_process};

fn wait_for_event(e: &Event) {
    let name = current_process().name().to_owned();
    println!("{name}: waiting");
    e.wait(); // no timeout: blocks until the event is set
    println!("{name}: e.is_set() -> {}", py_bool(e.is_set()));
}

fn wait_for_event_timeout(e: &Event, t: f64) {
    let name = current_process().name().to_owned();
    println!("{name}: waiting at most {t:.1} s at a time");
    // wait_timeout returns false when it gives up, true once the event is set.
    while !e.wait_timeout(Duration::from_secs_f64(t)) {
        println!("{name}: wait({t:.1}) timed out");
    }
    println!("{name}: e.is_set() -> {}", py_bool(e.is_set()));
}

fn main() -> Result<(), shared::Error> {
    let e = Event::new()?;
    let e1 = e.clone();
    let mut w1 = Process::new(move || wait_for_event(&e1)).named("block");
    w1.start()?;
    let e2 = e.clone();
    let mut w2 = Process::new(move || wait_for_event_timeout(&e2, 1.0)).named("nonblock");
    w2.start()?;

    // nonblock times out once (at 1 s) before main sets the event at 1.5 s.
    sleep(Duration::from_secs_f64(1.5));
    println!("main: setting the event");
    e.set();
    w1.join()?;
    w2.join()?;
    Ok(())
}
