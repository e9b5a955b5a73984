//! The instructor's side-by-side run: labels, the "what to notice" line,
//! both outputs, and a clear word when Python is missing.

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

fn shows_the_rust_side_and_says_when_python_is_missing() {
    let (code, out) = side_by_side(&["examples-basic", "workers"], "no-such-python");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("━━ examples-basic · workers ━━"), "{out}");
    assert!(
        out.contains("what to notice: `Process::new(worker)`"),
        "{out}"
    );
    assert!(
        out.contains("no-such-python not found: showing the Rust side only"),
        "{out}"
    );
    let rust = out
        .split("── Rust:")
        .nth(1)
        .and_then(|r| r.split("── Python:").next())
        .unwrap();
    assert_eq!(rust.matches("Worker").count(), 5, "{out}");
    assert!(out.contains("(not run: no Python here)"), "{out}");
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
    for args in [&["examples-nope"][..], &["examples-basic", "nope"], &[]] {
        let (code, out) = side_by_side(args, "python3");
        assert_eq!(code, 2, "{args:?}: {out}");
        assert!(out.contains("usage: side_by_side"), "{out}");
    }
}

fn main() {
    let no_python = testkit::python().is_none();
    testkit::run_checks(vec![
        testkit::check(
            "shows_the_rust_side_and_says_when_python_is_missing",
            shows_the_rust_side_and_says_when_python_is_missing,
        ),
        // Without a Python the harness reports it ignored, never passed.
        testkit::check(
            "shows_both_sides_when_python_is_there",
            shows_both_sides_when_python_is_there,
        )
        .with_ignored_flag(no_python),
        testkit::check("refuses_what_is_not_there", refuses_what_is_not_there),
    ]);
}
