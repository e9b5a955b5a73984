//! Runs every section of the pool chapter and checks what its header and
//! the README say it shows, against the Python twin's transcript.
//!
//! Which worker doubles which number, and when a worker prints, is the
//! scheduler's business: those lines are compared sorted. What `map`
//! returns, and everything the main process prints, is compared as is.

use std::collections::HashSet;
use std::process::{Command, Stdio};

use testkit::twin;
use testkit::{normalize_pids, run_clean, run_with, sorted_lines};

const MAP_RETURNED: &str = "map returned [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]";

#[test]
fn pool_map() {
    let run = run_clean(env!("CARGO_BIN_EXE_pool_map"));
    let out = normalize_pids(&run.output);
    assert_eq!(sorted_lines(&out), sorted_lines(&twin!("pool_map")));
    // map's results come back in input order, after every worker's line.
    assert_eq!(out.lines().last(), Some(MAP_RETURNED), "{out}");
    for n in 0..10 {
        let line = format!("{n} doubled to {} by process id: [..]", 2 * n);
        assert!(out.lines().any(|l| l == line), "{line} missing: {out}");
    }

    // Run it once more knowing its pid: at most 3 workers did the work,
    // and none of it happened in the main process.
    let child = Command::new(env!("CARGO_BIN_EXE_pool_map"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("run pool_map");
    let main_pid = child.id();
    let output = child.wait_with_output().expect("pool_map's output");
    let text = String::from_utf8_lossy(&output.stdout);
    let pids: HashSet<u32> = text
        .lines()
        .filter_map(|l| l.split("process id: ").nth(1)?.parse().ok())
        .collect();
    assert!(!pids.is_empty() && pids.len() <= 3, "{text}");
    assert!(
        !pids.contains(&main_pid),
        "a number was doubled in main: {text}"
    );
}

#[test]
fn pool_lifecycle() {
    let run = run_clean(env!("CARGO_BIN_EXE_pool_lifecycle"));
    // close refuses new work, join waits for all of it, terminate does not.
    assert_eq!(run.output, twin!("pool_lifecycle"));
    assert!(
        run.output
            .contains("apply_async after close: Pool not running\n")
    );
    assert!(
        run.output
            .contains("ready after join: [True, True, True, True]\n")
    );
    assert!(
        run.output
            .contains("ready after terminate: [False, False, False, False]\n")
    );
}

#[test]
fn pool_async() {
    let run = run_clean(env!("CARGO_BIN_EXE_pool_async"));
    // The naps are 0.3 s apart: imap_unordered's order is not left to chance.
    assert_eq!(run.output, twin!("pool_async"));
    assert!(run.output.contains("the worker's error: bad input 3\n"));
}

/// The divisor lists of tutorial 002, in input order.
const DIVISORS: &str = "\
[1, 5501, 9733, 53541233]
[1, 21235343]
[1, 11, 383, 2711, 4213, 29821, 1038313, 11421443]
[1, 5423123]
";

/// `Took 1.234 seconds` becomes `Took [..] seconds`.
fn without_timings(text: &str) -> String {
    text.lines()
        .map(|l| match l.strip_prefix("Took ") {
            Some(_) => "Took [..] seconds\n".to_owned(),
            None => format!("{l}\n"),
        })
        .collect()
}

#[test]
fn factorize() {
    let run = run_clean(env!("CARGO_BIN_EXE_factorize"));
    let out = without_timings(&run.output);
    let block = |title: &str| format!("{title}:\n{DIVISORS}Took [..] seconds\n");
    let variants = ["sequential", "one process per number", "pool", "threads"];
    let want: String = variants.iter().map(|t| block(t)).collect();
    assert!(out.starts_with(&want), "{out}");
    // The twin has the first three variants, in the same words.
    let python = without_timings(&twin!("factorize"));
    assert!(out.starts_with(&python), "{out}\nvs the twin's\n{python}");
    let rest: Vec<&str> = out[want.len()..].lines().collect();
    assert_eq!(rest.len(), 2, "{out}");
    assert!(rest[0].starts_with("ideal on "), "{out}");
    assert!(rest[0].contains("(largest task alone "), "{out}");
    assert!(rest[1].starts_with("efficiency: sequential "), "{out}");
    assert!(rest[1].contains(", threads "), "{out}");
}

#[test]
fn benchmark_prints_name_value_unit() {
    let exe = env!("CARGO_BIN_EXE_benchmark");
    let limit = std::time::Duration::from_secs(120);
    let run = run_with(exe, &["--quick"], &[], limit);
    assert!(run.status.success(), "{run:?}");
    assert!(!run.left_behind, "{run:?}");
    // A quick run says first that it judges nothing, then the figures.
    let (note, figures) = run.output.split_once('\n').unwrap_or_default();
    assert!(
        note.contains("--quick measures small sizes") && note.contains("judges nothing"),
        "{run:?}"
    );
    let figures: Vec<&str> = figures.lines().collect();
    let names: Vec<&str> = figures
        .iter()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    let want = [
        "parallel_capacity",
        "floor_fork_join",
        "process_start_join",
        "process_start_join_timeline",
        "floor_exec_wait",
        "spawn_start_join",
        "forkserver_start_join",
        "pool_map_default",
        "spawn_pool_map_default",
        "pool_map_chunksize1",
        "pipe_roundtrip",
        "queue_roundtrip",
        "connection_roundtrip",
        "ipc_channel_roundtrip",
        "shm_attach_read",
        "floor_socketpair_roundtrip_1cpu",
        "pipe_roundtrip_1cpu",
        "queue_roundtrip_1cpu",
        "pipe_roundtrip_loaded",
        "queue_roundtrip_loaded",
        "throughput_1kib",
        "throughput_1mib",
        "throughput_100mib",
        "throughput_100mib_into",
        "apply_async_many",
        "apply_async_doubling",
        "factorize_sequential",
        "factorize_pool",
        "factorize_ideal",
        "child_uss",
        "lock_acquire_release",
        "lock_handoff",
        "value_add_locked",
    ];
    assert_eq!(names, want, "{run:?}");
    for line in figures {
        let words: Vec<&str> = line.split(' ').collect();
        assert_eq!(words.len(), 3, "{line}");
        let measured = words[1].parse::<f64>().is_ok_and(f64::is_finite);
        assert!(measured, "{line}");
    }
    // The twin prints the same names but the OS floors, the cost of
    // recording a timeline (a feature of `shared`) and ipc-channel's round
    // trip, which only the Rust side measures (checked without running it: CPython may be absent).
    let python =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/python/benchmark.py"))
            .expect("python/benchmark.py");
    for name in want
        .iter()
        .filter(|n| !n.starts_with("floor_") && !n.ends_with("_timeline"))
        .filter(|n| !n.starts_with("ipc_channel"))
    // a Rust crate: Rust's alone
    {
        assert!(python.contains(&format!("print(f\"{name} ")), "{name}");
    }
}

#[test]
fn benchmark_explains_itself_and_refuses_bad_arguments() {
    let exe = env!("CARGO_BIN_EXE_benchmark");
    let limit = std::time::Duration::from_secs(30);
    for help in ["--help", "-h"] {
        let run = run_with(exe, &[help], &[], limit);
        assert!(run.status.success(), "{run:?}");
        assert!(run.output.contains("Usage: benchmark [OPTIONS]"), "{run:?}");
    }
    let bad: [(&[&str], &str); 5] = [
        (&["--fast"], "unexpected argument '--fast'"),
        (
            &["--compare", "--rounds"],
            "a value is required for '--rounds <N>'",
        ),
        (&["--compare", "--rounds", "0"], "invalid value '0'"),
        (&["--compare", "--rounds", "two"], "invalid value 'two'"),
        (&["--quick", "--rounds", "2"], "--compare"),
    ];
    for (args, why) in bad {
        let run = run_with(exe, args, &[], limit);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {run:?}");
        assert!(run.output.contains(why), "{args:?}: {run:?}");
        assert!(run.output.contains("--help"), "{args:?}: {run:?}");
    }
    // No CPython to compare with: said so, and exit 2.
    let run = run_with(exe, &["--compare"], &[("PYTHON", "no-such-python")], limit);
    assert_eq!(run.status.code(), Some(2), "{run:?}");
    assert!(
        run.output.contains("`no-such-python`, which is not here"),
        "{run:?}"
    );
}

// The benchmark's header shows a table of timings, not a lesson.
testkit::chapter_checks!(skip_headers: ["benchmark"]);
