//! [`Process`]: Python's `multiprocessing.Process` over `fork` and `waitpid`.
//!
//! The process core, one file per side:
//!
//! - `current.rs`: this process: its name, identity and parent;
//! - `parent_side.rs`: what a parent knows of a child it started
//!   (`waitpid`, `kill`, the exit steps);
//! - `child_side.rs`: a child's side of `start`, forked or spawned;
//! - `spawn.rs`: the start methods, and a child that is a fresh run of the
//!   program;
//! - this file: the [`Process`] object, `fork` and `start`.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::{ForkResult, fork};

pub(crate) mod child_side;
pub mod current;
pub(crate) mod forkserver;
pub(crate) mod parent_side;
pub mod spawn;

use child_side::{BoxedTarget, die_with_parent, ensure_panic_hook, run_target};
use parent_side::Child;
use spawn::{Recipe, StartMethod, Target};

use crate::Error;
use crate::codec::Arg;
use crate::py::py_repr;
use crate::returns::Outcome;
use crate::sys;

/// The "subclass `Process` and override `run()`" style.
///
/// Implement `run` on your own type, then call
/// [`into_process`](Run::into_process). The default name comes from the
/// type, as in Python: a type `Worker` gives `Worker-1`, `Worker-2`, …
pub trait Run: Sized + 'static {
    /// The work the child does (Python's `run(self)`).
    fn run(&mut self);

    /// A name of its own (Python: `self.name = ...` in `__init__`);
    /// `None` keeps the default, `<TypeName>-N`.
    fn name(&self) -> Option<String> {
        None
    }

    /// Wrap this value in a [`Process`], ready to `start`.
    fn into_process(mut self) -> Process {
        let name = self.name();
        // `my_crate::Worker<alloc::string::String>` is called `Worker`.
        let class = crate::returns::type_name::<Self>();
        let process = Process::with_class(
            class,
            Box::new(move || {
                self.run();
                Ok(())
            }),
        );
        match name {
            Some(name) => process.named(name),
            None => process,
        }
    }
}

/// A child process, started by `fork` and reaped by `waitpid`.
///
/// ```
/// use shared::Process;
///
/// fn worker(num: i32) {
///     println!("Worker: {num}");
/// }
///
/// # fn main() -> Result<(), shared::Error> {
/// let mut p = Process::new(move || worker(7)); // Python: Process(target=worker, args=(7,))
/// p.start()?;
/// p.join()?;
/// assert_eq!(p.exitcode(), Some(0));
/// # Ok(())
/// # }
/// ```
pub struct Process {
    inner: Arc<Child>,
    /// The code the child runs; taken by `start`.
    target: Option<BoxedTarget>,
    /// The same as a function and its encoded argument, for a spawned
    /// child; `None` for a closure, which cannot be spawned.
    recipe: Option<Recipe>,
    /// `None`: the program-wide start method, as it is at `start`.
    method: Option<StartMethod>,
}

impl Process {
    /// A process that will run `target`; arguments are whatever it captures.
    ///
    /// The name is `Process-N`, N counting every process object created in
    /// this process so far, named or not.
    pub fn new<F, R>(target: F) -> Process
    where
        F: FnOnce() -> R + 'static,
        R: Outcome,
    {
        let target = move || target().failure().map_or(Ok(()), Err);
        Process::with_class("Process", Box::new(target))
    }

    /// A process that will run `target(args)` (Python's
    /// `Process(target=f, args=(a,))`): a function named by its path, or a
    /// closure that captures nothing, and its argument (a tuple for
    /// several). Unlike [`new`](Self::new)'s closure, it can be spawned
    /// (see [`StartMethod`]), the argument travelling encoded, as CPython
    /// pickles it; forked, it is called with the argument as it is.
    pub fn with_args<F: Target<A>, A: Arg>(target: F, args: A) -> Process {
        Process::with_class_args("Process", target, args)
    }

    pub(crate) fn with_class_args<F: Target<A>, A: Arg>(
        class: &str,
        target: F,
        args: A,
    ) -> Process {
        // One argument for two ways: forked, the target takes it as it is;
        // spawned, the recipe encodes it, at `start`.
        let args = Rc::new(RefCell::new(Some(args)));
        let recipe = Recipe::new(&target, Rc::clone(&args));
        let run = move || match args.borrow_mut().take() {
            Some(args) => target.call(args).failure().map_or(Ok(()), Err),
            None => Err("the argument was taken already".to_owned()),
        };
        let mut process = Process::with_class(class, Box::new(run));
        process.recipe = Some(recipe);
        process
    }

    /// Start it by `method`, whatever the program-wide one (what a
    /// [`Context`](crate::process::spawn::Context) does for its processes).
    pub fn start_method(mut self, method: StartMethod) -> Process {
        self.method = Some(method);
        self
    }

    /// A process whose default name starts with `class` (`Worker-1`,
    /// `ForkPoolWorker-3`).
    pub(crate) fn with_class(class: &str, target: BoxedTarget) -> Process {
        let identity = current::next_identity();
        let numbers: Vec<String> = identity.iter().map(usize::to_string).collect();
        let name = format!("{class}-{}", numbers.join(":"));
        // CPython: `daemon=None` takes the creator's flag.
        let inner = Child::new(class, name, identity, current::is_daemon());
        Process {
            inner: Arc::new(inner),
            target: Some(target),
            recipe: None,
            method: None,
        }
    }

    pub(crate) fn from_inner(inner: Arc<Child>) -> Process {
        Process {
            inner,
            target: None,
            recipe: None,
            method: None,
        }
    }

    /// Give the process a name (Python's `name=` argument). The number
    /// `Process-N` would have had is used up all the same.
    pub fn named(mut self, name: impl Into<String>) -> Process {
        if let Err(e) = self.set_name(name) {
            self.refused("named", "set_name", &e); // it was closed
        }
        self
    }

    /// Make it a daemon (Python's `daemon=True`): terminated, not waited
    /// for, when the main process exits; not allowed children of its own.
    /// Before `start` only: after it the flag stays as it was, and the
    /// refusal is printed on stderr ([`set_daemon`](Self::set_daemon)
    /// returns it instead).
    pub fn daemon(mut self, daemon: bool) -> Process {
        if let Err(e) = self.set_daemon(daemon) {
            self.refused("daemon", "set_daemon", &e);
        }
        self
    }

    /// A builder cannot return its error, and must not pass over it in
    /// silence: it says so on stderr, as a Python warning would.
    fn refused(&self, builder: &str, checked: &str, e: &Error) {
        let name = self.name();
        eprintln!(
            "{name}: {builder}() refused: {e}; nothing changed (`{checked}` returns this error)"
        );
    }

    /// Python's `p.name = name`. As in CPython this works after `start`
    /// too, and renames only this object (and what `active_children`
    /// lists): the running child keeps the name it started with.
    pub fn set_name(&mut self, name: impl Into<String>) -> Result<(), Error> {
        self.check_open()?;
        self.inner.status().name = name.into().into();
        Ok(())
    }

    /// Python's `p.daemon = flag`: after `start`, [`Error::HasStarted`], as
    /// CPython's "process has already started".
    pub fn set_daemon(&mut self, daemon: bool) -> Result<(), Error> {
        self.unstarted()?.daemon = daemon;
        Ok(())
    }

    fn unstarted(&mut self) -> Result<&mut Child, Error> {
        self.check_open()?;
        // Only an unstarted process holds its record alone: `start` shares
        // it with the list of children.
        match self.target {
            Some(_) => Arc::get_mut(&mut self.inner).ok_or(Error::HasStarted),
            None => Err(Error::HasStarted),
        }
    }

    /// The process's name.
    pub fn name(&self) -> String {
        self.inner.name().to_string()
    }

    /// Whether it is a daemon.
    pub fn is_daemon(&self) -> bool {
        self.inner.daemon
    }

    /// The child's process id, once started.
    pub fn pid(&self) -> Option<u32> {
        self.inner.status().pid.map(|pid| pid.as_raw() as u32)
    }

    /// Start the child: by `fork` (the default), then run the target in
    /// the child; or by `spawn` (see [`StartMethod`]).
    ///
    /// A fork is refused ([`Error::Threads`]) while this process runs other
    /// threads: `fork` copies only the calling thread, so a lock another
    /// thread held at that moment (the allocator's, stdout's, a log's)
    /// stays locked for ever in the child, which hangs when it takes it.
    /// Start processes and pools before starting threads, or spawn.
    pub fn start(&mut self) -> Result<(), Error> {
        spawn::check_bootstrapped()?;
        match self.method.unwrap_or_else(spawn::get_start_method) {
            StartMethod::Spawn | StartMethod::Forkserver => return self.start_spawned(),
            StartMethod::Fork => {}
        }
        let threads = sys::thread_count().map_err(|_| Error::ThreadsUnknown)?;
        if threads > 1 {
            return Err(Error::Threads(threads));
        }
        // SAFETY: this process has one thread, as checked just above.
        unsafe { self.start_unchecked() }
    }

    /// [`start`](Self::start) by `fork`, without counting threads.
    ///
    /// # Safety
    ///
    /// Until the child execs or exits, no lock that it takes may be held by
    /// another thread of this process at the moment of the `fork`: not the
    /// allocator's (any `Box`, `String` or `Vec`), not stdout's or stderr's,
    /// not the logger's, not `shared`'s own. In practice: the other threads
    /// are parked, or only compute, while this runs.
    pub unsafe fn start_unchecked(&mut self) -> Result<(), Error> {
        self.check_startable()?;
        ensure_panic_hook();
        // Anything still buffered would be copied into the child and printed twice.
        current::flush_stdout();
        let (inner, name) = (&self.inner, self.inner.name());
        let me = current::child_state(&name, &inner.identity, inner.daemon);
        // Its start, for a timeline: before the fork, as the child may even
        // have ended by the time the parent is back.
        let began = crate::timeline::now_if_on();
        // SAFETY: after `fork` the child is a copy with one thread; no other
        // thread held a lock it will take (the caller's promise, or `start`'s
        // count).
        match unsafe { fork() }? {
            ForkResult::Parent { child } => {
                self.started(child, began);
                Ok(())
            }
            ForkResult::Child => {
                let target = self.target.take().expect("checked above");
                bootstrap(&self.inner, &name, me, target)
            }
        }
    }

    /// The spawned counterpart of [`start_unchecked`](Self::start_unchecked),
    /// by `spawn` or by the fork server.
    fn start_spawned(&mut self) -> Result<(), Error> {
        self.check_startable()?;
        let recipe = self.recipe.as_ref().ok_or(Error::NotSpawnable)?;
        let inner = &self.inner;
        let began = crate::timeline::now_if_on();
        let (name, identity, daemon) = (inner.name(), &inner.identity, inner.daemon);
        let pid = match self.method.unwrap_or_else(spawn::get_start_method) {
            StartMethod::Forkserver => spawn::forkserver_start(recipe, &name, identity, daemon)?,
            _ => spawn::spawn(recipe, &name, identity, daemon)?,
        };
        self.started(pid, began);
        Ok(())
    }

    fn check_startable(&self) -> Result<(), Error> {
        self.check_open()?;
        spawn::check_bootstrapped()?;
        if self.target.is_none() {
            return Err(Error::AlreadyStarted);
        }
        // A copy that reached a child (inside a closure, say) is not the
        // child's to start: its grandchild would be nobody's to reap.
        if self.inner.parent_pid != std::process::id() {
            return Err(Error::CreatedElsewhere);
        }
        if current::is_daemon() {
            return Err(Error::DaemonChildren);
        }
        crate::timeline::from_env();
        parent_side::ensure_exit_hook();
        Ok(())
    }

    /// The child `pid` runs, started at `began` (for a timeline): record
    /// it, for `join` and the exit steps.
    fn started(&mut self, pid: nix::unistd::Pid, began: Option<u64>) {
        self.target = None; // the child has its own copy; ours is spent
        self.recipe = None;
        self.inner.status().pid = Some(pid);
        crate::timeline::started(pid.as_raw() as u32, &self.inner.name(), began);
        parent_side::add(Arc::clone(&self.inner));
    }

    /// Wait until the child exits (Python's `join()`).
    pub fn join(&self) -> Result<(), Error> {
        self.check_parent("join")?;
        let waited = self.inner.wait(None);
        if matches!(waited, Ok(_) | Err(Error::Unreapable)) {
            parent_side::remove(&self.inner); // CPython: _children.discard(self)
        }
        waited.map(drop)
    }

    /// Wait at most `timeout` (Python's `join(timeout)`). Returns `Ok` either
    /// way, as Python does: ask [`is_alive`](Self::is_alive) or
    /// [`exitcode`](Self::exitcode) which it was.
    pub fn join_timeout(&self, timeout: Duration) -> Result<(), Error> {
        self.check_parent("join")?;
        if self.inner.wait(Some(timeout))?.is_some() {
            parent_side::remove(&self.inner);
        }
        Ok(())
    }

    /// Whether the child has been started and not yet reaped.
    ///
    /// Like Python's, this polls the child with `waitpid(WNOHANG)`, so a
    /// child that has finished is reaped here. Right after
    /// [`terminate`](Self::terminate) or [`kill`](Self::kill) it is usually,
    /// not always, still `true`: the signal is asynchronous, and
    /// [`join`](Self::join) is how you wait for it.
    pub fn is_alive(&self) -> bool {
        self.inner.alive()
    }

    /// `None` until the child is reaped; then 0 for a normal return, the code
    /// given to [`crate::exit`], 1 for an error or panic, `-N` for signal N.
    pub fn exitcode(&self) -> Option<i32> {
        self.inner.poll()
    }

    /// Send SIGTERM (Python's `terminate()`). Returns at once: join to wait.
    pub fn terminate(&self) -> Result<(), Error> {
        self.inner.signal(Signal::SIGTERM, "terminate")
    }

    /// Send SIGKILL (Python's `kill()`), which cannot be caught.
    pub fn kill(&self) -> Result<(), Error> {
        self.inner.signal(Signal::SIGKILL, "kill")
    }

    /// A descriptor that becomes readable when the child ends (Python's
    /// `sentinel`), to wait for several things at once with
    /// [`ipc::wait`](crate::ipc::wait). It is a *pidfd* (`pidfd_open(2)`):
    /// the kernel's handle on a process, readable once it has exited. For a
    /// child already reaped, an already-readable descriptor.
    pub fn sentinel(&self) -> Result<std::os::fd::OwnedFd, Error> {
        self.check_open()?;
        let status = self.inner.status();
        let pid = status.pid.ok_or(Error::NotStarted("wait for"))?;
        if status.exitcode.is_some() || status.lost {
            // Its pid may be someone else's now: a pipe with no writer
            // left is readable (end-of-file) at once.
            let (reader, _writer) = std::io::pipe()?;
            return Ok(reader.into());
        }
        // The child is ours and not reaped, so its pid is still its own.
        Ok(sys::pidfd_open(pid.as_raw())?)
    }

    /// Send SIGINT, as Ctrl-C would (Python 3.14's `interrupt()`): a Rust
    /// child without a handler for it dies with exit code -2.
    pub fn interrupt(&self) -> Result<(), Error> {
        self.inner.signal(Signal::SIGINT, "interrupt")
    }

    /// Release the process object (Python's `close()`): refused with
    /// [`Error::StillRunning`] while the child runs; afterwards every call
    /// that can fail says [`Error::ProcessClosed`], `is_alive` is `false`,
    /// and `pid` and `exitcode` are `None`, nothing being known any more.
    pub fn close(&mut self) -> Result<(), Error> {
        if self.inner.alive() {
            return Err(Error::StillRunning);
        }
        self.target = None;
        parent_side::remove(&self.inner);
        let mut status = self.inner.status();
        *status = parent_side::Status {
            name: std::mem::take(&mut status.name), // it keeps its name
            closed: true,
            ..Default::default()
        };
        Ok(())
    }

    fn check_open(&self) -> Result<(), Error> {
        match self.inner.status().closed {
            true => Err(Error::ProcessClosed),
            false => Ok(()),
        }
    }

    fn check_parent(&self, verb: &'static str) -> Result<(), Error> {
        self.check_open()?;
        if self.inner.parent_pid != std::process::id() {
            return Err(Error::NotAChild);
        }
        if self.pid().is_none() {
            return Err(Error::NotStarted(verb));
        }
        Ok(())
    }
}

/// CPython 3.11's repr, e.g. `<Process name='Process-1' pid=42 parent=41 started>`.
impl fmt::Display for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exitcode = self.exitcode(); // polls, as Python's repr does
        let pid = self.pid();
        write!(
            f,
            "<{} name={}",
            self.inner.class,
            py_repr(&self.inner.name())
        )?;
        if let Some(pid) = pid {
            write!(f, " pid={pid}")?;
        }
        write!(f, " parent={}", self.inner.parent_pid)?;
        match (pid, exitcode) {
            _ if self.inner.status().closed => f.write_str(" closed")?,
            (None, _) => f.write_str(" initial")?,
            (Some(_), None) => f.write_str(" started")?,
            (Some(_), Some(code)) => {
                f.write_str(" stopped exitcode=")?;
                match Signal::try_from(-code) {
                    Ok(sig) if code < 0 => write!(f, "-{}", sig.as_str())?,
                    _ => write!(f, "{code}")?,
                }
            }
        }
        if self.inner.daemon {
            f.write_str(" daemon")?;
        }
        f.write_str(">")
    }
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The child's side of `start`: CPython's `Process._bootstrap`.
fn bootstrap(inner: &Child, name: &str, me: current::ChildState, target: BoxedTarget) -> ! {
    let parent_pid = inner.parent_pid;
    current::become_child(me);
    spawn::started_by(StartMethod::Fork);
    parent_side::forget_after_fork();
    forkserver::forget_after_fork();
    sys::set_thread_name(name); // what `ps` and `top` show
    if inner.daemon {
        die_with_parent(parent_pid);
    }
    let code = run_target(name, target);
    current::flush_stdout();
    // At once: the parent's `atexit` work and Rust's runtime clean-up must
    // not run twice.
    sys::exit_now(code)
}

/// The processes of a context (Python's `ctx.Process`).
impl crate::process::spawn::Context {
    /// A process that runs `target(args)` started by this context's method
    /// (Python's `ctx.Process(target=f, args=(a,))`). Its default name is
    /// CPython's for the context's class: `ForkProcess-N`, `SpawnProcess-N`.
    pub fn process<F: Target<A>, A: Arg>(&self, target: F, args: A) -> Process {
        let class = match self.start_method() {
            StartMethod::Fork => "ForkProcess",
            StartMethod::Spawn => "SpawnProcess",
            StartMethod::Forkserver => "ForkServerProcess",
        };
        Process::with_class_args(class, target, args).start_method(self.start_method())
    }
}

/// Children started by this process that are still running (Python's
/// `active_children()`). Like Python's, it reaps those that have finished,
/// so calling it also clears away zombies.
pub fn active_children() -> Vec<Process> {
    parent_side::alive()
        .into_iter()
        .map(Process::from_inner)
        .collect()
}
