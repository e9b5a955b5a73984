//! Runs every section of the daemon chapter and checks what its header and
//! the README say it shows.

use testkit::twin;
use testkit::{normalize_pids, run_clean, sorted_lines};

/// The lines of `text` written by one process: `Name: message` → `message`.
fn lines_of<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let prefix = format!("{name}: ");
    text.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .collect()
}

#[test]
fn daemon() {
    let run = run_clean(env!("CARGO_BIN_EXE_daemon"));
    let out = normalize_pids(&run.output);
    assert_eq!(
        out,
        "Starting: daemon [..]\nStarting: non-daemon [..]\nExiting : non-daemon [..]\n"
    );
    // At exit main terminates the daemon, still asleep, and joins the rest.
    assert!(!run.output.contains("Exiting : daemon"));
    assert_eq!(out, twin!("daemon"));
}

#[test]
fn daemon_join() {
    let run = run_clean(env!("CARGO_BIN_EXE_daemon_join"));
    assert_eq!(
        run.output,
        "Starting: daemon\n\
         Starting: non-daemon\n\
         Exiting : non-daemon\n\
         Exiting : daemon\n"
    );
    assert_eq!(run.output, twin!("daemon_join"));
}

#[test]
fn daemon_join_timeout() {
    let run = run_clean(env!("CARGO_BIN_EXE_daemon_join_timeout"));
    // The timed-out join returned while the daemon still ran...
    assert!(run.lines().contains(&"d.is_alive() True"), "{run:?}");
    // ...and main's exit terminated it before it could finish.
    assert!(!run.output.contains("Exiting : daemon"));
    // Which of main and the non-daemon prints first is the scheduler's call.
    assert_eq!(
        sorted_lines(&run.output),
        sorted_lines(&twin!("daemon_join_timeout"))
    );
}

#[test]
fn daemon_logging() {
    let run = run_clean(env!("CARGO_BIN_EXE_daemon_logging"));
    // Joined daemons: all six lines, each process's own in program order.
    assert_eq!(lines_of(&run.output, "Process-1"), ["start", "10", "end"]);
    assert_eq!(
        lines_of(&run.output, "renamed worker2"),
        ["start", "10", "end"]
    );
    // Process-1 sleeps 5 s before its last line.
    assert_eq!(run.lines().last(), Some(&"Process-1: end"));
    assert_eq!(
        sorted_lines(&run.output),
        sorted_lines(&twin!("daemon_logging"))
    );
}

#[test]
fn daemon_main_exit() {
    let run = run_clean(env!("CARGO_BIN_EXE_daemon_main_exit"));
    assert_eq!(run.output, "Start\nMain process terminated\n");
    // Not even after main: the daemon is terminated, not left to finish.
    assert!(!run.lines().contains(&"Exit"));
    assert_eq!(run.output, twin!("daemon_main_exit"));
}

#[test]
fn daemon_main_exit_join() {
    let run = run_clean(env!("CARGO_BIN_EXE_daemon_main_exit_join"));
    assert_eq!(run.output, "Start\nExit\nMain process terminated\n");
    assert_eq!(run.output, twin!("daemon_main_exit_join"));
}

testkit::chapter_checks!(skip_headers: []);
