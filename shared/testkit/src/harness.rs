//! A harness for test files that fork (`harness = false`): libtest-mimic,
//! which reads libtest's command line (`--list`, `--skip`, filters,
//! `--exact`, `--ignored`) and prints libtest's lines, run with one thread,
//! so every check runs on the main thread and may fork.
//!
//! A check that needs a fresh process of its own (to be killed, starved of
//! descriptors, or to exit) re-runs this executable as a *scenario*.

use std::fmt::Debug;
use std::process::Command;
use std::time::Duration;

use libtest_mimic::{Arguments, Trial};

use crate::{Run, run_with};

/// Set by [`scenario`]: the test executable runs that one scenario.
const SCENARIO: &str = "SHARED_TEST_SCENARIO";

/// Run this test executable again as scenario `name` (see [`test_main`]),
/// for at most `limit`.
pub fn scenario(name: &str, limit: Duration) -> Run {
    scenario_with(name, &[], limit)
}

/// [`scenario`] with environment variables `envs` set as well.
pub fn scenario_with(name: &str, envs: &[(&str, &str)], limit: Duration) -> Run {
    let exe = std::env::current_exe().expect("this test's own path");
    let envs: Vec<(&str, &str)> = [(SCENARIO, name)]
        .into_iter()
        .chain(envs.iter().copied())
        .collect();
    run_with(exe, &[], &envs, limit)
}

/// The `main` of a `harness = false` test with scenarios: as a
/// [`scenario`], run `run_scenario(name)` and exit, printing an error as a
/// `main` returning `Err` does (`Error: …`, exit code 1); otherwise run the
/// checks ([`run_checks`]).
pub fn test_main<E: Debug>(checks: Vec<Trial>, run_scenario: fn(&str) -> Result<(), E>) {
    let Ok(name) = std::env::var(SCENARIO) else {
        return run_checks(checks);
    };
    if let Err(e) = run_scenario(&name) {
        eprintln!("Error: {e:?}");
        std::process::exit(1);
    }
}

/// The `main` of a `harness = false` test: run the checks, one at a time,
/// on this, the main thread (so each may fork), with libtest's command
/// line and output; exit with 101 if any failed, as libtest does.
pub fn run_checks(checks: Vec<Trial>) {
    let mut args = Arguments::from_args();
    args.test_threads = Some(1); // on this thread: whatever was asked
    libtest_mimic::run(&args, checks).exit();
}

/// `checks![a, b]`: the functions `a` and `b` as libtest-mimic trials of
/// those names; a check fails by panicking, as a `#[test]` does.
#[macro_export]
macro_rules! checks {
    ($($check:ident),* $(,)?) => {
        vec![$($crate::check(stringify!($check), $check)),*]
    };
}

/// One check as a trial: `check` run, a panic its failure.
pub fn check(name: &str, check: fn()) -> Trial {
    Trial::test(name, move || {
        check();
        Ok(())
    })
}

/// The Python interpreter the twins run under (`PYTHON`, else `python3`),
/// if there is one.
#[derive(Debug, Clone)]
pub struct Python(pub String);

/// [`Python`], if it answers `--version`. A check that needs it is made
/// with `.with_ignored_flag(python().is_none())`, so that without it the
/// harness reports it *ignored*, never passed.
pub fn python() -> Option<Python> {
    let name = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let found = Command::new(&name).arg("--version").output();
    found
        .is_ok_and(|o| o.status.success())
        .then_some(Python(name))
}
