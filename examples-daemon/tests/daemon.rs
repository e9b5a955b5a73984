//! Runs every section of the daemon chapter and checks what the syllabus says
//! it must show.

use shared::testing::{normalize_pids, run, transcript};

#[test]
fn daemon() {
    let run = run(env!("CARGO_BIN_EXE_daemon"));
    assert!(run.status.success(), "{run:?}");
    assert!(!run.left_behind, "a process outlived the example");
    let out = normalize_pids(&run.output);
    assert_eq!(
        out,
        "Starting: daemon [..]\nStarting: non-daemon [..]\nExiting : non-daemon [..]\n"
    );
    assert!(!run.output.contains("Exiting : daemon"));
    assert_eq!(out, transcript(env!("CARGO_MANIFEST_DIR"), "daemon"));
}
