//! Every way a child can end, and the exit code each one leaves.
//!
//! Python twin: `python/exitcode.py` (tutorial 003, section 7 "Process exit status").
//!
//! ```console
//! $ cargo run -p examples-exitcode --bin exitcode
//! Starting process for exit_error
//! Starting process for exit_ok
//! Starting process for return_value
//! Starting process for raises
//! Starting process for terminated
//! Process raises:
//! Error: There was an error!
//!      exit_error.exitcode = 1
//!         exit_ok.exitcode = 0
//!    return_value.exitcode = 0
//!          raises.exitcode = 1
//!      terminated.exitcode = -15
//! ```
//! `return_value` returns 1 and still exits with 0: what a target returns
//! is not its exit code; `shared::exit(n)` (Python's `sys.exit(n)`) is.
//! `Process raises:` and the error go to stderr whenever that child gets to
//! run, so where they land varies from run to run.
//!
//! Differs from Python: `raises` returns an `Err` instead of raising, and
//! the child prints `Error: ` and the error where CPython prints a traceback.
//!
//! CPython 3.13's traceback for `raises` marks the failing call with
//! `~~~^^^` and cites other line numbers; the exit codes are the same.

use std::thread::sleep;
use std::time::Duration;

use shared::Process;
use shared::py::py_exitcode;

fn exit_error() {
    shared::exit(1); // Python: sys.exit(1)
}

fn exit_ok() {}

fn return_value() -> i32 {
    1 // a target's return value is ignored: exit code 0
}

fn raises() -> Result<(), &'static str> {
    Err("There was an error!") // Python: raise RuntimeError("There was an error!")
}

fn terminated() {
    sleep(Duration::from_secs(3));
}

fn main() -> Result<(), shared::Error> {
    let mut jobs = Vec::new();
    // A Rust function does not know its name (Python's `f.__name__`): pair them.
    let funcs = [
        ("exit_error", Process::new(exit_error)),
        ("exit_ok", Process::new(exit_ok)),
        ("return_value", Process::new(return_value)),
        ("raises", Process::new(raises)),
        ("terminated", Process::new(terminated)),
    ];
    for (name, f) in funcs {
        println!("Starting process for {name}");
        let mut j = f.named(name);
        j.start()?;
        jobs.push(j);
    }

    jobs[4].terminate()?; // Python: jobs[-1].terminate()

    for j in &jobs {
        j.join()?;
        println!("{:>15}.exitcode = {}", j.name(), py_exitcode(j.exitcode()));
    }
    Ok(())
}
