//! Who am I? The current process's name, identity and parent, and how it
//! leaves.
//!
//! Python keeps this in `multiprocessing.process._current_process` and a
//! counter; we keep the same in one static. `fork` copies the whole address
//! space, so a child starts with its parent's copy; `become_child` then
//! puts in its place the child's description, which the parent made just
//! before the fork. (What a process knows of its own children is in
//! `child.rs`.)

use std::fmt;
use std::io::Write;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

/// The current process as its own code sees it (Python's
/// `multiprocessing.current_process()`).
#[derive(Clone, Debug)]
pub struct CurrentProcess {
    name: String,
    pid: u32,
    daemon: bool,
    parent_pid: Option<u32>,
}

impl CurrentProcess {
    /// `MainProcess`, `Process-1`, `Process-3:1`, or the name it was given.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// This process's id (Python's `os.getpid()`).
    pub fn pid(&self) -> u32 {
        self.pid
    }
    /// Whether this process was started as a daemon.
    pub fn daemon(&self) -> bool {
        self.daemon
    }
    /// Always `true`: this code is running (Python's `is_alive()`).
    pub fn is_alive(&self) -> bool {
        true
    }
    /// Always `None`: it has not exited yet (Python's `exitcode`).
    pub fn exitcode(&self) -> Option<i32> {
        None
    }
}

/// CPython 3.11's repr: `<_MainProcess name='MainProcess' parent=None started>`
/// in the main process, `<Process name='Process-1' parent=1234 started>` in a child.
impl fmt::Display for CurrentProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let class = if self.parent_pid.is_none() {
            "_MainProcess"
        } else {
            "Process"
        };
        write!(
            f,
            "<{class} name={} parent=",
            crate::py::py_repr(&self.name)
        )?;
        match self.parent_pid {
            Some(pid) => write!(f, "{pid}")?,
            None => f.write_str("None")?,
        }
        f.write_str(" started")?;
        if self.daemon {
            f.write_str(" daemon")?;
        }
        f.write_str(">")
    }
}

/// The process that started this one (Python's `parent_process()`).
#[derive(Clone, Debug)]
pub struct ParentProcess {
    name: Arc<str>,
    pid: u32,
}

impl ParentProcess {
    /// The parent's name, e.g. `MainProcess`.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The parent's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the parent still runs (Python's `is_alive()`): a process
    /// whose parent dies is adopted by another, so its `getppid` changes.
    /// (A fork server's child is its parent's too: see `forkserver.rs`.)
    pub fn is_alive(&self) -> bool {
        nix::unistd::getppid().as_raw() as u32 == self.pid
    }

    /// Wait until the parent has exited (Python's `join()`, which waits on
    /// the parent's sentinel).
    pub fn join(&self) -> Result<(), crate::Error> {
        self.join_timeout(std::time::Duration::MAX)
    }

    /// Wait at most `timeout` for the parent to exit; look at
    /// [`is_alive`](Self::is_alive) to know which happened. It sleeps in
    /// the kernel on a pidfd of the parent (`pidfd_open(2)`), which turns
    /// readable when the parent exits.
    pub fn join_timeout(&self, timeout: std::time::Duration) -> Result<(), crate::Error> {
        if !self.is_alive() {
            return Ok(());
        }
        let pidfd = match crate::sys::pidfd_open(self.pid as i32) {
            Ok(pidfd) => pidfd,
            Err(nix::errno::Errno::ESRCH) => return Ok(()), // it exited just now
            Err(errno) => return Err(errno.into()),
        };
        let wait = crate::sys::Wait::timeout(timeout);
        Ok(crate::sys::wait_readable(&[std::os::fd::AsFd::as_fd(&pidfd)], wait).map(drop)?)
    }
}

/// Everything the current process knows about itself. The name and
/// identity are `Arc`s shared with the parent's record of this child, so
/// that a child takes them over without allocating (see [`become_child`]).
struct ThisProcess {
    /// `None` in the main process: its name is `MainProcess`.
    name: Option<Arc<str>>,
    /// `[3]` in `Process-3`, `[3, 1]` in `Process-3:1`; `None` (no numbers)
    /// in the main process.
    identity: Option<Arc<[usize]>>,
    daemon: bool,
    parent: Option<ParentProcess>,
    /// How many process objects this process has created (named or not).
    counter: usize,
}

static STATE: Mutex<ThisProcess> = Mutex::new(ThisProcess {
    name: None,
    identity: None,
    daemon: false,
    parent: None,
    counter: 0,
});

/// The main process's name, made once: a child's parent may be it.
static MAIN_PROCESS: LazyLock<Arc<str>> = LazyLock::new(|| "MainProcess".into());

fn state() -> MutexGuard<'static, ThisProcess> {
    // A panic elsewhere while holding the lock leaves the data intact for us.
    STATE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The current process: its name, pid and daemon flag.
pub fn current_process() -> CurrentProcess {
    let s = state();
    CurrentProcess {
        name: s.name.as_deref().unwrap_or("MainProcess").to_owned(),
        pid: std::process::id(),
        daemon: s.daemon,
        parent_pid: s.parent.as_ref().map(|p| p.pid),
    }
}

/// The parent of the current process, or `None` in the main process.
pub fn parent_process() -> Option<ParentProcess> {
    state().parent.clone()
}

/// The number of CPUs (Python's `cpu_count()`).
pub fn cpu_count() -> usize {
    num_cpus::get()
}

/// The next identity for a new process object: the current process's
/// identity plus the next number of its counter.
pub(crate) fn next_identity() -> Vec<usize> {
    let mut s = state();
    s.counter += 1;
    let mut identity = s.identity.as_deref().unwrap_or_default().to_vec();
    identity.push(s.counter);
    identity
}

pub(crate) fn is_daemon() -> bool {
    state().daemon
}

pub(crate) fn is_child() -> bool {
    state().parent.is_some()
}

/// What a child will know of itself, made by the parent before `fork`:
/// see [`become_child`].
pub(crate) struct ChildState(ThisProcess);

/// The state of a child named `name`, whose parent is this process. It
/// shares what it holds (`Arc`s): making it allocates nothing.
pub(crate) fn child_state(name: &Arc<str>, identity: &Arc<[usize]>, daemon: bool) -> ChildState {
    let s = state();
    let parent = ParentProcess {
        name: s.name.clone().unwrap_or_else(|| MAIN_PROCESS.clone()),
        pid: std::process::id(),
    };
    ChildState(ThisProcess {
        name: Some(Arc::clone(name)),
        identity: Some(Arc::clone(identity)),
        daemon,
        parent: Some(parent),
        counter: 0, // a child counts its own children from 1
    })
}

/// Called in a freshly forked child: describe the child, not the parent.
///
/// It allocates and frees nothing. Every page a child writes is copied for
/// it first (copy-on-write, a few microseconds each), and malloc's
/// bookkeeping would add several: so the state was built by the parent,
/// and the parent's is forgotten here, not dropped (it is this child's
/// copy, and goes when the child exits).
pub(crate) fn become_child(child: ChildState) {
    std::mem::forget(std::mem::replace(&mut *state(), child.0));
}

/// Called in a spawned child, whose parent sent it all this: see
/// `spawn::freeze_support`.
pub(crate) fn become_spawned(
    name: String,
    identity: Vec<usize>,
    daemon: bool,
    parent_pid: u32,
    parent_name: String,
) {
    *state() = ThisProcess {
        name: Some(name.into()),
        identity: Some(identity.into()),
        daemon,
        parent: Some(ParentProcess {
            name: parent_name.into(),
            pid: parent_pid,
        }),
        counter: 0,
    };
}

/// Flush Rust's buffered stdout. (Its stderr is unbuffered: nothing waits
/// there.)
///
/// Done before `fork`, or the child inherits a copy of a half-written line
/// and both processes print it; and before a child leaves with `_exit`,
/// which skips Rust's own flushing.
pub(crate) fn flush_stdout() {
    let _ = std::io::stdout().flush();
}

/// Leave the current process with `code` (Python's `sys.exit(code)`).
///
/// In a child started by [`Process`](crate::Process) this unwinds back to the
/// child's start-up code, which logs and exits with `code` just as CPython
/// does for `SystemExit`. In the main process it is `std::process::exit`,
/// which still runs the exit steps: daemons terminated, children joined.
pub fn exit(code: i32) -> ! {
    if is_child() {
        // `resume_unwind` skips the panic hook: no "panicked at" message.
        std::panic::resume_unwind(Box::new(ExitRequest(code)))
    }
    std::process::exit(code)
}

/// The payload [`exit`] unwinds with in a child.
pub(crate) struct ExitRequest(pub(crate) i32);
