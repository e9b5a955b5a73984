//! What a parent knows of each child it started: its pid, how to reap it
//! (`waitpid`) and signal it (`kill`), and the list of children not yet
//! reaped, which the exit steps terminate and join when the parent's
//! `main` returns. CPython keeps the same in
//! `multiprocessing.process._children` and `util._exit_function`.
//!
//! [`Process`](crate::Process) is built on this; this knows nothing of it.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::Error;
use crate::process::current::flush_stdout;
use crate::sys::{self, Wait, pidfd_open};

/// One process object, as its creator and the exit steps see it.
pub(crate) struct Child {
    /// What the default name starts with: `Process`, `ForkPoolWorker`, …
    pub class: String,
    /// `[3]` for `Process-3`, `[3, 1]` for `Process-3:1`.
    pub identity: Arc<[usize]>,
    pub daemon: bool,
    /// The process that created this object: only it may start and join it.
    pub parent_pid: u32,
    status: Mutex<Status>,
}

#[derive(Default)]
pub(crate) struct Status {
    /// What the parent calls it. As in CPython, the parent may rename its
    /// object at any time; a started child keeps the name it started with
    /// (an `Arc`, shared with it: see `current::become_child`).
    pub name: Arc<str>,
    /// `None` until started.
    pub pid: Option<Pid>,
    /// `None` until the child has been reaped.
    pub exitcode: Option<i32>,
    /// The kernel reaped it for us (SIGCHLD ignored): gone, its code lost.
    pub lost: bool,
    /// `close` was called: nothing more is known, nothing more can be done.
    pub closed: bool,
}

impl Child {
    pub fn new(class: &str, name: String, identity: Vec<usize>, daemon: bool) -> Child {
        Child {
            class: class.to_owned(),
            identity: identity.into(),
            daemon,
            parent_pid: std::process::id(),
            status: Mutex::new(Status {
                name: name.into(),
                ..Status::default()
            }),
        }
    }

    pub fn name(&self) -> Arc<str> {
        Arc::clone(&self.status().name)
    }

    pub fn status(&self) -> MutexGuard<'_, Status> {
        // A panic elsewhere while holding the lock leaves the data intact.
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Started, and neither reaped by us nor by the kernel (see
    /// [`Error::Unreapable`]).
    pub fn alive(&self) -> bool {
        self.status().pid.is_some() && self.poll().is_none() && !self.status().lost
    }

    /// The exit code if the child has finished, reaping it if need be
    /// (`waitpid` with `WNOHANG`, as CPython's `poll`).
    pub fn poll(&self) -> Option<i32> {
        let mut status = self.status();
        if status.exitcode.is_some() {
            return status.exitcode;
        }
        match waitpid(status.pid?, Some(WaitPidFlag::WNOHANG)) {
            Ok(ws) => {
                status.exitcode = exit_code(ws);
                if let (Some(pid), Some(code)) = (status.pid, status.exitcode) {
                    crate::timeline::reaped(pid.as_raw(), code);
                }
                status.exitcode
            }
            // With SIGCHLD ignored the kernel reaps children itself.
            Err(Errno::ECHILD) => {
                status.lost = true;
                None
            }
            Err(_) => None,
        }
    }

    /// Block until reaped, or until `timeout`; the exit code if reaped.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<Option<i32>, Error> {
        let pid = {
            let status = self.status();
            if status.exitcode.is_some() {
                return Ok(status.exitcode);
            }
            status.pid.ok_or(Error::NotStarted("join"))?
        };
        let began = crate::timeline::now_if_on();
        if let Some(timeout) = timeout {
            // `waitpid` takes no timeout. A pidfd of the child turns readable
            // when it exits: sleep on it in `poll(2)`, then reap without waiting.
            match pidfd_open(pid.as_raw()) {
                Ok(pidfd) => drop(sys::wait_readable(
                    &[pidfd.as_fd()],
                    Wait::timeout(timeout),
                )?),
                Err(Errno::ESRCH) => {} // the kernel reaped it already (SIGCHLD ignored)
                Err(errno) => return Err(errno.into()),
            }
            let polled = self.poll();
            crate::timeline::joined(pid.as_raw(), began);
            return match polled {
                None if self.status().lost => Err(Error::Unreapable),
                code => Ok(code),
            };
        }
        loop {
            match waitpid(pid, None) {
                Ok(ws) => {
                    if let Some(code) = exit_code(ws) {
                        self.status().exitcode = Some(code);
                        crate::timeline::reaped(pid.as_raw(), code);
                        crate::timeline::joined(pid.as_raw(), began);
                        return Ok(Some(code));
                    }
                }
                Err(Errno::EINTR) => continue,
                // Another thread's join reaped it first.
                Err(Errno::ECHILD) if self.status().exitcode.is_some() => {
                    return Ok(self.status().exitcode);
                }
                // Nobody's to reap: SIGCHLD is ignored, so the kernel did.
                Err(Errno::ECHILD) => {
                    self.status().lost = true;
                    return Err(Error::Unreapable);
                }
                Err(errno) => return Err(errno.into()),
            }
        }
    }

    /// Send `sig`; `verb` names the call for the error if never started.
    pub fn signal(&self, sig: Signal, verb: &'static str) -> Result<(), Error> {
        let status = self.status();
        if status.closed {
            return Err(Error::ProcessClosed);
        }
        let pid = status.pid.ok_or(Error::NotStarted(verb))?;
        if status.exitcode.is_some() {
            return Ok(()); // already reaped: its pid may belong to someone else now
        }
        match signal::kill(pid, sig) {
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(errno) => Err(errno.into()),
        }
    }
}

/// Turn a `waitpid` result into Python's exit code: `N` for `exit(N)`,
/// `-N` for death by signal N, `None` while still running.
fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(-(sig as i32)),
        _ => None,
    }
}

/// What this process knows of its children, behind one lock.
struct Children {
    /// Started by this process and not yet known to be reaped.
    list: Vec<Arc<Child>>,
    /// The exit steps have run in this process (they run once).
    exiting: bool,
}

static CHILDREN: Mutex<Children> = Mutex::new(Children {
    list: Vec::new(),
    exiting: false,
});

fn children() -> MutexGuard<'static, Children> {
    CHILDREN.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn add(child: Arc<Child>) {
    children().list.push(child);
}

/// Forget a child that `join` has reaped, as CPython's `join` does: the
/// list holds only children that may still need reaping, and does not grow
/// with every child ever started.
pub(crate) fn remove(child: &Arc<Child>) {
    children().list.retain(|c| !Arc::ptr_eq(c, child));
}

/// The children still running, reaping (and forgetting) those that ended.
pub(crate) fn alive() -> Vec<Arc<Child>> {
    let all: Vec<Arc<Child>> = children().list.clone();
    // Poll without holding the lock: polling locks each child's own state.
    let alive: Vec<Arc<Child>> = all.into_iter().filter(|c| c.alive()).collect();
    children()
        .list
        .retain(|c| alive.iter().any(|a| Arc::ptr_eq(a, c)));
    alive
}

/// Called in a freshly forked child: its parent's children are not its own,
/// and its own exit steps have not run.
///
/// The parent's list is forgotten, not dropped: this is the child's copy,
/// and dropping it would write to every entry's page (see
/// `current::become_child` for why a child writes as little as it can).
pub(crate) fn forget_after_fork() {
    let mut children = children();
    std::mem::forget(std::mem::take(&mut children.list));
    children.exiting = false;
}

/// Make sure the exit steps run when `main` returns (see [`exit_function`]).
///
/// CPython registers `multiprocessing.util._exit_function` with `atexit`
/// when the module is imported. We register ours with C's `atexit`, which
/// runs after Rust's `main` returns or `std::process::exit` is called.
pub(crate) fn ensure_exit_hook() {
    static HOOK: Once = Once::new();
    extern "C" fn at_exit() {
        // Unwinding out of an `extern "C"` function aborts: stop it here.
        let _ = std::panic::catch_unwind(exit_function);
        flush_stdout();
    }
    HOOK.call_once(|| {
        // A timeline asked for by the environment registers its own first,
        // so that it runs after these steps (the last registered runs
        // first) and draws their joins too.
        crate::timeline::from_env();
        sys::at_exit(at_exit);
    });
}

/// What a process does on its way out, in CPython 3.11's order and words:
/// terminate live daemon children, then join every child still alive.
pub(crate) fn exit_function() {
    if std::mem::replace(&mut children().exiting, true) {
        return;
    }
    log::info!("process shutting down");
    log::debug!("running all \"atexit\" finalizers with priority >= 0");
    for child in alive().iter().filter(|c| c.daemon) {
        log::info!("calling terminate() for daemon {}", child.name());
        let _ = child.signal(Signal::SIGTERM, "terminate");
    }
    for child in alive() {
        log::info!("calling join() for process {}", child.name());
        let _ = child.wait(None);
        remove(&child);
    }
    log::debug!("running the remaining \"atexit\" finalizers");
}

/// Helpers this process started and nobody joins (a fork server, a spare
/// found dead, a resource tracker), not yet reaped: by pidfd, never by
/// number, as a number that someone else reaped may be one of our own
/// children's by now, whose exit code a `waitpid` would take. (A number
/// is kept only until a pidfd of it can be made: no descriptor was free.)
static HELPERS: Mutex<Vec<(Pid, Option<OwnedFd>)>> = Mutex::new(Vec::new());

/// Reap helper `pid` once it has ended, without ever waiting for it: at
/// the next look (below), or by init if it outlives this process.
pub(crate) fn reap_later(pid: Pid) {
    HELPERS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((pid, None));
    reap_ended_helpers();
}

/// Reap the helpers that have ended (killed, say): none stays a zombie
/// past the next look.
pub(crate) fn reap_ended_helpers() {
    let mut helpers = HELPERS.lock().unwrap_or_else(|p| p.into_inner());
    helpers.retain_mut(|(pid, pidfd)| {
        let pidfd = match pidfd {
            Some(pidfd) => pidfd,
            None => match pidfd_open(pid.as_raw()) {
                Ok(opened) => pidfd.insert(opened),
                // Reaped elsewhere; or a kernel without pidfds (before 5.3),
                // where it stays a zombie rather than be waited on by number.
                Err(Errno::ESRCH | Errno::ENOSYS) => return false,
                Err(_) => return true, // no descriptor free: next time
            },
        };
        !sys::reap_if_ended(pidfd.as_fd())
    });
}
