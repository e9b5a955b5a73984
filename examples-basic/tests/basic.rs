//! Runs every section of the basic chapter and checks what its header and
//! the README say it shows, against the Python twin's transcript.
//!
//! Where the scheduler decides the order of lines we compare sorted lines,
//! and check only the orders that are guaranteed: a process's own lines in
//! program order, and what waiting (`join`, `sleep`) puts in order.

use std::collections::HashSet;

use testkit::twin;
use testkit::{normalize_pids, run_clean, sorted_lines};

/// `text`'s lines that contain `needle`, in order.
fn lines_with<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.contains(needle)).collect()
}

/// The pids in `parent pid:P  pid:C`-style lines: (parents, children).
fn parent_and_child_pids(text: &str) -> (Vec<u32>, Vec<u32>) {
    let numbers = |line: &str| -> Vec<u32> {
        line.split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect()
    };
    lines_with(text, "parent pid")
        .into_iter()
        .map(|line| match numbers(line)[..] {
            [parent, child] => (parent, child),
            _ => panic!("not a pid line: {line}"),
        })
        .unzip()
}

/// One parent pid for all five children, and five different child pids.
fn assert_one_parent_five_children(text: &str) {
    let (parents, children) = parent_and_child_pids(text);
    assert_eq!(parents.len(), 5, "{text}");
    assert!(parents.iter().all(|&p| p == parents[0]), "{text}");
    let distinct: HashSet<u32> = children.iter().copied().collect();
    assert_eq!(distinct.len(), 5, "{text}");
    assert!(!distinct.contains(&parents[0]), "{text}");
}

const WORKERS_10: &str = "\
Process-1: start
Process-1: 10
Process-1: end
renamed worker2: start
renamed worker2: 10
renamed worker2: end
";

#[test]
fn thread_workers() {
    let run = run_clean(env!("CARGO_BIN_EXE_thread_workers"));
    let want = WORKERS_10.replace("Process-1", "Thread-1 (worker1)");
    assert_eq!(sorted_lines(&run.output), sorted_lines(&want));
    assert_eq!(
        sorted_lines(&run.output),
        sorted_lines(&twin!("thread_workers"))
    );
    // Each thread's own lines come in program order.
    for name in ["Thread-1 (worker1):", "renamed worker2:"] {
        let own = lines_with(&run.output, name);
        assert_eq!(own, lines_with(&want, name));
    }
}

#[test]
fn process_workers() {
    let run = run_clean(env!("CARGO_BIN_EXE_process_workers"));
    // No join, yet all six lines: main waits for its children at exit.
    assert_eq!(sorted_lines(&run.output), sorted_lines(WORKERS_10));
    assert_eq!(
        sorted_lines(&run.output),
        sorted_lines(&twin!("process_workers"))
    );
    for name in ["Process-1:", "renamed worker2:"] {
        assert_eq!(lines_with(&run.output, name), lines_with(WORKERS_10, name));
    }
    // basic_config, like Python's root logger, never shows the lifecycle log.
    assert!(!run.output.contains("self.run()"), "{}", run.output);
}

#[test]
fn workers() {
    let run = run_clean(env!("CARGO_BIN_EXE_workers"));
    assert_eq!(run.output, "Worker\n".repeat(5));
    assert_eq!(run.output, twin!("workers"));
}

#[test]
fn worker_args() {
    let run = run_clean(env!("CARGO_BIN_EXE_worker_args"));
    let want = "Worker: 0\nWorker: 1\nWorker: 2\nWorker: 3\nWorker: 4\n";
    assert_eq!(sorted_lines(&run.output), sorted_lines(want));
    assert_eq!(
        sorted_lines(&run.output),
        sorted_lines(&twin!("worker_args"))
    );
}

#[test]
fn importable_target() {
    let run = run_clean(env!("CARGO_BIN_EXE_importable_target"));
    assert_eq!(run.output, "Worker\n".repeat(5));
    assert_eq!(run.output, twin!("importable_target"));
}

#[test]
fn current_process() {
    let run = run_clean(env!("CARGO_BIN_EXE_current_process"));
    let lines = run.lines();
    assert_eq!(lines.len(), 6, "{}", run.output);
    // Three Starting lines (any order) before the Exiting ones: the workers
    // sleep 2 s, my_service 3 s, so my_service exits last.
    let mut starting = lines[..3].to_vec();
    starting.sort();
    assert_eq!(
        starting,
        [
            "Process-3 Starting",
            "my_service Starting",
            "worker 1 Starting"
        ]
    );
    let mut exiting = lines[3..5].to_vec();
    exiting.sort();
    assert_eq!(exiting, ["Process-3 Exiting", "worker 1 Exiting"]);
    assert_eq!(lines[5], "my_service Exiting");
    assert_eq!(
        sorted_lines(&run.output),
        sorted_lines(&twin!("current_process"))
    );
}

#[test]
fn process_ids() {
    let run = run_clean(env!("CARGO_BIN_EXE_process_ids"));
    let out = normalize_pids(&run.output);
    assert_eq!(sorted_lines(&out), sorted_lines(&twin!("process_ids")));
    for i in 0..5 {
        let line = format!("name: process {i}, argument : {i}");
        assert_eq!(lines_with(&out, &line), [line.as_str()], "{out}");
    }
    assert_eq!(lines_with(&out, "parent pid:[..]  pid:[..]").len(), 5);
    assert_eq!(out.lines().filter(|l| l.is_empty()).count(), 5);
    assert_one_parent_five_children(&run.output);
}

#[test]
fn process_doubler() {
    let run = run_clean(env!("CARGO_BIN_EXE_process_doubler"));
    let want = "\
0 doubled to 0 by process id: [..]
1 doubled to 2 by process id: [..]
2 doubled to 4 by process id: [..]
";
    let out = normalize_pids(&run.output);
    assert_eq!(sorted_lines(&out), sorted_lines(want));
    assert_eq!(sorted_lines(&out), sorted_lines(&twin!("process_doubler")));
    let pids: HashSet<&str> = run
        .lines()
        .iter()
        .filter_map(|l| l.rsplit(' ').next())
        .collect();
    assert_eq!(pids.len(), 3, "three different processes: {}", run.output);
}

#[test]
fn subclass() {
    let run = run_clean(env!("CARGO_BIN_EXE_subclass"));
    let want = "In Worker-1\nIn Worker-2\nIn Worker-3\nIn Worker-4\nIn Worker-5\n";
    assert_eq!(sorted_lines(&run.output), sorted_lines(want));
    assert_eq!(sorted_lines(&run.output), sorted_lines(&twin!("subclass")));
}

#[test]
fn subclass_named() {
    let run = run_clean(env!("CARGO_BIN_EXE_subclass_named"));
    let out = normalize_pids(&run.output);
    assert_eq!(sorted_lines(&out), sorted_lines(&twin!("subclass_named")));
    for i in 0..5 {
        let line = format!("name: process {i}, argument: {i}");
        assert_eq!(lines_with(&out, &line), [line.as_str()], "{out}");
    }
    assert_eq!(lines_with(&out, "parent pid: [..], pid: [..]").len(), 5);
    assert_one_parent_five_children(&run.output);
}

const LOG_TO_STDERR: &str = "\
[INFO/Process-1] child process calling self.run()
Doing some work
[INFO/Process-1] process shutting down
[DEBUG/Process-1] running all \"atexit\" finalizers with priority >= 0
[DEBUG/Process-1] running the remaining \"atexit\" finalizers
[INFO/Process-1] process exiting with exitcode 0
[INFO/MainProcess] process shutting down
[DEBUG/MainProcess] running all \"atexit\" finalizers with priority >= 0
[DEBUG/MainProcess] running the remaining \"atexit\" finalizers
";

#[test]
fn log_to_stderr() {
    let run = run_clean(env!("CARGO_BIN_EXE_log_to_stderr"));
    assert_eq!(run.output, LOG_TO_STDERR);
    assert_eq!(run.output, twin!("log_to_stderr"));
}

#[test]
fn get_logger() {
    let run = run_clean(env!("CARGO_BIN_EXE_get_logger"));
    let want: String = LOG_TO_STDERR
        .lines()
        .filter(|l| !l.starts_with("[DEBUG/"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(run.output, want);
    assert_eq!(run.output, twin!("get_logger"));
}

#[test]
fn logging_workers() {
    let run = run_clean(env!("CARGO_BIN_EXE_logging_workers"));
    let out = &run.output;
    // Each child's own six lines, in program order; `count: k-1` is Process-k's.
    for k in 1..=5 {
        let tag = format!("/Process-{k}]");
        let count = format!("count: {}", k - 1);
        let own: Vec<&str> = out
            .lines()
            .filter(|l| l.contains(&tag) || *l == count)
            .collect();
        let want = LOG_TO_STDERR
            .replace("Doing some work", &count)
            .replace("/Process-1]", &tag);
        assert_eq!(own, want.lines().take(6).collect::<Vec<_>>(), "{out}");
    }
    // Main's lines: the exit steps, with a `calling join()` line for each
    // child still running at exit (how many is up to the scheduler).
    let main = lines_with(out, "/MainProcess]");
    let n = main.len();
    assert!(n >= 3, "{out}");
    assert_eq!(main[..2], LOG_TO_STDERR.lines().collect::<Vec<_>>()[6..8]);
    let joined: HashSet<&str> = main[2..n - 1]
        .iter()
        .map(|l| {
            l.strip_prefix("[INFO/MainProcess] calling join() for process Process-")
                .unwrap_or_else(|| panic!("unexpected: {l}"))
        })
        .collect();
    assert_eq!(joined.len(), n - 3, "each child joined once: {out}");
    assert!(joined.iter().all(|k| ["1", "2", "3", "4", "5"].contains(k)));
    // Everyone is done before main's last exit step.
    assert_eq!(out.lines().last(), LOG_TO_STDERR.lines().last(), "{out}");
    // The same lines as the twin's, but for the timing-dependent ones.
    let steady = |text: &str| {
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.contains("calling join()"))
            .collect();
        sorted_lines(&lines.join("\n"))
    };
    assert_eq!(steady(out), steady(&twin!("logging_workers")));
}

#[test]
fn start_methods() {
    let run = run_clean(env!("CARGO_BIN_EXE_start_methods"));
    let (rust, twin) = (run.lines(), twin!("start_methods"));
    let twin: Vec<&str> = twin.lines().collect();
    assert_eq!(rust.len(), 13, "{}", run.output);
    // Fork sees the global as `main` changed it, spawn and the fork
    // server's child as a fresh start sets it: the twin's lines exactly.
    assert_eq!(rust[..8], twin[..8]);
    assert!(twin[1].contains("'changed by main'") && twin[3].contains("'set when"));
    assert!(
        twin[5].starts_with("forkserver: ForkServerProcess-3") && twin[5].contains("'set when")
    );
    // Beside a thread, Python 3.11 forks anyway; this port refuses, and
    // spawning and the fork server work as before.
    assert!(
        rust[8]
            .starts_with("fork beside a thread: refused: cannot fork: this process runs 2 threads"),
        "{}",
        rust[8]
    );
    assert_eq!(
        twin[8],
        "fork beside a thread: ForkProcess-4 (parent MainProcess) sees GREETING = 'changed by main'"
    );
    assert_eq!(rust[9..], twin[10..]);
}

testkit::chapter_checks!(skip_headers: []);
