//! Who am I? The current process's name, its parent, its children, and what
//! happens when it exits.
//!
//! Python keeps this in `multiprocessing.process._current_process`,
//! `_children` and a counter. We keep the same three things in one static.
//! `fork` copies the whole address space, so a child starts with its
//! parent's copy; `become_child` then rewrites it to describe the child.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once};

use crate::process::Inner;

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
            crate::process::py_repr(&self.name)
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
    name: String,
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
        // SAFETY: pidfd_open takes a pid and flags and returns a new
        // descriptor or -1; the pid is still our parent's (checked above).
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, self.pid as libc::c_int, 0) };
        if fd < 0 {
            let errno = nix::errno::Errno::last();
            // It exited between the check and the call.
            return if errno == nix::errno::Errno::ESRCH {
                Ok(())
            } else {
                Err(errno.into())
            };
        }
        // SAFETY: a descriptor the kernel just made for us alone.
        let pidfd: std::os::fd::OwnedFd = unsafe { std::os::fd::FromRawFd::from_raw_fd(fd as i32) };
        crate::ipc::wait(&[std::os::fd::AsFd::as_fd(&pidfd)], timeout).map(drop)
    }
}

/// Everything the current process knows about itself.
struct State {
    /// `None` in the main process: its name is `MainProcess`.
    name: Option<String>,
    /// `[]` in the main process, `[3]` in `Process-3`, `[3, 1]` in `Process-3:1`.
    identity: Vec<usize>,
    daemon: bool,
    parent: Option<ParentProcess>,
    /// How many process objects this process has created (named or not).
    counter: usize,
    /// Children started here and not yet known to be reaped.
    children: Vec<Arc<Inner>>,
}

static STATE: Mutex<State> = Mutex::new(State {
    name: None,
    identity: Vec::new(),
    daemon: false,
    parent: None,
    counter: 0,
    children: Vec::new(),
});

/// Set once the exit steps have run in this process, so they run only once.
static EXITING: AtomicBool = AtomicBool::new(false);

fn state() -> MutexGuard<'static, State> {
    // A panic elsewhere while holding the lock leaves the data intact for us.
    STATE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The current process: its name, pid and daemon flag.
pub fn current_process() -> CurrentProcess {
    let s = state();
    CurrentProcess {
        name: s.name.clone().unwrap_or_else(|| "MainProcess".to_owned()),
        pid: std::process::id(),
        daemon: s.daemon,
        parent_pid: s.parent.as_ref().map(|p| p.pid),
    }
}

/// The parent of the current process, or `None` in the main process.
pub fn parent_process() -> Option<ParentProcess> {
    state().parent.clone()
}

/// Children started by this process that are still running.
///
/// Like Python's `active_children()`, this reaps children that have finished,
/// so calling it also clears away zombies.
pub fn active_children() -> Vec<crate::Process> {
    let all: Vec<Arc<Inner>> = state().children.clone();
    // Poll without holding the lock: polling locks each child's own state.
    let alive: Vec<Arc<Inner>> = all.into_iter().filter(|c| c.alive()).collect();
    state()
        .children
        .retain(|c| alive.iter().any(|a| Arc::ptr_eq(a, c)));
    alive.into_iter().map(crate::Process::from_inner).collect()
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
    let mut identity = s.identity.clone();
    identity.push(s.counter);
    identity
}

pub(crate) fn is_daemon() -> bool {
    state().daemon
}

pub(crate) fn is_child() -> bool {
    state().parent.is_some()
}

pub(crate) fn add_child(child: Arc<Inner>) {
    state().children.push(child);
}

/// Forget a child that `join` has reaped, as CPython's `join` does. Every
/// child forked later would otherwise inherit, and drop, the whole list,
/// and each dropped entry costs it a copy-on-write page fault.
pub(crate) fn remove_child(child: &Arc<Inner>) {
    state().children.retain(|c| !Arc::ptr_eq(c, child));
}

/// Called in a freshly forked child: describe the child, not the parent.
/// The child has no children yet, and its counter starts again at 1.
pub(crate) fn become_child(name: &str, identity: &[usize], daemon: bool, parent_pid: u32) {
    let mut s = state();
    let parent_name = s.name.clone().unwrap_or_else(|| "MainProcess".to_owned());
    s.parent = Some(ParentProcess {
        name: parent_name,
        pid: parent_pid,
    });
    s.name = Some(name.to_owned());
    s.identity = identity.to_vec();
    s.daemon = daemon;
    s.counter = 0;
    s.children.clear();
    EXITING.store(false, Ordering::SeqCst);
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
        flush_std_streams();
    }
    HOOK.call_once(|| {
        // SAFETY: `at_exit` is a plain function that lives as long as the
        // program; `atexit` only records its address.
        unsafe { libc::atexit(at_exit) };
    });
}

/// What a process does on its way out, in CPython 3.11's order and words:
/// terminate live daemon children, then join every child still alive.
pub(crate) fn exit_function() {
    if EXITING.swap(true, Ordering::SeqCst) {
        return;
    }
    log::info!("process shutting down");
    log::debug!("running all \"atexit\" finalizers with priority >= 0");
    for child in active_children() {
        if child.is_daemon() {
            log::info!("calling terminate() for daemon {}", child.name());
            let _ = child.terminate();
        }
    }
    for child in active_children() {
        log::info!("calling join() for process {}", child.name());
        let _ = child.join();
    }
    log::debug!("running the remaining \"atexit\" finalizers");
}

/// Flush Rust's buffered stdout (and stderr, for symmetry).
///
/// How many threads this process runs (the entries of `/proc/self/task`).
///
/// A thread that has just been joined may still be listed for a moment
/// (the kernel lets its joiner go before it has quite left), so a count
/// above one is looked at again, briefly, before it is believed.
pub(crate) fn thread_count() -> usize {
    let count = || std::fs::read_dir("/proc/self/task").map_or(1, |tasks| tasks.count());
    let mut threads = count();
    for _ in 0..1000 {
        if threads == 1 {
            break;
        }
        std::thread::yield_now();
        threads = count();
    }
    threads
}

/// Done before `fork`, or the child inherits a copy of a half-written line
/// and both processes print it; and before a child leaves with `_exit`,
/// which skips Rust's own flushing.
pub(crate) fn flush_std_streams() {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
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
