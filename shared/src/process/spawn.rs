//! Start methods: `fork` (the default), `spawn` and `forkserver` (its
//! server in `forkserver.rs`), as CPython's `set_start_method`,
//! `get_context` and `freeze_support`.
//!
//! **`spawn`.** The child is not a copy of the parent but a fresh run of
//! the same executable (`posix_spawn` of `/proc/self/exe`), as CPython's
//! spawn starts a fresh interpreter. It shares nothing with the parent:
//! no memory, no threads, no locks, so it may be started from a program
//! that runs threads, where `fork` is refused. The price is the start:
//! the kernel loads the program again, and the child must be told what to
//! run.
//!
//! **How the child learns its task.** The parent writes a `Briefing` (the
//! child's name, its identity, whether it is a daemon, its parent, how to
//! log, the function and the encoded argument) into a sealed memory file,
//! and starts the child with that file as its descriptor 3, the writing
//! end of a pipe as its descriptor 4, and `--multiprocessing-fork` as its
//! first argument, the marker CPython's spawned children carry. The
//! child's [`freeze_support`], the first line of its `main`, sees the
//! marker, checks that its descriptor 3 is a sealed memory file (a program
//! run by hand with that argument has none), reads its briefing, writes one
//! byte to the pipe and closes it; the parent's `start` returns when it
//! reads that byte. A child that ends before (it crashed, or its `main`
//! does not call `freeze_support`) never writes it, and `start`, which
//! watches the child's end (its pidfd) beside the pipe, returns an error
//! with the child's exit code. The child then runs the function, exactly
//! as a forked child runs its target (the same log lines, panics and exit
//! codes), and leaves; it never returns into `main`. Without the marker,
//! `freeze_support` returns at once. CPython's spawn tells its child where
//! to read its task the same way, as a descriptor number on the command
//! line (`pipe_handle=`).
//!
//! The child starts with an empty signal mask and SIGPIPE at its default
//! action, as the standard library's `Command` starts one, whatever the
//! spawning thread blocks: a child spawned from a thread that blocks
//! SIGTERM still ends on `terminate()`. It reports the method that
//! started it (`get_start_method()` is `spawn` in it), as CPython's does.
//!
//! (This port first carried the child's word over `ipc-channel`'s
//! `IpcOneShotServer`, a named socket made for connecting a spawned
//! child. Measured here, making its directory and socket under `/tmp`,
//! the child's connect and the clean-up cost about 0.3 ms, a quarter of
//! what the bare `posix_spawn` and `waitpid` cost; the pipe costs about
//! 0.01 ms. The server also needed a thread to unblock its `accept` for a
//! child that died, and left an empty directory behind a parent killed in
//! the middle of `start`. A pipe leaves nothing behind.)
//!
//! **Naming the function.** A spawned child does not share its parent's
//! memory, so the function it runs is named, not sent: the parent sends
//! the distance of an `entry` (a function generic over the target's type)
//! from a fixed point of the program, and the entry makes the target, a
//! zero-sized type, from nothing (`functions.rs` says why both hold). A
//! capturing closure is refused when the program is built.
//!
//! **Handing over queues, pipes, events and locks.** What such an object
//! is made of is descriptors: a socket, and a memory file for what it keeps
//! in shared memory (mapped `MAP_SHARED`, so a fork shares it, and a
//! spawned child maps it again). Encoding a spawn's argument lists the
//! descriptors it holds and writes each as its place in the list; the child
//! gets them as its descriptors 5, 6, … (`posix_spawn` `dup2`s them there)
//! and decoding takes them back from those places (`handover.rs`). CPython's spawn passes its descriptors so too, and, as here,
//! refuses to pickle such an object anywhere else.
//!
//! **Forgetting `freeze_support`.** A spawned child runs `main` from
//! the top, so what the parent's `main` did, the child's does too. A
//! program that never called `freeze_support` is refused its first spawn
//! at `start`, before anything starts: its child would run the whole
//! program again, as a Python child runs an unguarded module. If the
//! child skips it anyway (a `main` that calls it only sometimes), its
//! first `start` (or `Pool`) is refused with CPython's "bootstrapping
//! phase" error, so it cannot start children of its own (no fork bomb),
//! and the parent's `start` reports that the child left without taking
//! its task once the child has ended.

use std::cell::RefCell;
use std::fmt;
use std::io::{Read, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::codec::{Arg, decode, encode};
use crate::functions;
use crate::handover;
use crate::process::current;
use crate::process::forkserver;
use crate::returns::Outcome;
use crate::sys;

/// How a process is started (CPython's three start methods).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartMethod {
    /// A copy of the parent (`fork(2)`): fast, sees the parent's memory as
    /// it was, refused while the parent runs threads.
    Fork,
    /// A fresh run of the program (`posix_spawn(3)`): slower, sees nothing
    /// of the parent but its argument, works from a program with threads.
    Spawn,
    /// A copy of a fork server, a fresh run of the program spawned once
    /// (see `forkserver.rs`): sees nothing of the parent but its argument,
    /// as spawn; works beside threads, as spawn; starts almost as fast as
    /// fork. The default on Linux since Python 3.14.
    Forkserver,
}

impl fmt::Display for StartMethod {
    /// `fork` or `spawn`, CPython's names.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StartMethod::Fork => "fork",
            StartMethod::Spawn => "spawn",
            StartMethod::Forkserver => "forkserver",
        })
    }
}

/// The program-wide start method: 0 while none was set (then `fork`).
static DEFAULT: AtomicU8 = AtomicU8::new(0);

fn code(method: StartMethod) -> u8 {
    match method {
        StartMethod::Fork => 1,
        StartMethod::Spawn => 2,
        StartMethod::Forkserver => 3,
    }
}

/// Set how [`Process`](crate::Process) starts children from now on
/// (Python's `set_start_method(method, force)`). Once only unless
/// `force`, as in CPython: a second call, or one after the default was
/// used (or in a child, which has its own), is
/// [`Error::ContextAlreadySet`].
pub fn set_start_method(method: StartMethod, force: bool) -> Result<(), Error> {
    if force {
        DEFAULT.store(code(method), Ordering::SeqCst);
        return Ok(());
    }
    DEFAULT
        .compare_exchange(0, code(method), Ordering::SeqCst, Ordering::SeqCst)
        .map(drop)
        .map_err(|_| Error::ContextAlreadySet)
}

/// In a child: it was started by `method`, which its own children take
/// by default (CPython's `_force_start_method`).
pub(crate) fn started_by(method: StartMethod) {
    DEFAULT.store(code(method), Ordering::Relaxed);
}

/// The program-wide start method (Python's `get_start_method()`): `Fork`
/// unless [`set_start_method`] said otherwise; in a child, the method that
/// started it. Asking fixes it, as it does in CPython.
pub fn get_start_method() -> StartMethod {
    let _ = DEFAULT.compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst);
    match DEFAULT.load(Ordering::SeqCst) {
        2 => StartMethod::Spawn,
        3 => StartMethod::Forkserver,
        _ => StartMethod::Fork,
    }
}

/// The start methods there are (Python's `get_all_start_methods()`).
pub fn get_all_start_methods() -> [StartMethod; 3] {
    [
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::Forkserver,
    ]
}

/// A start method of its own for the processes it makes, whatever the
/// program-wide one (Python's `get_context('spawn')`).
#[derive(Clone, Copy, Debug)]
pub struct Context(StartMethod);

/// The context of `method` (Python's `get_context(method)`).
pub fn get_context(method: StartMethod) -> Context {
    Context(method)
}

impl Context {
    /// Its start method.
    pub fn start_method(&self) -> StartMethod {
        self.0
    }
}

/// The counterpart of Python's `if __name__ == "__main__":` guard, and of
/// its `freeze_support()`: the first line of `main` in a program that
/// spawns. In a spawned child it runs the child's task and exits, never
/// returning; anywhere else it returns at once.
///
/// ```no_run
/// # #![allow(clippy::needless_doctest_main)]
/// fn main() {
///     shared::freeze_support();
///     // ... the parent's program
/// }
/// ```
pub fn freeze_support() {
    CALLED.store(true, Ordering::Relaxed);
    let marker = std::env::args_os().nth(1);
    if marker.as_ref().is_some_and(|arg| arg == forkserver::MARKER) {
        // Each child's first thread-local with a destructor (the handed
        // descriptors') would cost it a lookup of glibc's symbols and a
        // dozen copied pages: the server makes it once, for all of them.
        handover::handed(Vec::new());
        forkserver::serve(decode, run_briefed);
    }
    if marker.is_some_and(|arg| arg == crate::resource_tracker::MARKER) {
        crate::resource_tracker::track();
    }
    if !spawned() {
        return;
    }
    let code = match take_briefing() {
        Ok(briefing) => {
            // The argument's, then a copy of the tracker's end if any.
            let count = briefing.handed + u32::from(briefing.tracker);
            let handed: Vec<OwnedFd> = (1..=count as RawFd)
                // SAFETY: the parent put these descriptors there for us
                // (`posix_spawn`'s `dup2`), and nothing else in this fresh
                // process owns them.
                .map(|i| unsafe { OwnedFd::from_raw_fd(TAKEN_FD + i) })
                .collect();
            // `dup2` cleared close-on-exec: set again, they stay out of
            // whatever this child runs (a `Command`, say).
            for fd in &handed {
                let cloexec = nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC);
                let _ = nix::fcntl::fcntl(fd, cloexec);
            }
            let parent = briefing.parent_pid;
            run(briefing, StartMethod::Spawn, handed, parent)
        }
        Err(e) => {
            eprintln!("a spawned child could not take its task: {e}");
            1
        }
    };
    current::flush_stdout();
    sys::exit_now(code)
}

/// Whether this program's `main` called [`freeze_support`] (in this
/// process, or in the parent it was forked from): a spawned child runs
/// the same `main`, so it will call it too.
static CALLED: AtomicBool = AtomicBool::new(false);

/// Whether [`freeze_support`] was called, so that this program may be
/// run again as a helper (a resource tracker) that stops there.
pub(crate) fn freeze_support_called() -> bool {
    CALLED.load(Ordering::Relaxed)
}

/// The first argument of a spawned child, as CPython's spawned children
/// carry it.
const MARKER: &str = "--multiprocessing-fork";

/// Whether this process was started by [`spawn`] (its first argument is
/// the marker; a process forked from one was too).
fn spawned() -> bool {
    static SPAWNED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SPAWNED.get_or_init(|| std::env::args_os().nth(1).is_some_and(|arg| arg == MARKER))
}

/// Refuse to start anything in a spawned child whose `main` did not call
/// [`freeze_support`] first: it is running the parent's program again.
pub(crate) fn check_bootstrapped() -> Result<(), Error> {
    match spawned() && !CALLED.load(Ordering::Relaxed) {
        true => Err(Error::Bootstrapping),
        false => Ok(()),
    }
}

/// What a process runs, given its argument: a function of one argument (a
/// tuple for several), or a closure that captures nothing (Python's
/// `target=f, args=(a,)`), so that it can be spawned as well as forked
/// (see `functions.rs`). What it returns is its exit's (see [`Outcome`]).
pub trait Target<A: Arg>: Copy + 'static {
    /// What it returns.
    type Returns: Outcome;
    /// Call it (Python: `target(*args)`).
    fn call(self, args: A) -> Self::Returns;
}

impl<F: Fn(A) -> R + Copy + 'static, A: Arg, R: Outcome> Target<A> for F {
    type Returns = R;
    fn call(self, args: A) -> R {
        self(args)
    }
}

/// A task for a spawned child: an `entry` (below) and its argument.
pub(crate) struct Recipe {
    /// The entry, as its distance (`functions::distance`).
    entry: isize,
    /// Encodes the argument, at `start`: one that cannot be encoded is an
    /// error then, before anything starts.
    encode: Box<dyn Fn() -> Result<Vec<u8>, Error>>,
}

/// What a spawned child runs: decode the argument, call the target.
type Entry = fn(&[u8]) -> Result<(), String>;

impl Recipe {
    pub(crate) fn new<F: Target<A>, A: Arg>(
        _made_from: &F,
        args: Rc<RefCell<Option<A>>>,
    ) -> Recipe {
        let entry: Entry = entry::<F, A>;
        let encode = move || match &*args.borrow() {
            Some(args) => encode(args),
            None => Err(Error::AlreadyStarted),
        };
        Recipe {
            entry: functions::distance(entry as usize),
            encode: Box::new(encode),
        }
    }
}

fn entry<F: Target<A>, A: Arg>(args: &[u8]) -> Result<(), String> {
    // SAFETY: the parent made this entry from a value of `F` (`Recipe::new`).
    let target: F = unsafe { functions::conjure() };
    let args: A = decode(args).map_err(|e| e.to_string())?;
    handover::handed(Vec::new()); // any descriptor the argument did not take is closed
    target.call(args).failure().map_or(Ok(()), Err)
}

/// Everything a spawned child is told.
#[derive(Serialize, Deserialize)]
struct Briefing {
    entry: isize,
    #[serde(with = "serde_bytes")]
    args: Vec<u8>,
    name: String,
    identity: Vec<usize>,
    daemon: bool,
    parent_pid: u32,
    parent_name: String,
    logging: Option<(crate::logging::Style, usize)>,
    /// How many descriptors the argument holds: the child's 5, 6, ….
    handed: u32,
    /// Whether a copy of the parent's end of its resource tracker's socket
    /// follows them: the child's blocks are the program's, as a forked
    /// child's are.
    tracker: bool,
    /// The timeline's events file, if the parent records one.
    timeline: Option<String>,
    /// The function types the parent has seen a value of (`functions.rs`).
    seen: Vec<u64>,
    /// The parent's working directory: a fork server's child starts in
    /// the server's, and moves to it (a spawned one inherits it).
    cwd: Option<std::path::PathBuf>,
}

/// The parent's side of a spawn: start the child, hand it its task, and
/// return its pid. On any failure the child, if started, is killed and
/// reaped, and nothing is left behind.
pub(crate) fn spawn(
    recipe: &Recipe,
    name: &str,
    identity: &[usize],
    daemon: bool,
) -> Result<Pid, Error> {
    let (briefing, fds) = brief(recipe, name, identity, daemon)?;
    let briefing = OwnedFd::from(sys::sealed_memfd(&briefing)?);
    let (mut taken, taken_sender) = std::io::pipe()?;
    let fds: Vec<OwnedFd> = [briefing, taken_sender.into()]
        .into_iter()
        .chain(fds)
        .collect();
    current::flush_stdout(); // the child writes to the same stdout
    let pid = sys::spawn_self(MARKER, &fds, false)?;
    drop(fds); // the child has its own copies now: the pipe's end is its alone
    // Its word on the pipe, or its end: a child that ends without a word
    // may have left the pipe open in a child of its own.
    let ended = sys::pidfd_open(pid.as_raw());
    let mut byte = [0u8];
    let wait = sys::Wait::timeout(TAKING_ITS_TASK);
    let said: Option<bool> = loop {
        let watched: Vec<_> = [Some(taken.as_fd()), ended.as_ref().ok().map(AsFd::as_fd)]
            .into_iter()
            .flatten()
            .collect();
        let ready = sys::wait_readable(&watched, wait)?;
        if ready.is_empty() {
            break None; // its time ran out: it is killed below
        }
        if ready.first() == Some(&0) {
            match taken.read(&mut byte) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                read => break Some(read? == 1),
            }
        }
        break Some(false); // it ended, and said nothing
    };
    if said == Some(true) {
        return Ok(pid);
    }
    // The child has gone (or closed the pipe unwritten, or took more than
    // a minute, and is killed for that).
    let _ = kill(pid, Signal::SIGKILL);
    let question = "does its main call shared::freeze_support() first?";
    Err(Error::Spawn(
        match (said, nix::sys::wait::waitpid(pid, None)) {
            (None, _) => format!(
                "the spawned child did not take its task within a minute, and was killed: {question}"
            ),
            (_, Ok(WaitStatus::Exited(_, code))) => format!(
                "the spawned child exited before taking its task: {question} (it exited with code {code})"
            ),
            _ => format!("the spawned child ended before taking its task: {question}"),
        },
    ))
}

/// What a child of `recipe` is told, encoded (a spawned child finds it in
/// a sealed memory file, read at its start: no message to wait for,
/// whatever the argument's size), and the descriptors its argument holds. Refused in a program whose `main` does
/// not call [`freeze_support`]: the child would run it all again.
fn brief(
    recipe: &Recipe,
    name: &str,
    identity: &[usize],
    daemon: bool,
) -> Result<(Vec<u8>, Vec<OwnedFd>), Error> {
    if !CALLED.load(Ordering::Relaxed) {
        return Err(Error::Spawn(
            "this program's main does not call shared::freeze_support() first, so a spawned \
             child would run the whole program again"
                .into(),
        ));
    }
    let (args, mut fds) = handover::encode_handing(|| (recipe.encode)());
    let args = args?;
    let handed = fds.len() as u32;
    let tracker = crate::resource_tracker::end_for_child()?;
    fds.extend(tracker);
    let me = current::current_process();
    let briefing = Briefing {
        entry: recipe.entry,
        args,
        name: name.to_owned(),
        identity: identity.to_vec(),
        daemon,
        parent_pid: me.pid(),
        parent_name: me.name().to_owned(),
        logging: crate::logging::style(),
        handed,
        tracker: fds.len() as u32 > handed,
        timeline: crate::timeline::path(),
        seen: functions::seen_types(),
        cwd: std::env::current_dir().ok(),
    };
    Ok((encode(&briefing)?, fds))
}

/// The parent's side of a start by the fork server: its pid (see
/// `forkserver.rs`).
pub(crate) fn forkserver_start(
    recipe: &Recipe,
    name: &str,
    identity: &[usize],
    daemon: bool,
) -> Result<Pid, Error> {
    let (briefing, fds) = brief(recipe, name, identity, daemon)?;
    current::flush_stdout(); // the child writes to the same stdout
    forkserver::start(briefing, daemon, fds)
}

/// How long a spawned child may take to take its task: a fresh program
/// takes a millisecond or so; one that takes a minute is stuck (blocked
/// before its `freeze_support`, say), and `start` gives up on it.
const TAKING_ITS_TASK: std::time::Duration = std::time::Duration::from_secs(60);

/// Where a spawned child finds its briefing (a memory file), and where it
/// says it has taken it (a pipe); the descriptors its argument holds
/// follow them.
const BRIEFING_FD: RawFd = 3;
const TAKEN_FD: RawFd = 4;

/// The child's side: read the briefing, and tell the parent it is taken.
fn take_briefing() -> Result<Briefing, Error> {
    if !sys::is_sealed_memfd(BRIEFING_FD) || !sys::is_pipe(TAKEN_FD) {
        return Err(Error::Spawn(format!(
            "this program was started with {MARKER} but not by a spawn: its descriptor \
             {BRIEFING_FD} is not a sealed memory file holding a briefing, or its {TAKEN_FD} not a pipe"
        )));
    }
    // SAFETY: a sealed memory file at 3 and a pipe at 4 are the briefing and
    // the pipe the parent put there (`posix_spawn`'s `dup2`), and nothing
    // else in this fresh process owns them.
    let (file, mut taken) = unsafe {
        let file = std::fs::File::from(OwnedFd::from_raw_fd(BRIEFING_FD));
        (file, std::fs::File::from(OwnedFd::from_raw_fd(TAKEN_FD)))
    };
    let briefing = read_briefing(file)?;
    taken.write_all(b"!")?;
    Ok(briefing)
}

/// The briefing a sealed memory file holds.
fn read_briefing(mut file: std::fs::File) -> Result<Briefing, Error> {
    let mut bytes = Vec::new();
    std::io::Seek::rewind(&mut file)?; // the parent wrote it: its offset is at the end
    file.read_to_end(&mut bytes)?;
    decode(&bytes)
}

/// A child of the fork server: become what the `briefing` says, with the
/// descriptors `handed`, and run it; leave.
fn run_briefed(briefing: Result<Briefing, Error>, handed: Vec<OwnedFd>) -> ! {
    let code = match briefing {
        Ok(briefing) => {
            if let Some(cwd) = &briefing.cwd {
                let _ = std::env::set_current_dir(cwd); // the parent's, not the server's
            }
            let parent = briefing.parent_pid;
            run(briefing, StartMethod::Forkserver, handed, parent)
        }
        Err(e) => {
            eprintln!("a child of the fork server could not take its task: {e}");
            1
        }
    };
    current::flush_stdout();
    sys::exit_now(code)
}

/// Become the process the briefing describes, started by `method` with
/// the descriptors `handed`, and run its task: the spawned counterpart of
/// `process::bootstrap`. `real_parent` is the process it is a child of.
fn run(briefing: Briefing, method: StartMethod, mut handed: Vec<OwnedFd>, real_parent: u32) -> i32 {
    started_by(method);
    if briefing.tracker
        && let Some(end) = handed.pop()
    {
        crate::resource_tracker::adopt(end);
    }
    current::become_spawned(
        briefing.name.clone(),
        briefing.identity,
        briefing.daemon,
        briefing.parent_pid,
        briefing.parent_name,
    );
    handover::handed(handed);
    crate::timeline::attach(briefing.timeline);
    functions::inherit(briefing.seen);
    if let Some(style) = briefing.logging {
        crate::logging::install_style(style);
    }
    sys::set_thread_name(&briefing.name);
    // A fork server's daemons die by their lifeline instead (see
    // `forkserver.rs`).
    if briefing.daemon && method != StartMethod::Forkserver {
        crate::process::child_side::die_with_parent(real_parent);
    }
    crate::process::child_side::capture_panics();
    // SAFETY: the parent sent the distance of an `Entry`, and this child
    // runs the same executable.
    let entry: Entry = unsafe { functions::at(briefing.entry) };
    let args = briefing.args;
    crate::process::child_side::run_target(&briefing.name, Box::new(move || entry(&args)))
}
