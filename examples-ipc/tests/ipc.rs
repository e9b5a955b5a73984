//! Runs every section of the ipc chapter and checks what its header and
//! the README say it shows.

use testkit::twin;
use testkit::{normalize_pids, run_clean, sorted_lines};

/// Where `line` is in `lines`; panics if it is missing.
fn position(lines: &[&str], line: &str) -> usize {
    lines
        .iter()
        .position(|l| *l == line)
        .unwrap_or_else(|| panic!("{line:?} missing from {lines:?}"))
}

const QUEUE: &str = "\
[set_data] set queue data : Hello world
[get_data] get queue data : Hello world
";

#[test]
fn queue() {
    let run = run_clean(env!("CARGO_BIN_EXE_queue"));
    // get_data sleeps a second before it reads: the put is long done.
    assert_eq!(run.output, QUEUE);
    assert_eq!(run.output, twin!("queue"));
}

#[test]
fn pipe() {
    let run = run_clean(env!("CARGO_BIN_EXE_pipe"));
    // Parent and child print at the same time: any order.
    let lines = sorted_lines(&run.output);
    assert_eq!(
        lines,
        [
            "Received message : Hello World",
            "[child] send a message to pipe : Hello World",
        ]
    );
    assert_eq!(lines, sorted_lines(&twin!("pipe")));
}

const JOINABLE_QUEUE: &str = "\
tasks.join() returned: all 5 items are done
0 squared is 0
1 squared is 1
2 squared is 4
3 squared is 9
4 squared is 16
workers stopped with exit codes [0, 0]
";

#[test]
fn joinable_queue() {
    let run = run_clean(env!("CARGO_BIN_EXE_joinable_queue"));
    // join() returned only after all five task_done() calls, and the
    // sentinels stopped both workers cleanly.
    assert_eq!(run.output, JOINABLE_QUEUE);
    assert_eq!(run.output, twin!("joinable_queue"));
}

const SIMPLE_QUEUE: &str = "\
empty before: True
got alpha
got beta
got gamma
empty after: True
";

#[test]
fn simple_queue() {
    let run = run_clean(env!("CARGO_BIN_EXE_simple_queue"));
    // One producer: its items come out in the order it put them.
    assert_eq!(run.output, SIMPLE_QUEUE);
    assert_eq!(run.output, twin!("simple_queue"));
}

#[test]
fn event() {
    let run = run_clean(env!("CARGO_BIN_EXE_event"));
    let out = normalize_pids(&run.output);
    assert_eq!(sorted_lines(&out), sorted_lines(&twin!("event")));
    // The two children run at once, so only one order is certain: each
    // child prints that the event is set after main has said it sets it.
    let lines: Vec<&str> = out.lines().collect();
    let set = position(&lines, "main: setting the event");
    assert!(position(&lines, "block: e.is_set() -> True") > set, "{out}");
    assert!(
        position(&lines, "nonblock: e.is_set() -> True") > set,
        "{out}"
    );
    assert!(!out.contains("-> False"), "{out}");
}

testkit::chapter_checks!(skip_headers: []);
