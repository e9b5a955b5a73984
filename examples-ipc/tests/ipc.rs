//! Runs every section of the ipc chapter and checks what its header and
//! the README say it shows.

use std::time::Duration;

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

#[test]
fn lock() {
    let run = run_clean(env!("CARGO_BIN_EXE_lock"));
    let lines = run.lines();
    assert_eq!(lines.len(), 2, "{}", run.output);
    // Without the lock: some total no greater than 40 000 (how much less
    // is up to the scheduler: printed, never pinned).
    let unlocked: u32 = lines[0]
        .strip_prefix("without the lock: ")
        .and_then(|rest| rest.strip_suffix(" (at most 40000)"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", lines[0]));
    assert!(unlocked <= 40_000, "{unlocked}");
    assert_eq!(lines[1], "with the lock: 40000");
    let twin = twin!("lock");
    assert_eq!(twin.lines().nth(1), Some("with the lock: 40000"));
}

#[test]
fn condition() {
    let run = run_clean(env!("CARGO_BIN_EXE_condition"));
    let lines = run.lines();
    assert_eq!(sorted_lines(&run.output), sorted_lines(&twin!("condition")));
    // Every stage-2 line after stage 1's, and stage 1 starts only once
    // both stage-2 processes wait.
    let done = position(&lines, "s1 done and ready for stage 2");
    for i in [1, 2] {
        assert!(
            position(&lines, &format!("Starting stage_2[{i}]")) < position(&lines, "Starting s1")
        );
        assert!(
            position(&lines, &format!("stage_2[{i}] running")) > done,
            "{}",
            run.output
        );
    }
}

#[test]
fn semaphore() {
    let run = run_clean(env!("CARGO_BIN_EXE_semaphore"));
    let lines = run.lines();
    assert_eq!(lines.len(), 12, "{}", run.output);
    // Replay the lines: the count inside never passes 2, each line's count
    // is the replayed one, and each worker enters once, then leaves once.
    let mut inside = 0;
    let mut state = std::collections::HashMap::new();
    for line in &lines {
        let (name, rest) = line.split_once(' ').unwrap();
        let entering = rest.starts_with("enters");
        inside += if entering { 1 } else { -1 };
        assert!((0..=2).contains(&inside), "{}", run.output);
        assert!(
            rest.ends_with(&format!("({inside} inside)")),
            "{line} in {}",
            run.output
        );
        let was = state.insert(name.to_owned(), entering);
        assert_eq!(
            was,
            if entering { None } else { Some(true) },
            "{}",
            run.output
        );
    }
    assert_eq!(state.len(), 6);
    assert!(
        lines.iter().filter(|l| l.contains("(2 inside)")).count() >= 1,
        "two at once, at times"
    );
    assert_eq!(twin!("semaphore").lines().count(), 12);
}

#[test]
fn value_array() {
    let run = run_clean(env!("CARGO_BIN_EXE_value_array"));
    assert_eq!(
        run.output,
        "3.1415927\n[0, -1, -2, -3, -4, -5, -6, -7, -8, -9]\n"
    );
    assert_eq!(run.output, twin!("value_array"));
}

const LISTENER_CLIENT: &str = "\
connection accepted from 127.0.0.1
(2.25, None, 'junk')
b'hello'
8
[42, 1729, 0, 0, 0]
client with the wrong key: AuthenticationError: digest sent was rejected
listener: AuthenticationError: digest received was wrong
";

#[test]
fn listener_client() {
    let run = run_clean(env!("CARGO_BIN_EXE_listener_client"));
    // The listener prints before it sends, the client after it receives;
    // the wrong key's client line before the listener's, which joins it first.
    assert_eq!(run.output, LISTENER_CLIENT);
    assert_eq!(run.output, twin!("listener_client"));
}

const TALK_TO_PYTHON: &str = "\
client got: [('apples', 3), ('pears', 5)]
client got: b'bytes from the listener'
listener got: {'apples': 3, 'pears': 5, 'total': 8}
listener got: b'bytes from the client'
";

#[test]
fn talk_to_python() {
    let exe = env!("CARGO_BIN_EXE_talk_to_python");
    // The transcript is what the twin prints alone, both ends in Python.
    assert_eq!(twin!("talk_to_python"), TALK_TO_PYTHON);
    if testkit::python().is_some() {
        // The client's two lines are Python's own; the listener's, Rust's.
        let run = run_clean(exe);
        assert_eq!(run.output, TALK_TO_PYTHON);
    } else {
        eprintln!("talk_to_python: python3 not found; only the run without it is checked");
    }
    // Without python3 on the PATH, the section says so and shows the transcript.
    let run = testkit::run_with(
        exe,
        &[],
        &[("PATH", "/nonexistent")],
        Duration::from_secs(60),
    );
    assert!(run.status.success(), "{run:?}");
    assert_eq!(
        run.output,
        format!("python3 not found; when there was one, the two ends printed:\n{TALK_TO_PYTHON}")
    );
}

const IPC_CHANNEL: &str = "\
ipc-channel: asked 3, got 9
ipc-channel: asked 4, got 16
ipc-channel: the child got 2 questions
pipe: asked 3, got 9
pipe: asked 4, got 16
pipe: the child got 2 questions
";

#[test]
fn ipc_channel() {
    let run = run_clean(env!("CARGO_BIN_EXE_ipc_channel"));
    // One question at a time, each answered before the next: one order.
    assert_eq!(run.output, IPC_CHANNEL);
    // The twin's counterpart of ipc-channel is a listener's connection.
    let twin = twin!("ipc_channel").replace("connection:", "ipc-channel:");
    assert_eq!(run.output, twin);
}

const SHARED_MEMORY: &str = "\
the child sees [22, 33, 44, 55, 100]
the parent reads b'howdy'
python, attached by name, sees b'howdy'
the list after the child: ['HOWDY', 43, 0.5, True, None]
";

#[test]
fn shared_memory() {
    let exe = env!("CARGO_BIN_EXE_shared_memory");
    if testkit::python().is_some() {
        // The child's write is the parent's read: one block, by name.
        let run = run_clean(exe);
        assert_eq!(run.output, SHARED_MEMORY);
        assert_eq!(run.output, twin!("shared_memory"));
    }
    // Without python3 the third line says so; the rest is as before.
    let run = testkit::run_with(
        exe,
        &[],
        &[("PATH", "/nonexistent")],
        Duration::from_secs(60),
    );
    assert!(run.status.success(), "{run:?}");
    let without = SHARED_MEMORY.replace(
        "python, attached by name, sees b'howdy'",
        "python3 not found: no Python to attach the block by name",
    );
    // Every block unlinked by the program: no warning at its exit (the
    // output holds stderr too).
    assert_eq!(run.output, without);
}

testkit::chapter_checks!(skip_headers: []);
