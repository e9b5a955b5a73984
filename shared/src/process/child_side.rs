//! A child's side of `start`, forked or spawned: run the target, print
//! and log what CPython's `Process._bootstrap` prints and logs, and work
//! out the exit code. `process.rs` (fork) and `spawn.rs` (spawn) both end
//! here.

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Mutex, Once};

use nix::sys::signal::Signal;

use crate::process::current::ExitRequest;
use crate::process::parent_side;
use crate::sys;

/// The code a child runs: the target, its error as text.
pub(crate) type BoxedTarget = Box<dyn FnOnce() -> Result<(), String>>;

/// Run the target and work out the exit code, printing and logging what
/// CPython's `_bootstrap` prints and logs, in the same order.
pub(crate) fn run_target(name: &str, target: BoxedTarget) -> i32 {
    log::info!("child process calling self.run()");
    let (code, failure) = match panic::catch_unwind(AssertUnwindSafe(target)) {
        Ok(Ok(())) => (0, None),
        Ok(Err(message)) => (1, Some(format!("Error: {message}"))),
        Err(payload) => match payload.downcast::<ExitRequest>() {
            Ok(request) => (request.0, None),
            Err(_) => (1, last_panic()),
        },
    };
    let _ = panic::catch_unwind(parent_side::exit_function);
    if let Some(failure) = failure {
        // One `write`: `eprintln!` writes each piece separately, and another
        // process's line could land between `Process ` and the name.
        let text = format!("Process {name}:\n{failure}\n");
        let _ = std::io::Write::write_all(&mut std::io::stderr(), text.as_bytes());
    }
    log::info!("process exiting with exitcode {code}");
    crate::timeline::exited(code);
    code
}

/// A child's last panic message, for [`run_target`] to print.
static CHILD_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Install, once, the panic hook that keeps a child's panic message for
/// later instead of printing Rust's default "thread 'main' panicked" text:
/// CPython prints the error after the shutdown lines, under `Process
/// <name>:`. In this process, the one that installs it, panics still go to
/// the hook it had.
///
/// It is installed by the parent before the first `fork`, and inherited:
/// setting it in each child would write a page that the child must then
/// copy (see `current::become_child`). A hook the program sets after its
/// first `start` takes its place: children forked after that print their
/// panics through the program's hook instead.
pub(crate) fn ensure_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let (installer, previous) = (std::process::id(), panic::take_hook());
        panic::set_hook(Box::new(move |info| {
            if std::process::id() == installer {
                previous(info);
            } else {
                *CHILD_PANIC.lock().unwrap_or_else(|p| p.into_inner()) = Some(info.to_string());
            }
        }));
    });
}

/// In a spawned child, which installed no hook as a parent: keep every
/// panic's message for [`run_target`], as a forked child does.
pub(crate) fn capture_panics() {
    panic::set_hook(Box::new(|info| {
        *CHILD_PANIC.lock().unwrap_or_else(|p| p.into_inner()) = Some(info.to_string());
    }));
}

/// The message of this child's last panic, taken (a pool worker reports a
/// task's panic with it).
pub(crate) fn last_panic() -> Option<String> {
    CHILD_PANIC.lock().unwrap_or_else(|p| p.into_inner()).take()
}

/// Go beyond CPython: a daemon dies with its parent even if the parent is
/// killed and never runs its exit steps. The kernel sends SIGKILL when the
/// parent *thread* that forked us exits, so fork daemons from a thread that
/// lives as long as the program (the main thread here).
pub(crate) fn die_with_parent(parent_pid: u32) {
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    // The parent may have died before the line above took effect.
    if nix::unistd::getppid().as_raw() as u32 != parent_pid {
        sys::exit_now(1) // at once, as `bootstrap` leaves
    }
}
