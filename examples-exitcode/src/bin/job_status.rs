//! Checking on jobs: `is_alive`, the repr and `exitcode`, before and after
//! each job ends.
//!
//! Python twin: `python/job_status.py` (tutorial 004, "Process Exit").
//!
//! ```console
//! $ cargo run -p examples-exitcode --bin job_status
//! Process check : <Process name='good_job' parent=[..] initial> False
//! Start name: good_job, pid: [..]
//! …
//! Process check : <Process name='good_job' pid=[..] parent=[..] stopped exitcode=0> False
//! Process check : <Process name='fail_job' pid=[..] parent=[..] stopped exitcode=1> False
//! Process check : <Process name='kill_job' pid=[..] parent=[..] started> True
//! Terminate process : <Process name='kill_job' pid=[..] parent=[..] started>
//! Process name: good_job, exit code : 0
//! Process name: fail_job, exit code : 1
//! Process name: kill_job, exit code : [..]
//! ```
//! `kill_job`'s exit code (the last `[..]`) is usually still `None`:
//! `terminate` has sent SIGTERM, but the child has not died yet. Now and
//! then it has, and the line reads `-15`, in CPython too: `exitcode` asks
//! the kernel each time, and the scheduler decides which comes first.
//! `Exit name: kill_job` never appears.
//!
//! The tutorial shows the reprs of Pythons before 3.8, such as
//! `<Process(fail_job, stopped[1])>`; these are CPython 3.11's. Longer than
//! most sections: the three jobs mirror the twin's one for one.

use std::thread::sleep;
use std::time::Duration;

use shared::py::{py_bool, py_exitcode};
use shared::{Process, current_process};

fn good_job() -> i32 {
    let p = current_process();
    println!("Start name: {}, pid: {}", p.name(), p.pid());
    sleep(Duration::from_secs(5));
    println!("Exit name: {}, pid: {}", p.name(), p.pid());
    0 // ignored, as in Python: exit code 0 because the job returned
}

fn fail_job() {
    let p = current_process();
    println!("Start name: {}, pid: {}", p.name(), p.pid());
    sleep(Duration::from_secs(5));
    println!("Exit name: {}, pid: {}", p.name(), p.pid());
    shared::exit(1); // Python: sys.exit(1)
}

fn kill_job() -> i32 {
    let p = current_process();
    println!("Start name: {}, pid: {}", p.name(), p.pid());
    sleep(Duration::from_secs(10));
    println!("Exit name: {}, pid: {}", p.name(), p.pid());
    0
}

fn main() -> Result<(), shared::Error> {
    let mut process_list = Vec::new();
    // A Rust function does not know its name (Python's `func.__name__`): pair them.
    let funcs = [
        ("good_job", Process::new(good_job)),
        ("fail_job", Process::new(fail_job)),
        ("kill_job", Process::new(kill_job)),
    ];
    for (name, func) in funcs {
        let mut p = func.named(name);
        println!("Process check : {p} {}", py_bool(p.is_alive()));
        p.start()?;
        process_list.push(p);
        sleep(Duration::from_millis(300));
    }

    for p in &process_list {
        println!("Process check : {p} {}", py_bool(p.is_alive()));
    }

    // good_job and fail_job finish after 5 s; kill_job would need 10 s.
    sleep(Duration::from_secs(5));

    for p in &process_list {
        println!("Process check : {p} {}", py_bool(p.is_alive()));

        if p.is_alive() {
            println!("Terminate process : {p}");
            p.terminate()?;
        }
    }

    // kill_job has usually not died yet, so its exitcode is usually None.
    for p in &process_list {
        let code = py_exitcode(p.exitcode());
        println!("Process name: {}, exit code : {code}", p.name());
    }
    Ok(())
}
