//! The OS layer: every call to the kernel that the standard library does
//! not wrap, in one place, on the safe wrappers of `rustix` and `nix`.
//! Everything above it (processes, messages, pools) asks here, and none of
//! it declares a C function of its own.
//!
//! | call | what for | used by |
//! |---|---|---|
//! | `memfd_create` + `mmap(MAP_SHARED)` | memory every forked child shares, and a spawned one can map | [`SharedMem`], [`SharedSlice`]: a queue's counts, an event's flag, a lock, a shared value |
//! | `futex` | sleep until a number in that memory changes | [`futex_wait`], [`futex_wake`], [`wait_until`] |
//! | `poll` | sleep until a descriptor is ready | [`wait_readable`], [`wait_for`]: pipes, queues, joins with a timeout |
//! | `pidfd_open`, `waitid(P_PIDFD)` | a descriptor that turns readable when a process exits; reaping by it | [`pidfd_open`]: `join_timeout`, sentinels; [`reap_if_ended`]: helpers |
//! | `posix_spawn` | a fresh run of this program, handed descriptors | [`spawn_self`]: spawn, the fork server |
//! | `/proc/<pid>/stat`, `/proc/self/ns/pid`, `getrandom` | who a thread is, and whether a process has ended | [`me`], [`fate`]: a lock's holder, a condition's waiter |
//! | `memfd_create`, seals, `mmap` of a file, `fstat` | a big message in memory, mapped by its reader; a spawned child's descriptors checked | [`sealed_memfd`], [`map_sealed`], [`is_sealed_memfd`], [`is_pipe`] |
//! | `stat` of `/proc/self/task` | how many threads run | [`thread_count`]: no fork while others run (nor where it cannot count) |
//! | `prctl(PR_SET_NAME)`, `mallopt` | a child's name in `ps`; freed memory kept for the next task | [`set_thread_name`], [`keep_freed_memory`] |
//! | `pidfd_send_signal`, `waitid(WNOWAIT)` | a signal to the process a pidfd names, never to one that took its number; whether a child runs, reaping nothing | [`pidfd_send_signal`]: a fork server that stops answering; [`running_child`] |
//! | `clone(CLONE_PARENT)`, `fcntl(F_SETSIG)` | a fork whose child is the caller's parent's; a signal when a pipe's last writer is gone | [`fork_as_sibling`]: the fork server's children; [`die_when_closed`]: its daemons die with the program |
//! | `_exit`, `close`, `atexit` | a child's way out, the exit steps | [`exit_now`], [`close_all`], [`at_exit`] |

use std::ffi::CStr;
use std::fs::File;
use std::io::{self, Write};
use std::ops::Deref;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, SealFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::resource::{Resource, getrlimit};
use rustix::mm::{MapFlags, ProtFlags};
use rustix::thread::futex;

// ------------------------------------------------------------ how long to wait

/// How long to wait: CPython's `block` and `timeout` arguments in one.
/// Ordered by when the wait ends (`No` first, `Forever` last), so that
/// `wait.min(other)` is whichever ends first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Wait {
    /// `block=False`: do not wait at all.
    No,
    /// `timeout=t`: wait until this instant.
    Until(Instant),
    /// `block=True, timeout=None`: wait as long as it takes.
    Forever,
}

impl Wait {
    /// Wait `timeout` from now; a timeout too big to add to the clock
    /// (`Duration::MAX`, say) waits for ever.
    pub(crate) fn timeout(timeout: Duration) -> Wait {
        Instant::now()
            .checked_add(timeout)
            .map_or(Wait::Forever, Wait::Until)
    }

    /// Time left, `None` for ever; zero once the deadline has passed.
    pub(crate) fn left(self) -> Option<Duration> {
        self.deadline()
            .map(|deadline| deadline.saturating_duration_since(Instant::now()))
    }

    /// When the wait ends, `None` for never.
    pub(crate) fn deadline(self) -> Option<Instant> {
        match self {
            Wait::No => Some(Instant::now()),
            Wait::Until(deadline) => Some(deadline),
            Wait::Forever => None,
        }
    }

    /// Whether the time is up.
    pub(crate) fn expired(self) -> bool {
        self.deadline().is_some_and(|d| Instant::now() >= d)
    }
}

// ------------------------------------------------------------ shared memory

/// A type that may live in [`SharedMem`]: every process may use it at once
/// through `&self` (it is made of atomics), and *every* bit pattern is a
/// valid value of it: all zeros, which the kernel's fresh pages hold, is
/// its initial value, and memory mapped from a descriptor another process
/// handed over ([`SharedMem::from_file`]) holds whatever that process
/// wrote there, at any moment.
///
/// # Safety
///
/// Implement it only for a type made of integer atomics (or arrays or
/// structs of them, padding included as none is read): no `bool`, no
/// enum, no pointer, nothing with a bit pattern that is not a value.
pub(crate) unsafe trait Shareable: Sync {}

// SAFETY: an `AtomicU32` of 0 is valid, and atomics are for shared use.
unsafe impl Shareable for AtomicU32 {}
// SAFETY: an array of shareables is zeros where its elements are.
unsafe impl<S: Shareable, const N: usize> Shareable for [S; N] {}

/// A value of type `S` in memory shared with every process forked after it
/// was made, and with a spawned child it is handed to.
///
/// The memory is a memory file (`memfd_create`) mapped `MAP_SHARED`: the
/// kernel's fresh pages, zeroed, that are *not* copied on `fork`, so parent
/// and child keep seeing the same physical memory and a store by one is a
/// load by the other. The file is kept open: a spawned child, which an
/// `exec` leaves with no mapping of ours, maps it again from its
/// descriptor ([`SharedMem::from_file`]).
pub(crate) struct SharedMem<S: Shareable> {
    ptr: NonNull<S>,
    file: OwnedFd,
}

// SAFETY: `SharedMem` hands out only `&S`; sending it to or sharing it with
// another thread is as safe as doing so with `&S`, which `S: Sync` allows.
unsafe impl<S: Shareable> Send for SharedMem<S> {}
// SAFETY: as above.
unsafe impl<S: Shareable> Sync for SharedMem<S> {}

/// A new memory file of `bytes` zeros, for shared memory.
fn shared_file(bytes: usize) -> io::Result<OwnedFd> {
    let file = memfd_create("shared-memory", MFdFlags::MFD_CLOEXEC)?;
    nix::unistd::ftruncate(&file, bytes as i64)?;
    Ok(file)
}

/// Map `bytes` of `file`, read and write, shared; `InvalidData` if the file
/// ends before the page that holds the last of them (a descriptor that is
/// not what it claims: touching a page past a file's end is SIGBUS, while
/// the rest of its last page reads as zeros).
fn map_shared(file: &OwnedFd, bytes: usize) -> io::Result<NonNull<u8>> {
    let page = rustix::param::page_size() as u64;
    let len = File::from(file.try_clone()?).metadata()?.len();
    if len.div_ceil(page) * page < bytes as u64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "shared memory too short",
        ));
    }
    let (prot, flags) = (ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED);
    // SAFETY: a new mapping of a file we hold, at an address the kernel
    // picks: it touches no memory of ours.
    let addr = unsafe { rustix::mm::mmap(std::ptr::null_mut(), bytes, prot, flags, file, 0) }?;
    NonNull::new(addr.cast::<u8>()).ok_or(Errno::ENOMEM.into())
}

impl<S: Shareable> SharedMem<S> {
    /// Map a fresh shared region for one `S`, all zeros.
    pub(crate) fn new() -> io::Result<Self> {
        SharedMem::from_file(shared_file(size_of::<S>())?)
    }

    /// Map the region `file` holds (made by [`new`](Self::new), in this
    /// process or the one that handed it over).
    pub(crate) fn from_file(file: OwnedFd) -> io::Result<Self> {
        const { assert!(align_of::<S>() <= 4096 && size_of::<S>() > 0) };
        let ptr = map_shared(&file, size_of::<S>())?.cast::<S>();
        Ok(SharedMem { ptr, file })
    }

    /// The memory file, to hand to a spawned child.
    pub(crate) fn file(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl<S: Shareable> Deref for SharedMem<S> {
    type Target = S;
    fn deref(&self) -> &S {
        // SAFETY: the mapping is page-aligned and lives until `drop`; it
        // holds a valid `S` (zeros, or what `S`'s own atomic operations
        // stored), which is made for shared use.
        unsafe { self.ptr.as_ref() }
    }
}

impl<S: Shareable> Drop for SharedMem<S> {
    fn drop(&mut self) {
        // Only this process's view goes away; the pages live on while any
        // other process still has them mapped. `S`'s destructor is not run:
        // the value belongs to every process at once.
        // SAFETY: unmapping exactly the region `from_file` mapped, once.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), size_of::<S>()) };
    }
}

/// `n` values of type `S` in shared memory, as [`SharedMem`] holds one: a
/// shared `Array`'s elements.
pub(crate) struct SharedSlice<S: Shareable> {
    ptr: NonNull<S>,
    len: usize,
    file: OwnedFd,
}

// SAFETY: as for `SharedMem`: only `&[S]` is handed out, and `S: Sync`.
unsafe impl<S: Shareable> Send for SharedSlice<S> {}
// SAFETY: as above.
unsafe impl<S: Shareable> Sync for SharedSlice<S> {}

impl<S: Shareable> SharedSlice<S> {
    /// Map a fresh shared region for `len` values, all zeros.
    pub(crate) fn new(len: usize) -> io::Result<Self> {
        let bytes = size_of::<S>()
            .checked_mul(len.max(1))
            .ok_or(Errno::ENOMEM)?;
        SharedSlice::from_file(shared_file(bytes)?, len)
    }

    /// Map the `len` values `file` holds.
    pub(crate) fn from_file(file: OwnedFd, len: usize) -> io::Result<Self> {
        const { assert!(align_of::<S>() <= 4096 && size_of::<S>() > 0) };
        let bytes = size_of::<S>()
            .checked_mul(len.max(1))
            .ok_or(Errno::ENOMEM)?;
        let ptr = map_shared(&file, bytes)?.cast::<S>();
        Ok(SharedSlice { ptr, len, file })
    }

    /// The memory file, to hand to a spawned child.
    pub(crate) fn file(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl<S: Shareable> Deref for SharedSlice<S> {
    type Target = [S];
    fn deref(&self) -> &[S] {
        // SAFETY: `len` valid values, mapped until `drop`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<S: Shareable> Drop for SharedSlice<S> {
    fn drop(&mut self) {
        let bytes = size_of::<S>() * self.len.max(1);
        // SAFETY: unmapping exactly the region `from_file` mapped, once.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), bytes) };
    }
}

// SAFETY: an `AtomicU64` of 0 is valid, and atomics are for shared use.
unsafe impl Shareable for std::sync::atomic::AtomicU64 {}

// ------------------------------------------------------------ futex

/// Sleep while `word` still holds `expected`, for at most `timeout`
/// (`None`: no limit). Returns early on a wake-up, on a signal, or at once
/// if the value already differs: callers re-check their condition in a loop.
///
/// This is `futex(FUTEX_WAIT)`, the kernel call every Linux lock and
/// condition variable is built on. Without `FUTEX_PRIVATE_FLAG` the kernel
/// keys the sleeper by the *physical* page, so a sleeper in one process is
/// woken by a `wake_all` in another.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let timeout = timeout.map(|t| {
        futex::Timespec::try_from(t).unwrap_or(futex::Timespec {
            tv_sec: i64::MAX,
            tv_nsec: 0,
        })
    });
    // Woken, timed out, interrupted or the value already differs: all the
    // same to the caller, who looks again.
    let _ = futex::wait(word, futex::Flags::empty(), expected, timeout.as_ref());
}

/// Wake at most `n` of those sleeping in [`futex_wait`] on `word`; how
/// many it woke.
pub(crate) fn futex_wake(word: &AtomicU32, n: u32) -> usize {
    futex::wake(word, futex::Flags::empty(), n).unwrap_or(0)
}

/// Wake every process and thread sleeping in [`futex_wait`] on `word`.
pub(crate) fn futex_wake_all(word: &AtomicU32) {
    futex_wake(word, i32::MAX as u32);
}

/// Wait until `ready(word's value)` holds, or as long as `wait` says;
/// returns whether it held.
pub(crate) fn wait_until(word: &AtomicU32, ready: impl Fn(u32) -> bool, wait: Wait) -> bool {
    loop {
        let value = word.load(Ordering::Acquire);
        if ready(value) {
            return true;
        }
        let left = wait.left();
        if left.is_some_and(|left| left.is_zero()) {
            return false;
        }
        futex_wait(word, value, left);
    }
}

// ------------------------------------------------------------ poll

/// Wait until at least one of `fds` has something to read (a message, or
/// end-of-file, or a process's end for a pidfd), as `wait` says; returns
/// the indices of those that have, empty if the time ran out. This is
/// `poll(2)`: the process sleeps in the kernel, which wakes it.
pub(crate) fn wait_readable(fds: &[BorrowedFd<'_>], wait: Wait) -> io::Result<Vec<usize>> {
    wait_for(fds, PollFlags::POLLIN, wait)
}

/// Wait until at least one of `fds` is ready for `events`, or has an error
/// or hang-up to report; the indices of those that are.
pub(crate) fn wait_for(
    fds: &[BorrowedFd<'_>],
    events: PollFlags,
    wait: Wait,
) -> io::Result<Vec<usize>> {
    let mut polled: Vec<PollFd<'_>> = fds.iter().map(|&fd| PollFd::new(fd, events)).collect();
    loop {
        let timeout = match wait.left() {
            None => PollTimeout::NONE,
            // poll counts whole milliseconds: round up, so we never return early.
            Some(left) => {
                let ms = left.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128);
                PollTimeout::try_from(ms as i32).unwrap_or(PollTimeout::MAX)
            }
        };
        match poll(&mut polled, timeout) {
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno.into()),
            Ok(0) if !wait.expired() => continue, // woke a little early
            Ok(_) => {
                return Ok((0..polled.len())
                    .filter(|&i| polled[i].revents().is_some_and(|r| !r.is_empty()))
                    .collect());
            }
        }
    }
}

// ------------------------------------------------------------ spawn

/// Start this program afresh (`posix_spawn(3)` of `/proc/self/exe`, as the
/// standard library's `Command` would, with an empty signal mask and
/// SIGPIPE and SIGCHLD at their defaults), with this process's first argument and the
/// `marker`, and its environment; the descriptors `fds` become the
/// child's 3, 4, …, and every other one above 2 is closed in it (one not
/// marked close-on-exec, the program's own or one handed to this process,
/// would stay open in the child for its whole life, and a reader of it
/// would never see its end). A `shielded` child (a helper that must
/// outlive a Ctrl-C to the whole group) starts with SIGINT and SIGTERM
/// blocked, and unblocks them once it ignores them.
pub(crate) fn spawn_self(
    marker: &str,
    fds: &[OwnedFd],
    shielded: bool,
) -> Result<nix::unistd::Pid, Errno> {
    use nix::spawn::{PosixSpawnAttr, PosixSpawnFileActions, PosixSpawnFlags};
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c_string = |bytes: &[u8]| CString::new(bytes).ok();
    let arg0 = std::env::args_os()
        .next()
        .unwrap_or_else(|| "/proc/self/exe".into());
    let argv: Vec<CString> = [arg0.as_bytes(), marker.as_bytes()]
        .into_iter()
        .filter_map(c_string)
        .collect();
    let envp: Vec<CString> = std::env::vars_os()
        .filter_map(|(key, value)| c_string(&[key.as_bytes(), b"=", value.as_bytes()].concat()))
        .collect();
    // Each descriptor goes to its place with a `dup2` in the child, in
    // turn; one whose number is a place an earlier `dup2` fills would be
    // lost. So each is first copied above every place.
    let above = FIRST_HANDED + fds.len() as RawFd;
    let copy_above = |fd: &OwnedFd| {
        let copy = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(above))?;
        // SAFETY: `fcntl` just made this descriptor, and nothing else owns it.
        Ok::<_, Errno>(unsafe { OwnedFd::from_raw_fd(copy) })
    };
    let sources = fds
        .iter()
        .map(copy_above)
        .collect::<Result<Vec<OwnedFd>, Errno>>()?;
    let mut actions = PosixSpawnFileActions::init()?;
    for (place, fd) in (FIRST_HANDED..).zip(&sources) {
        actions.add_dup2(fd.as_raw_fd(), place)?; // `dup2` clears close-on-exec
    }
    #[cfg(target_env = "gnu")]
    {
        // SAFETY: nix's `PosixSpawnFileActions` is `#[repr(transparent)]`
        // over libc's, initialised just above (nix has no wrapper for
        // glibc's `closefrom` action); the call only records the action.
        let added = unsafe {
            libc::posix_spawn_file_actions_addclosefrom_np((&raw mut actions).cast(), above)
        };
        if added != 0 {
            return Err(Errno::from_raw(added));
        }
    }
    let mut attributes = PosixSpawnAttr::init()?;
    use nix::sys::signal::{SigSet, Signal};
    // SIGPIPE at its default, as `Command` leaves it; and SIGCHLD: ignored
    // here, it would stay ignored across the `exec`, and a fork server's
    // children would be reaped by the kernel, their exit codes lost.
    let mut sigpipe = SigSet::empty();
    sigpipe.add(Signal::SIGPIPE);
    sigpipe.add(Signal::SIGCHLD);
    let mut mask = SigSet::empty();
    if shielded {
        mask.add(Signal::SIGINT);
        mask.add(Signal::SIGTERM);
    }
    attributes.set_sigmask(&mask)?;
    attributes.set_sigdefault(&sigpipe)?;
    attributes.set_flags(
        PosixSpawnFlags::POSIX_SPAWN_SETSIGMASK | PosixSpawnFlags::POSIX_SPAWN_SETSIGDEF,
    )?;
    nix::spawn::posix_spawn(c"/proc/self/exe", &actions, &attributes, &argv, &envp)
}

/// Where [`spawn_self`] puts the descriptors it hands over: 3, 4, ….
const FIRST_HANDED: RawFd = 3;

/// In a shielded helper (see [`spawn_self`]), once it ignores SIGINT and
/// SIGTERM or has chosen what they do: unblock them.
pub(crate) fn unshield() {
    use nix::sys::signal::{SigSet, Signal};
    let mut shield = SigSet::empty();
    shield.add(Signal::SIGINT);
    shield.add(Signal::SIGTERM);
    let _ = shield.thread_unblock();
}

// ------------------------------------------------------------ pidfds

/// A *pidfd* of process `pid` (`pidfd_open(2)`): the kernel's handle on a
/// process, which turns readable when the process exits.
pub(crate) fn pidfd_open(pid: i32) -> Result<OwnedFd, Errno> {
    let pid = rustix::process::Pid::from_raw(pid).ok_or(Errno::ESRCH)?;
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
        .map_err(|e| Errno::from_raw(e.raw_os_error()))
}

/// Whether `pid` is a child of this process that has not ended
/// (`waitid(P_PID, …, WNOWAIT)`, which reaps nothing). Once it is reaped,
/// another child of ours may take its number, and be the one seen.
pub(crate) fn running_child(pid: i32) -> bool {
    use rustix::process::{Pid, WaitId, WaitIdOptions, waitid};
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
    let Some(pid) = Pid::from_raw(pid) else {
        return false;
    };
    matches!(waitid(WaitId::Pid(pid), options), Ok(None))
}

/// Reap the process `pidfd` names if it has ended (`waitid(P_PIDFD, …)`,
/// without waiting); whether it is gone now (reaped, here or elsewhere).
pub(crate) fn reap_if_ended(pidfd: BorrowedFd<'_>) -> bool {
    use rustix::process::{WaitId, WaitIdOptions, waitid};
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG;
    !matches!(waitid(WaitId::PidFd(pidfd), options), Ok(None))
}

/// Send `signal` to the process `pidfd` names (`pidfd_send_signal(2)`):
/// that process, never another that took its number once it was reaped.
pub(crate) fn pidfd_send_signal(
    pidfd: BorrowedFd<'_>,
    signal: nix::sys::signal::Signal,
) -> Result<(), Errno> {
    let signal = rustix::process::Signal::from_named_raw(signal as i32).ok_or(Errno::EINVAL)?;
    rustix::process::pidfd_send_signal(pidfd, signal).map_err(|e| Errno::from_raw(e.raw_os_error()))
}

// ------------------------------------------------------------ /proc: who holds, who waits

/// How many times this process's line was forked: raised in every child
/// by a `pthread_atfork` handler ([`count_forks`]).
static FORKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The thread asking, as a lock's holder or a condition's waiter: its
/// process id (what a lock's word holds, so that a waiter can ask the
/// kernel about the holder whatever moment the holder was killed at), a
/// token of its own, and its *stamp*, the process id beside the time the
/// process started (see [`fate`]).
#[derive(Clone, Copy, Default)]
pub(crate) struct Me {
    /// Its process id (`getpid(2)`): Linux's largest is below 2^22.
    pub pid: u32,
    /// Random, one per thread of each process, never 0: names the holder of
    /// a re-entrant lock, whatever its numbers in whatever namespace.
    pub token: u64,
    /// What tells this process from any other that has, or will have, its
    /// number: where the kernel has a pidfs (Linux 6.9 on), [`PIDFS`] and
    /// the inode of its pidfd, never reused while the system runs; else
    /// bits 0–21 the process id and 22–62 its start time in clock ticks
    /// since boot (a process that gets the number in the same tick, 10 ms,
    /// is taken for it: a lock then waits for it to end, never the
    /// reverse). 0 if this process cannot read its own `/proc`.
    pub stamp: u64,
    /// This process's pid namespace (the inode of `/proc/self/ns/pid`):
    /// ids and stamps mean something only within one. 0 if unknown.
    pub ns: u32,
}

impl Me {
    /// Whether its ids are those of pid namespace `ns`, known for certain:
    /// only then may it judge another process, or be judged, by them.
    #[inline]
    pub(crate) fn in_ns(&self, ns: u32) -> bool {
        self.ns != 0 && self.ns == ns && self.stamp != 0
    }
}

/// The process id bits of a stamp made of a start time.
const PID: u64 = 0x3f_ffff;
/// A stamp's top bit: the rest is a pidfs inode.
const PIDFS: u64 = 1 << 63;

/// This thread as [`Me`].
///
/// Asked of the kernel once per thread and kept (a lock is taken in a few
/// nanoseconds, and a system call would be most of them); a `fork` makes
/// a new thread (and process) in the child, so the kept one is valid only
/// while the count of forks is the one it was kept at. The handler that
/// counts them is installed here, before any is kept: however a lock
/// reached this process (made here, inherited, or handed to a spawned
/// child), its first use installs it.
#[inline]
pub(crate) fn me() -> Me {
    use std::cell::Cell;
    thread_local!(static KEPT: Cell<(u64, Me)> = const { Cell::new((0, Me { pid: 0, token: 0, stamp: 0, ns: 0 })) });
    let forks = FORKS.load(Ordering::Relaxed);
    KEPT.with(|kept| match kept.get() {
        (seen, me) if me.token != 0 && me.stamp != 0 && seen == forks => me,
        // Not known yet, or not known for certain (no descriptor free to
        // read `/proc`, say): asked again next time, the token kept, so
        // that a thread that was once starved is not judged blind for good.
        (seen, me) => {
            let token = (me.token != 0 && seen == forks).then_some(me.token);
            let me = ask_who_i_am(token);
            kept.set((FORKS.load(Ordering::Relaxed), me));
            me
        }
    })
}

/// This process's id, asked of the kernel once per process (a record of
/// the timeline names its writer, and a system call would be a good part
/// of its cost). The handler [`count_forks`] installs forgets it in every
/// forked child.
#[inline]
pub(crate) fn pid() -> u32 {
    match KEPT_PID.load(Ordering::Relaxed) {
        0 => {
            count_forks(); // before it is kept: no fork may miss forgetting it
            let pid = std::process::id();
            KEPT_PID.store(pid, Ordering::Relaxed);
            pid
        }
        pid => pid,
    }
}

/// [`pid`]'s, 0 until asked.
static KEPT_PID: AtomicU32 = AtomicU32::new(0);

/// In a forked child: one fork more, and this process's [`pid`] forgotten.
extern "C" fn in_child() {
    FORKS.fetch_add(1, Ordering::Relaxed);
    KEPT_PID.store(0, Ordering::Relaxed);
}

/// Install, once, the handler that counts forks in [`FORKS`] and forgets
/// this process's [`pid`] in each child.
fn count_forks() {
    static HANDLER: std::sync::Once = std::sync::Once::new();
    HANDLER.call_once(|| {
        // SAFETY: registers a handler that only stores to atomics, which is
        // async-signal-safe, as a handler run in a forked child must be.
        unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
    });
}

#[cold]
fn ask_who_i_am(token: Option<u64>) -> Me {
    count_forks();
    let pid = std::process::id();
    let token = token.unwrap_or_else(|| {
        let mut token = [0u8; 8];
        while rustix::rand::getrandom(&mut token, rustix::rand::GetRandomFlags::empty()).is_err() {}
        u64::from_ne_bytes(token).max(1)
    });
    // `/proc/self` is ours only if it names us: a `/proc` of another pid
    // namespace, or none, and nothing is judged by our ids.
    let seen = started("self").filter(|&(proc_pid, _)| proc_pid == pid);
    let ns = std::fs::metadata("/proc/self/ns/pid").map(|ns| {
        use std::os::unix::fs::MetadataExt;
        ns.ino() as u32
    });
    let pidfs = pidfd_open(pid as i32)
        .ok()
        .and_then(|pidfd| pidfs_inode(&pidfd));
    match (seen, ns) {
        (Some((_, start)), Ok(ns)) if ns != 0 => Me {
            pid,
            token,
            stamp: pidfs.map_or(u64::from(pid) | start << 22, |inode| inode | PIDFS),
            ns,
        },
        _ => Me {
            pid,
            token,
            stamp: 0,
            ns: 0,
        },
    }
}

/// The process id and start time (clock ticks since boot) that
/// `/proc/<pid>/stat` gives; `None` if it cannot be read.
fn started(pid: &str) -> Option<(u32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid …": the name may hold spaces and parentheses,
    // so count the fields from the last `)`; the start time is field 22.
    let (head, rest) = stat.rsplit_once(')')?;
    let proc_pid = head.split_once(' ')?.0.parse().ok()?;
    let start = rest.split_whitespace().nth(19)?.parse().ok()?;
    Some((proc_pid, start))
}

/// What the system says of a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    /// It has ended: there is no such process, it is a zombie, or its
    /// number is another process's now.
    Gone,
    /// It runs: the process that has its number started when its stamp
    /// says.
    Runs,
    /// The system does not say for certain: no stamp, another pid
    /// namespace, a `/proc` hidden or unreadable.
    Unknown,
}

/// What has become of process `pid` (in `ns`, the pid namespace of a lock
/// or condition), whose stamp is `stamp` (0, or a start-time stamp of
/// another number, is no stamp), asked by `me`.
///
/// This *fails closed*: only what the kernel says for certain is `Gone`
/// (`pidfd_open(2)` finds no such process; its pidfd is readable, so it
/// has exited and is a zombie its parent has not reaped; or the process
/// with its number is another than its stamp says). Anything the system
/// does not answer is `Unknown`, never `Gone`: a lock whose holder runs
/// must never be taken from it.
pub(crate) fn fate(pid: u32, stamp: u64, me: &Me, ns: u32) -> Fate {
    if pid == 0 || !me.in_ns(ns) {
        return Fate::Unknown;
    }
    let pidfd = match pidfd_open(pid as i32) {
        Err(Errno::ESRCH) => return Fate::Gone,
        pidfd => pidfd, // an error: a thread's id now, say; its stamp tells
    };
    let exited = match &pidfd {
        Ok(pidfd) => wait_readable(&[pidfd.as_fd()], Wait::No).map(|ready| !ready.is_empty()),
        Err(errno) => Err(io::Error::from(*errno)),
    };
    if exited.as_ref().is_ok_and(|&exited| exited) {
        return Fate::Gone;
    }
    if stamp & PIDFS != 0 {
        return match pidfd.ok().as_ref().and_then(pidfs_inode) {
            Some(inode) if inode | PIDFS != stamp => Fate::Gone, // its number is another's
            Some(_) if exited.is_ok() => Fate::Runs,
            _ => Fate::Unknown,
        };
    }
    let stamped = (stamp & PID == u64::from(pid)).then_some(stamp >> 22);
    match (started(&pid.to_string()), stamped) {
        (Some((_, now)), Some(start)) if now != start => Fate::Gone,
        (Some(_), Some(_)) if exited.is_ok() => Fate::Runs,
        _ => Fate::Unknown,
    }
}

/// The inode of a pidfd, if the kernel has a pidfs (its inodes name one
/// process each, for as long as the system runs; an older kernel's
/// pidfds all share one inode).
fn pidfs_inode(pidfd: &OwnedFd) -> Option<u64> {
    const PIDFS_MAGIC: i64 = 0x5049_4446;
    let fs = nix::sys::statfs::fstatfs(pidfd).ok()?;
    if fs.filesystem_type().0 != PIDFS_MAGIC {
        return None;
    }
    let inode = nix::sys::stat::fstat(pidfd).ok()?.st_ino;
    (inode & PIDFS == 0).then_some(inode)
}

// ------------------------------------------------------------ memory files

/// Write all of `bytes` to `file` with SIGXFSZ held off (blocked, and taken
/// off if this write raised it): past the file-size limit the write is an
/// `EFBIG` error, not the death of the process. For a file others write
/// to as well, where looking at its size first cannot be enough. A
/// SIGXFSZ the program had pending already is left as it was.
pub(crate) fn write_below_limit(file: &File, bytes: &[u8]) -> io::Result<()> {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
    let xfsz = SigSet::from(Signal::SIGXFSZ);
    let mut before = SigSet::empty();
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&xfsz), Some(&mut before))?;
    let pending = || {
        // SAFETY: an all-zero set is a valid (empty) one; sigpending writes
        // one set, to ours; sigismember reads it.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigpending(&mut set) == 0 && libc::sigismember(&set, libc::SIGXFSZ) == 1
        }
    };
    let already = pending();
    let written = (&*file).write_all(bytes);
    let refused = written
        .as_ref()
        .is_err_and(|e| e.raw_os_error() == Some(libc::EFBIG));
    // EFBIG comes without SIGXFSZ where the file system's own limit is the
    // one reached: taken off only if it is there, without waiting.
    if refused && !already && pending() {
        let now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: takes off one pending SIGXFSZ (blocked here); no pointer
        // is written but none given.
        unsafe { libc::sigtimedwait(xfsz.as_ref(), std::ptr::null_mut(), &now) };
    }
    pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&before), None)?;
    written
}

/// `bytes` in a fresh memory file, sealed: its size (a reader maps it, and
/// a mapped file that shrinks kills its reader with SIGBUS), and its bytes
/// (`F_SEAL_WRITE`: nobody can change them under a reader's mapping).
///
/// The kernel refuses the write seal (`EBUSY`) while it holds any page of
/// the file for a moment (a benchmark run here met it once): the file then
/// goes with its size sealed only, and its reader copies it instead of
/// mapping it ([`map_sealed`]).
///
/// A memory file is a file: past the file-size limit (`ulimit -f`,
/// `RLIMIT_FSIZE`) the kernel would kill us with SIGXFSZ mid-write, so that
/// is checked first, and is `EFBIG`.
pub(crate) fn sealed_memfd(bytes: &[u8]) -> io::Result<File> {
    let (limit, _) = getrlimit(Resource::RLIMIT_FSIZE)?;
    if bytes.len() as u64 > limit {
        return Err(Errno::EFBIG.into());
    }
    let flags = MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING;
    let mut file = File::from(memfd_create("shared-ipc-message", flags)?);
    file.write_all(bytes)?;
    let size = SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW;
    let all = size | SealFlag::F_SEAL_WRITE | SealFlag::F_SEAL_SEAL;
    if fcntl(&file, FcntlArg::F_ADD_SEALS(all)).is_err() {
        fcntl(&file, FcntlArg::F_ADD_SEALS(size | SealFlag::F_SEAL_SEAL))?;
    }
    Ok(file)
}

/// Whether `file` is a memory file sealed as [`sealed_memfd`] seals one,
/// its bytes included: then nobody, not even its sender, can change what
/// a reader maps.
pub(crate) fn write_sealed(file: &File) -> bool {
    let sealed = SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_WRITE;
    fcntl(file, FcntlArg::F_GET_SEALS)
        .is_ok_and(|seals| SealFlag::from_bits_truncate(seals).contains(sealed))
}

/// The first `len` bytes of a memory file that [`write_sealed`] approved,
/// mapped read-only; to be given back with [`unmap`]. A file that is not
/// sealed so, or is shorter than `len`, is refused (`InvalidData`).
pub(crate) fn map_sealed(file: &File, len: usize) -> io::Result<NonNull<u8>> {
    if !write_sealed(file) || file.metadata()?.len() < len as u64 {
        let why = "not a sealed message";
        return Err(io::Error::new(io::ErrorKind::InvalidData, why));
    }
    // MAP_POPULATE maps every page now, in one go, instead of one fault per
    // page as they are read.
    let flags = MapFlags::SHARED | MapFlags::POPULATE;
    // SAFETY: a new read-only mapping, at an address the kernel picks, of a
    // file that can neither shrink nor be written: it touches no memory of
    // ours, and what it shows never changes.
    let addr = unsafe {
        rustix::mm::mmap(
            std::ptr::null_mut(),
            len,
            ProtFlags::READ,
            flags,
            file.as_fd(),
            0,
        )
    }?;
    NonNull::new(addr.cast::<u8>()).ok_or_else(|| Errno::ENOMEM.into())
}

/// Whether descriptor `fd` is open and a memory file whose size is sealed:
/// a spawned child's descriptor 3 must be, before it is trusted.
pub(crate) fn is_sealed_memfd(fd: std::os::fd::RawFd) -> bool {
    // SAFETY: `F_GET_SEALS` only asks about a descriptor number: one that
    // is not open, or not a memory file, is an error (`EBADF`, `EINVAL`),
    // and nothing is touched.
    let seals = unsafe { libc::fcntl(fd, libc::F_GET_SEALS) };
    let size = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW;
    seals >= 0 && seals & size == size
}

/// Whether descriptor `fd` is open and a pipe: a spawned child's
/// descriptor 4 must be, before it is owned.
pub(crate) fn is_pipe(fd: std::os::fd::RawFd) -> bool {
    // SAFETY: `fstat` only asks about a descriptor number, into a struct of
    // ours: one that is not open is an error (`EBADF`), and nothing is touched.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let ok = unsafe { libc::fstat(fd, &mut stat) } == 0;
    ok && stat.st_mode & libc::S_IFMT == libc::S_IFIFO
}

/// Whether descriptor `fd` is a `SOCK_SEQPACKET` socket.
pub(crate) fn is_seqpacket(fd: std::os::fd::RawFd) -> bool {
    let mut kind: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `getsockopt` only asks about a descriptor number, into an int
    // of ours: one that is not open, or not a socket, is an error.
    let ok = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&raw mut kind).cast(),
            &mut len,
        )
    } == 0;
    ok && kind == libc::SOCK_SEQPACKET
}

/// Give back a mapping that [`map_sealed`] made.
///
/// # Safety
///
/// `ptr` and `len` are exactly what one `map_sealed` call gave and took,
/// unmapped once, and nothing reads through `ptr` afterwards.
pub(crate) unsafe fn unmap(ptr: NonNull<u8>, len: usize) {
    // SAFETY: as the caller promises.
    let _ = unsafe { rustix::mm::munmap(ptr.as_ptr().cast(), len) };
}

// ------------------------------------------------------------ this process

/// How many threads this process runs. The kernel counts the links of a
/// process's `/proc/<pid>/task` directory as two (itself and `.`) plus one
/// per thread (one `stat` call; Linux's `proc_task_getattr`); listing the
/// directory would cost more, and allocate. A `/proc` that cannot be read
/// is an error, never "one": the caller must not fork beside a thread it
/// could not see.
///
/// A thread that has just been joined may still be counted for a moment
/// (the kernel lets its joiner go before it has quite left), and so may one
/// that is about to leave, so a count above one is looked at again, for up
/// to 20 ms, before it is believed.
pub(crate) fn thread_count() -> io::Result<usize> {
    use std::os::unix::fs::MetadataExt;
    let count = || -> io::Result<usize> {
        let links = std::fs::metadata("/proc/self/task")?.nlink();
        match links.checked_sub(2) {
            Some(threads) if threads > 0 => Ok(threads as usize),
            _ => Err(io::Error::other("/proc/self/task counts no thread")),
        }
    };
    let mut threads = count()?;
    let began = Instant::now();
    // 20 ms: a joined thread is gone well within it even on a busy
    // machine; a thread that really runs stays.
    while threads > 1 && began.elapsed() < Duration::from_millis(20) {
        std::thread::yield_now();
        threads = count()?;
    }
    Ok(threads)
}

/// Show this thread's (a child's only thread's) name in `ps` and `top`;
/// Linux keeps 15 bytes of it. Done on the stack, allocating nothing (see
/// `current::become_child`).
pub(crate) fn set_thread_name(name: &str) {
    let mut short = [0u8; 16];
    let bytes = name.bytes().filter(|&b| b != 0).take(15);
    short.iter_mut().zip(bytes).for_each(|(to, b)| *to = b);
    if let Ok(name) = CStr::from_bytes_until_nul(&short) {
        let _ = rustix::thread::set_name(name); // its 16th byte at the latest is a NUL
    }
}

/// Let `malloc` keep up to 64 MiB of freed memory instead of handing it
/// back to the kernel (`mallopt(M_TRIM_THRESHOLD)`, glibc only).
///
/// A pool worker allocates and frees the same few buffers for every task.
/// By default glibc gives the top of the heap back (`brk`) as soon as
/// 128 KiB of it is free, so the next task's buffers are fresh pages, each
/// a page fault and a page of zeros: with 12,500-number chunks that was
/// a third of a worker's time, and a `map` ran 1.5 times slower.
pub(crate) fn keep_freed_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: `mallopt` changes two of malloc's settings; it is safe to call
    // at any time (it takes malloc's own lock).
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20); // and a big buffer stays on the heap
    }
}

/// What [`fork_as_sibling`] returns in each copy.
pub(crate) enum Sibling {
    /// In the caller: the child's pid.
    Parent(i32),
    /// In the child.
    Child,
}

/// Fork this process as a child of its parent, not of itself (`clone(2)`
/// with `CLONE_PARENT`): the fork server's spares, which the program then
/// reaps as its own children. It returns twice, as `fork` does, and does
/// for glibc what its `fork` does (the child's thread id written where
/// glibc keeps it, its list of robust mutexes registered again), but runs
/// no `pthread_atfork` handler except ours ([`count_forks`]'s). `ENOSYS`
/// on a kernel that will not say where glibc keeps the thread id
/// (`PR_GET_TID_ADDRESS` needs `CONFIG_CHECKPOINT_RESTORE`, which the
/// common distributions' kernels have).
///
/// # Safety
///
/// As for `fork`: the caller runs one thread, so the child may take any
/// lock (the fork server is a fresh program that starts none).
pub(crate) unsafe fn fork_as_sibling() -> Result<Sibling, Errno> {
    // glibc's own fork has the kernel write the child's thread id into the
    // thread's descriptor (the address glibc gave `set_tid_address`, read
    // back with PR_GET_TID_ADDRESS), and registers its robust-mutex list
    // again in the child (the kernel clears it on fork): do the same.
    let mut tid_at: *mut libc::c_int = std::ptr::null_mut();
    // SAFETY: PR_GET_TID_ADDRESS writes one pointer to the address given.
    let tid_known =
        unsafe { libc::prctl(libc::PR_GET_TID_ADDRESS, &raw mut tid_at) } == 0 && !tid_at.is_null();
    if !tid_known {
        return Err(Errno::ENOSYS);
    }
    let (mut head, mut len): (*mut libc::c_void, libc::size_t) = (std::ptr::null_mut(), 0);
    // SAFETY: get_robust_list writes a pointer and a length to the given addresses.
    unsafe { libc::syscall(libc::SYS_get_robust_list, 0, &raw mut head, &raw mut len) };
    let flags = (libc::CLONE_PARENT
        | libc::CLONE_CHILD_SETTID
        | libc::CLONE_CHILD_CLEARTID
        | libc::SIGCHLD) as libc::c_ulong;
    // No new stack, and glibc's field for the child's id (x86-64 takes it
    // before the TLS, the others after).
    #[cfg(target_arch = "x86_64")]
    let args: [usize; 4] = [0, 0, tid_at as usize, 0];
    #[cfg(not(target_arch = "x86_64"))]
    let args: [usize; 4] = [0, 0, 0, tid_at as usize];
    // SAFETY: `clone` with no new stack returns twice, in the caller and in
    // a copy of it, as `fork(2)` does; the kernel writes only the child's
    // id, in the child, where glibc keeps it.
    let raw = unsafe { libc::syscall(libc::SYS_clone, flags, args[0], args[1], args[2], args[3]) };
    match raw {
        -1 => Err(Errno::last()),
        0 => {
            if !head.is_null() {
                // SAFETY: the head glibc registered, at the same address in this copy.
                unsafe { libc::syscall(libc::SYS_set_robust_list, head, len) };
            }
            in_child();
            Ok(Sibling::Child)
        }
        pid => Ok(Sibling::Parent(pid as i32)),
    }
}

/// Have the kernel send this process SIGKILL once every write end of the
/// pipe whose read end is `lifeline` is closed (`O_ASYNC`, with
/// `F_SETSIG`): a fork server's daemon dies so with its program, however
/// the program ends. `Err` if they are closed already (no signal would
/// come) or the kernel refuses. The read end stays open, for good, and
/// across an `exec` (the daemon may become another program, which must
/// die with ours all the same), at 512 or above if it can (out of the way
/// of the low numbers a program reuses, with `dup2`, say); closing it (as
/// a program that closes every descriptor it does not know does) lets
/// the daemon outlive the program.
pub(crate) fn die_when_closed(lifeline: OwnedFd) -> io::Result<()> {
    const F_SETSIG: libc::c_int = 10; // Linux's <fcntl.h>; the libc crate lacks it
    // SAFETY: `fcntl` on a descriptor we own, with plain numbers; a
    // descriptor it makes is ours alone.
    let lifeline = match unsafe { libc::fcntl(lifeline.as_raw_fd(), libc::F_DUPFD, 512) } {
        -1 => lifeline,
        // SAFETY: as above (and F_DUPFD leaves it open across `exec`).
        moved => unsafe { OwnedFd::from_raw_fd(moved) },
    };
    let fd = lifeline.as_raw_fd();
    // SAFETY: as above.
    let armed = unsafe {
        libc::fcntl(fd, libc::F_SETFD, 0) == 0
            && libc::fcntl(fd, libc::F_SETOWN, libc::getpid()) == 0
            && libc::fcntl(fd, F_SETSIG, libc::SIGKILL) == 0
            && libc::fcntl(fd, libc::F_SETFL, libc::O_ASYNC) == 0
    };
    if !armed {
        return Err(io::Error::last_os_error());
    }
    // Closed before the line above took effect: no signal comes.
    if !wait_readable(&[lifeline.as_fd()], Wait::No)?.is_empty() {
        return Err(Errno::EPIPE.into());
    }
    std::mem::forget(lifeline);
    Ok(())
}

/// Leave the process at once with `code` (`_exit(2)`): no `atexit` work,
/// no flushing. A forked child leaves so, or it would run its parent's
/// exit steps a second time.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` only ends the process; it touches no memory of ours.
    unsafe { libc::_exit(code) }
}

/// Close descriptors this process holds by number only.
///
/// # Safety
///
/// Nothing in this process uses `fds` afterwards: no `OwnedFd` of them is
/// ever dropped or read (a forked child's copies of its parent's, say).
pub(crate) unsafe fn close_all(fds: &[std::os::fd::RawFd]) {
    for &fd in fds {
        // SAFETY: as the caller promises.
        unsafe { rustix::io::close(fd) };
    }
}

/// Have the C runtime call `f` when `main` returns or `exit` is called.
pub(crate) fn at_exit(f: extern "C" fn()) {
    // SAFETY: `atexit` only records the function, which takes no arguments
    // and may run at exit.
    unsafe { libc::atexit(f) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run `check` in a forked child under a file-size limit of `limit`
    /// bytes (a limit is the whole process's: the test harness runs other
    /// tests on threads beside this one); its exit code.
    fn under_size_limit(limit: u64, check: impl FnOnce() -> i32) -> i32 {
        // SAFETY: the child makes only async-signal-safe calls (setrlimit,
        // alarm, sigprocmask, sigpending, write, sigtimedwait, _exit).
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let limit = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: libc::RLIM_INFINITY,
                };
                // SAFETY: a plain struct, read by the kernel; alarm takes a
                // number (SIGALRM ends a hang).
                unsafe {
                    libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
                    libc::alarm(10);
                }
                exit_now(check())
            }
            nix::unistd::ForkResult::Parent { child } => {
                match nix::sys::wait::waitpid(child, None).unwrap() {
                    nix::sys::wait::WaitStatus::Exited(_, code) => code,
                    killed => panic!("the child: {killed:?} (SIGALRM: it hung)"),
                }
            }
        }
    }

    fn is_efbig(written: io::Result<()>) -> bool {
        written.is_err_and(|e| e.raw_os_error() == Some(libc::EFBIG))
    }

    /// Past the file-size limit, a write with SIGXFSZ held off is `EFBIG`,
    /// and the writer lives on (a plain write would be killed).
    #[test]
    fn a_write_past_the_size_limit_is_an_error() {
        let file = tempfile_in_tmp();
        let code = under_size_limit(10, || {
            i32::from(!is_efbig(write_below_limit(&file, &[7; 100])))
        });
        assert_eq!(code, 0, "not EFBIG");
    }

    /// A write that fails with EFBIG without the kernel raising SIGXFSZ
    /// (past the file system's largest file: ext4's 16 TiB less 4 KiB;
    /// FAT's 4 GiB, an NFS or FUSE server) is an error, not a hang.
    #[test]
    fn efbig_without_sigxfsz_does_not_hang() {
        let file = tempfile_in_tmp();
        let (mut lo, mut hi) = (0u64, i64::MAX as u64);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if file.set_len(mid).is_ok() {
                lo = mid
            } else {
                hi = mid - 1
            }
        }
        file.set_len(lo).unwrap();
        // Made here: the child must not allocate (another thread may have
        // held the allocator's lock at the fork).
        let path = format!("/proc/self/fd/{}", file.as_raw_fd());
        let code = under_size_limit(1 << 62, || {
            let at_the_end = File::options().append(true).open(&path);
            let written = at_the_end.and_then(|file| write_below_limit(&file, &[7; 64]));
            i32::from(!is_efbig(written))
        });
        assert_eq!(code, 0, "not EFBIG");
    }

    /// A SIGXFSZ the program had pending (it blocks SIGXFSZ itself, and its
    /// own write past the limit raised it) is not taken by ours.
    #[test]
    fn the_programs_own_pending_sigxfsz_is_kept() {
        use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
        let file = tempfile_in_tmp();
        let code = under_size_limit(10, || {
            let xfsz = SigSet::from(Signal::SIGXFSZ);
            let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&xfsz), None);
            // The program's own write: 10 bytes, then EFBIG and SIGXFSZ pending.
            let _ = (&file).write_all(&[1; 100]);
            let before = xfsz_pending();
            let _ = write_below_limit(&file, &[7; 64]);
            match (before, xfsz_pending()) {
                (true, true) => 0,
                (true, false) => 2,
                _ => 3,
            }
        });
        assert_eq!(code, 0, "2: the program's pending SIGXFSZ was taken");
    }

    fn xfsz_pending() -> bool {
        // SAFETY: a plain sigset, filled by the kernel.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigpending(&mut set);
            libc::sigismember(&set, libc::SIGXFSZ) == 1
        }
    }

    /// A file of its own in the temporary folder, already unlinked.
    fn tempfile_in_tmp() -> File {
        static MADE: AtomicU32 = AtomicU32::new(0);
        let n = MADE.fetch_add(1, Ordering::Relaxed);
        let name = format!("sys-test-{}-{n}", std::process::id());
        let path = std::env::temp_dir().join(name);
        let file = File::options()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        file
    }

    /// A child runs until it ends, reaped or not; then it is no running
    /// child of ours.
    #[test]
    fn running_child_until_it_ends() {
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        assert!(running_child(pid), "running");
        child.kill().unwrap();
        let pidfd = pidfd_open(pid).unwrap();
        wait_readable(&[pidfd.as_fd()], Wait::Forever).unwrap();
        assert!(!running_child(pid), "ended, not yet reaped");
        child.wait().unwrap();
        assert!(!running_child(pid), "reaped");
    }

    /// A stamp says what the system knows for certain: this process runs;
    /// a process with another start time under its number, or none at
    /// all, has gone (a reused id is not the holder); a zombie has gone;
    /// no stamp, or another pid namespace, is unknown.
    #[test]
    fn fate_fails_closed() {
        let me = me();
        let ns = me.ns;
        assert!(me.in_ns(ns), "this test needs a readable /proc");
        assert_eq!(fate(me.pid, me.stamp, &me, ns), Fate::Runs);
        // Same pid, another process: another pidfs inode, or start time.
        let reused = me.stamp ^ if me.stamp & PIDFS != 0 { 1 } else { 1 << 22 };
        assert_eq!(fate(me.pid, reused, &me, ns), Fate::Gone);
        assert_eq!(fate(0x3f_fffe, 0, &me, ns), Fate::Gone, "no such process");
        assert_eq!(fate(me.pid, 0, &me, ns), Fate::Unknown, "no stamp");
        assert_eq!(
            fate(me.pid, me.stamp, &me, ns ^ 1),
            Fate::Unknown,
            "another namespace"
        );
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        while std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z"))
        {
            std::thread::yield_now();
        }
        assert_eq!(fate(pid, 0, &me, ns), Fate::Gone, "a zombie has ended");
        child.wait().unwrap();
        assert_eq!(fate(pid, 0, &me, ns), Fate::Gone, "reaped");
    }
}
