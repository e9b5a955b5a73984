//! The instructor's side-by-side run: labels, the "what to notice" line,
//! both outputs, the stored transcript when Python is missing, and the
//! sections listed, in teaching order.

use std::process::Command;

fn side_by_side(args: &[&str], python: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_side_by_side"))
        .args(args)
        .env("PYTHON", python)
        .output()
        .expect("run side_by_side");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

fn shows_the_stored_transcript_when_python_is_missing() {
    // Named without `examples-`, as a chapter may be.
    let (code, out) = side_by_side(&["basic", "workers"], "no-such-python");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("━━ examples-basic · workers ━━"), "{out}");
    assert!(
        out.contains("what to notice: `Process::new(worker)`"),
        "{out}"
    );
    assert!(
        out.contains("no-such-python not found: showing the twins' stored transcripts"),
        "{out}"
    );
    let rust = out
        .split("── Rust:")
        .nth(1)
        .and_then(|r| r.split("── Python:").next())
        .unwrap();
    assert_eq!(rust.matches("Worker").count(), 5, "{out}");
    assert!(
        out.contains("not run (no Python here); what CPython 3.11 printed, from examples-basic/python/workers.out:"),
        "{out}"
    );
    let stored = out.split("workers.out:").nth(1).unwrap_or_default();
    assert_eq!(stored.matches("Worker").count(), 5, "{out}");
}

/// `--timeline`: the Rust program's chart follows its output, before the
/// twin's.
fn shows_the_timeline_after_the_rust_output() {
    let (code, out) = side_by_side(&["daemon", "daemon_join", "--timeline"], "no-such-python");
    assert_eq!(code, 0, "{out}");
    let rust = out
        .split("── Rust:")
        .nth(1)
        .and_then(|r| r.split("── Python:").next())
        .unwrap();
    let chart = rust
        .split_once("Exiting : daemon\n")
        .map(|(_, chart)| chart)
        .unwrap_or_else(|| panic!("the chart comes after the output: {out}"));
    assert!(chart.starts_with("timeline, "), "{out}");
    for lane in ["MainProcess", "daemon", "non-daemon"] {
        assert!(chart.lines().any(|l| l.starts_with(lane)), "{lane}: {out}");
    }
    assert!(
        chart.contains("timeline: ") && chart.contains("daemon_join.svg"),
        "{out}"
    );
}

fn lists_the_sections_in_teaching_order() {
    let (code, out) = side_by_side(&["--list", "daemon"], "python3");
    assert_eq!(code, 0, "{out}");
    let names: Vec<&str> = out
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(names[..2], ["daemon", "daemon_join"], "{out}");
    assert_eq!(names.len(), 6, "{out}");
    let (code, out) = side_by_side(&["--list"], "python3");
    assert_eq!(code, 0, "{out}");
    let chapters: Vec<&str> = out.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(chapters.len(), 5, "{out}");
}

/// Run only where there is a Python (see `main`).
fn shows_both_sides_when_python_is_there() {
    let python = testkit::python().expect("checked in main").0;
    let (code, out) = side_by_side(&["examples-basic", "workers"], &python);
    assert_eq!(code, 0, "{out}");
    let python = out
        .split(&format!("── Python: {python} "))
        .nth(1)
        .unwrap_or_default();
    assert_eq!(python.matches("Worker").count(), 5, "{out}");
}

fn refuses_what_is_not_there() {
    for args in [
        &["examples-nope"][..],
        &["examples-basic", "nope"],
        &[],
        &["--frobnicate"],
        &["--list", "basic", "workers"],
    ] {
        let (code, out) = side_by_side(args, "python3");
        assert_eq!(code, 2, "{args:?}: {out}");
        assert!(out.contains("Usage: side_by_side"), "{out}");
    }
    // A mistyped section: the valid ones, to choose from; a mistyped flag:
    // the flag meant.
    let (_, out) = side_by_side(&["daemon", "deamon"], "python3");
    assert!(out.contains("its sections: daemon, daemon_join, "), "{out}");
    let (_, out) = side_by_side(&["daemon", "--timelime"], "python3");
    assert!(out.contains("--timeline"), "{out}");
}

/// A chapter in any case, as a person types it.
fn a_chapter_in_any_case() {
    let (code, out) = side_by_side(&["--list", "BASIC"], "python3");
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("examples-basic:\n"), "{out}");
}

/// Piped into `head` and cut short: no panic, no backtrace, exit 0.
fn a_closed_pipe_ends_it_quietly() {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_side_by_side"))
        .args(["basic"])
        .env("PYTHON", "no-such-python")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run side_by_side");
    let mut first = [0u8; 5];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take()); // the reader is gone, as `head -1` goes
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `--pause` stops at `q`.
fn q_stops_a_paused_run() {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_side_by_side"))
        .args(["basic", "--pause"])
        .env("PYTHON", "no-such-python")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run side_by_side");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"q\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(
        text.matches("━━ examples-basic").count(),
        1,
        "one section: {text}"
    );
}

/// The top README and `shared`'s own (the chapter guides check theirs).
fn the_readmes_have_no_dead_link() {
    let top = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    testkit::check_links(&top.join("README.md"));
    testkit::check_links(&top.join("shared/tests/README.md"));
}

fn main() {
    let no_python = testkit::python().is_none();
    testkit::run_checks(vec![
        testkit::check(
            "shows_the_stored_transcript_when_python_is_missing",
            shows_the_stored_transcript_when_python_is_missing,
        ),
        testkit::check(
            "shows_the_timeline_after_the_rust_output",
            shows_the_timeline_after_the_rust_output,
        ),
        testkit::check(
            "lists_the_sections_in_teaching_order",
            lists_the_sections_in_teaching_order,
        ),
        // Without a Python the harness reports it ignored, never passed.
        testkit::check(
            "shows_both_sides_when_python_is_there",
            shows_both_sides_when_python_is_there,
        )
        .with_ignored_flag(no_python),
        testkit::check("refuses_what_is_not_there", refuses_what_is_not_there),
        testkit::check("a_chapter_in_any_case", a_chapter_in_any_case),
        testkit::check(
            "a_closed_pipe_ends_it_quietly",
            a_closed_pipe_ends_it_quietly,
        ),
        testkit::check("q_stops_a_paused_run", q_stops_a_paused_run),
        testkit::check(
            "the_readmes_have_no_dead_link",
            the_readmes_have_no_dead_link,
        ),
    ]);
}
