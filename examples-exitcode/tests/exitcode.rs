//! Runs every section of the exitcode chapter and checks what its header and
//! the README say it shows.

use testkit::twin;
use testkit::{normalize_pids, run_clean, sorted_lines};

/// The lines of `text` that `keep` accepts, each followed by a newline.
fn only(text: &str, keep: impl Fn(&str) -> bool) -> String {
    text.lines()
        .filter(|l| keep(l))
        .map(|l| format!("{l}\n"))
        .collect()
}

const TERMINATE: &str = "\
BEFORE: <Process name='Process-1' parent=[..] initial> False
Starting worker
DURING: <Process name='Process-1' pid=[..] parent=[..] started> True
TERMINATED: <Process name='Process-1' pid=[..] parent=[..] started> True
JOINED: <Process name='Process-1' pid=[..] parent=[..] stopped exitcode=-SIGTERM> False
";

#[test]
fn terminate() {
    let run = run_clean(env!("CARGO_BIN_EXE_terminate"));
    let out = normalize_pids(&run.output);
    assert!(!out.contains("Finished worker"), "{out}");
    // Right after terminate the child has usually not died yet (`started`,
    // alive), but now and then it has: both are what CPython can print.
    let reaped = TERMINATE.replace(
        "started> True\nJOINED",
        "stopped exitcode=-SIGTERM> False\nJOINED",
    );
    assert!(out == TERMINATE || out == reaped, "{out}");
    let python = twin!("terminate");
    assert!(python == TERMINATE || python == reaped, "{python}");
}

const EXITCODE: &str = "\
Starting process for exit_error
Starting process for exit_ok
Starting process for return_value
Starting process for raises
Starting process for terminated
     exit_error.exitcode = 1
        exit_ok.exitcode = 0
   return_value.exitcode = 0
         raises.exitcode = 1
     terminated.exitcode = -15
";

#[test]
fn exitcode() {
    let run = run_clean(env!("CARGO_BIN_EXE_exitcode"));
    // main's lines, in order; the failing child's stderr lands anywhere.
    let main_lines = |text: &str| {
        only(text, |l| {
            l.starts_with("Starting process") || l.contains(".exitcode = ")
        })
    };
    assert_eq!(main_lines(&run.output), EXITCODE);
    assert_eq!(main_lines(&run.output), main_lines(&twin!("exitcode")));
    // Python prints a traceback there; we print the error.
    assert!(
        run.output
            .contains("Process raises:\nError: There was an error!\n"),
        "{run:?}"
    );
    assert!(twin!("exitcode").contains("Process raises:\n"));
}

const JOB_STATUS_MAIN: &str = "\
Process check : <Process name='good_job' parent=[..] initial> False
Process check : <Process name='fail_job' parent=[..] initial> False
Process check : <Process name='kill_job' parent=[..] initial> False
Process check : <Process name='good_job' pid=[..] parent=[..] started> True
Process check : <Process name='fail_job' pid=[..] parent=[..] started> True
Process check : <Process name='kill_job' pid=[..] parent=[..] started> True
Process check : <Process name='good_job' pid=[..] parent=[..] stopped exitcode=0> False
Process check : <Process name='fail_job' pid=[..] parent=[..] stopped exitcode=1> False
Process check : <Process name='kill_job' pid=[..] parent=[..] started> True
Terminate process : <Process name='kill_job' pid=[..] parent=[..] started>
Process name: good_job, exit code : 0
Process name: fail_job, exit code : 1
Process name: kill_job, exit code : None
";

#[test]
fn job_status() {
    let run = run_clean(env!("CARGO_BIN_EXE_job_status"));
    let out = normalize_pids(&run.output);
    // main's lines in order.
    let main_lines = |text: &str| {
        only(text, |l| {
            l.starts_with("Process ") || l.starts_with("Terminate ")
        })
    };
    // `None`, or now and then `-15` if kill_job has already died.
    let dead = JOB_STATUS_MAIN.replace("kill_job, exit code : None", "kill_job, exit code : -15");
    let main = main_lines(&out);
    assert!(main == JOB_STATUS_MAIN || main == dead, "{out}");
    // kill_job was terminated in its sleep.
    assert!(!out.contains("Exit name: kill_job"), "{out}");
    // The children's lines interleave with main's as the clock decides.
    let normal = out.replace("kill_job, exit code : -15", "kill_job, exit code : None");
    assert_eq!(sorted_lines(&normal), sorted_lines(&twin!("job_status")));
}

testkit::chapter_checks!(skip_headers: []);
