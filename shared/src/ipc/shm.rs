//! The small machinery under the queues and the event: a page of memory
//! shared by every process forked after it was made, a way to sleep until a
//! number in it changes (a *futex*), and a lock that survives the death of
//! its holder.
//!
//! Everything here is `pub(crate)`: learners meet it through the module
//! docs of [`crate::ipc`], and use it through `Queue` and `Event`.

use std::cell::UnsafeCell;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::error::Error;

/// A value of type `S` in memory shared with every process forked after it
/// was made.
///
/// `mmap(MAP_SHARED | MAP_ANONYMOUS)` asks the kernel for fresh zeroed pages
/// that are *not* copied on `fork`: parent and child keep seeing the same
/// physical memory, so a store by one is a load by the other. `S` must
/// therefore be made of types built for sharing (atomics, a process-shared
/// lock) and valid when all-zero until `new`'s `init` has run.
pub(crate) struct SharedMem<S> {
    ptr: NonNull<S>,
    len: usize,
}

// SAFETY: `SharedMem` hands out only `&S`; sending it to or sharing it with
// another thread is as safe as doing so with `&S`, which `S: Sync` allows.
unsafe impl<S: Sync> Send for SharedMem<S> {}
// SAFETY: as above.
unsafe impl<S: Sync> Sync for SharedMem<S> {}

impl<S> SharedMem<S> {
    /// Map a fresh shared region for one `S` and let `init` set it up in
    /// place (it starts zeroed, and it must never move: the kernel and other
    /// processes know it by its address).
    pub(crate) fn new(init: impl FnOnce(NonNull<S>) -> Result<(), Error>) -> Result<Self, Error> {
        const { assert!(std::mem::align_of::<S>() <= 4096) };
        let len = std::mem::size_of::<S>().max(1);
        // SAFETY: a new anonymous mapping touches no existing memory; we
        // check for failure before using the address.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(Errno::last().into());
        }
        let ptr = NonNull::new(addr.cast::<S>()).ok_or(Error::Os(Errno::ENOMEM))?;
        let mem = SharedMem { ptr, len }; // unmaps on the error path below
        init(mem.ptr)?;
        Ok(mem)
    }
}

impl<S> Deref for SharedMem<S> {
    type Target = S;
    fn deref(&self) -> &S {
        // SAFETY: the mapping is page-aligned, lives until `drop`, and was
        // initialised by `new`; `S` is designed for shared access.
        unsafe { self.ptr.as_ref() }
    }
}

impl<S> Drop for SharedMem<S> {
    fn drop(&mut self) {
        // Only this process's view goes away; the pages live on while any
        // other process still has them mapped. `S`'s destructor is not run:
        // the value belongs to every process at once.
        // SAFETY: unmapping exactly the region `new` mapped, once.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// Sleep while `word` still holds `expected`, for at most `timeout`
/// (`None`: no limit). Returns early on a wake-up, on a signal, or at once
/// if the value already differs: callers re-check their condition in a loop.
///
/// This is `futex(FUTEX_WAIT)`, the kernel call every Linux lock and
/// condition variable is built on. Without `FUTEX_PRIVATE_FLAG` the kernel
/// keys the sleeper by the *physical* page, so a sleeper in one process is
/// woken by a `wake_all` in another.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a live, aligned u32; the kernel only reads it and the
    // optional timespec, which outlives the call.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            ts_ptr,
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

/// Wake every process and thread sleeping in [`futex_wait`] on `word`.
pub(crate) fn futex_wake_all(word: &AtomicU32) {
    // SAFETY: `word` is a live, aligned u32; FUTEX_WAKE only uses its address.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            i32::MAX,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

/// Wait until `ready(word's value)` holds or `deadline` passes; returns
/// whether it held. `deadline` `None` waits for ever.
pub(crate) fn wait_until(
    word: &AtomicU32,
    ready: impl Fn(u32) -> bool,
    deadline: Option<Instant>,
) -> bool {
    loop {
        let value = word.load(Ordering::Acquire);
        if ready(value) {
            return true;
        }
        let timeout = match deadline {
            None => None,
            Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => return false,
            },
        };
        futex_wait(word, value, timeout);
    }
}

/// How long to wait: CPython's `block` and `timeout` arguments in one.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Wait {
    /// `block=False`: do not wait at all.
    No,
    /// `timeout=t`: wait until this instant.
    Until(Instant),
    /// `block=True, timeout=None`: wait as long as it takes.
    Forever,
}

impl Wait {
    pub(crate) fn timeout(timeout: Duration) -> Wait {
        Instant::now()
            .checked_add(timeout)
            .map_or(Wait::Forever, Wait::Until)
    }

    /// Time left, `None` for ever; zero once the deadline has passed.
    pub(crate) fn left(self) -> Option<Duration> {
        match self {
            Wait::No => Some(Duration::ZERO),
            Wait::Until(deadline) => Some(deadline.saturating_duration_since(Instant::now())),
            Wait::Forever => None,
        }
    }

    pub(crate) fn deadline(self) -> Option<Instant> {
        match self {
            Wait::No => Some(Instant::now()),
            Wait::Until(deadline) => Some(deadline),
            Wait::Forever => None,
        }
    }
}

/// A lock shared by processes that the kernel releases if its holder dies.
///
/// It is a POSIX mutex made *process-shared* (it lives in [`SharedMem`] and
/// works across processes) and *robust*: glibc tells the kernel, thread by
/// thread, which robust locks it holds. If a thread dies holding one (say,
/// its process was killed), the kernel marks the lock "owner died" and wakes
/// a waiter, whose lock call returns `EOWNERDEAD`: it now holds the lock and
/// declares it usable again with `pthread_mutex_consistent`. Without this, a
/// consumer killed while holding a queue's read lock would block every other
/// consumer for ever.
#[repr(C)]
pub(crate) struct RobustMutex(UnsafeCell<libc::pthread_mutex_t>);

// SAFETY: a process-shared pthread mutex is designed to be used from many
// threads (and processes) at once through a shared pointer.
unsafe impl Sync for RobustMutex {}

impl RobustMutex {
    /// Set up the mutex in place, in shared memory.
    ///
    /// # Safety
    /// `this` points to zeroed, writable memory for a `RobustMutex` that no
    /// one else uses yet and that will not move.
    pub(crate) unsafe fn init(this: *mut RobustMutex) -> Result<(), Error> {
        // SAFETY: per the contract, `this` is ours to initialise; the
        // attribute object lives on our stack for the duration.
        unsafe {
            let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
            check(libc::pthread_mutexattr_init(attr.as_mut_ptr()))?;
            let attr_ptr = attr.as_mut_ptr();
            let result = check(libc::pthread_mutexattr_setpshared(
                attr_ptr,
                libc::PTHREAD_PROCESS_SHARED,
            ))
            .and_then(|()| {
                check(libc::pthread_mutexattr_setrobust(
                    attr_ptr,
                    libc::PTHREAD_MUTEX_ROBUST,
                ))
            })
            .and_then(|()| {
                check(libc::pthread_mutex_init(
                    UnsafeCell::raw_get(&raw const (*this).0),
                    attr_ptr,
                ))
            });
            libc::pthread_mutexattr_destroy(attr_ptr);
            result
        }
    }

    /// Take the lock, waiting as `wait` says. `Ok(None)` means the wait ran
    /// out (or, for [`Wait::No`], that someone else holds it).
    ///
    /// A waiter never sleeps longer than [`LOCK_SLICE`] at a time. glibc's
    /// robust mutex can lose a wake-up when a process is killed just after
    /// the unlocker woke it and before it took the lock, if a third process
    /// takes the lock in between: the "someone is waiting" bit goes with the
    /// dead process, and the next unlock wakes nobody. Waking up now and
    /// then to look again turns that rare hang into a short delay.
    pub(crate) fn lock(&self, wait: Wait) -> Result<Option<RobustGuard<'_>>, Error> {
        let m = self.0.get();
        let code = loop {
            // SAFETY: `m` points to a mutex initialised by `init`, living in
            // shared memory that outlives `self`.
            let code = unsafe {
                match wait {
                    Wait::No => libc::pthread_mutex_trylock(m),
                    Wait::Forever | Wait::Until(_) => {
                        let slice = Instant::now() + LOCK_SLICE;
                        let until = wait.deadline().map_or(slice, |d| d.min(slice));
                        libc::pthread_mutex_timedlock(m, &realtime_deadline(until))
                    }
                }
            };
            let out_of_time = match wait.deadline() {
                None => false,
                Some(deadline) => Instant::now() >= deadline,
            };
            if code != libc::ETIMEDOUT || out_of_time {
                break code;
            }
        };
        match code {
            0 => Ok(Some(RobustGuard(self))),
            libc::EOWNERDEAD => {
                // The last holder died holding it. What it guarded is a
                // socket read, which the kernel already cleaned up.
                log::debug!("a process died holding a queue lock; recovering it");
                let guard = RobustGuard(self); // EOWNERDEAD means we hold it
                // SAFETY: we hold the lock, as the kernel said.
                check(unsafe { libc::pthread_mutex_consistent(m) })?;
                Ok(Some(guard))
            }
            libc::EBUSY | libc::ETIMEDOUT => Ok(None),
            code => Err(Error::Os(Errno::from_raw(code))),
        }
    }
}

/// The longest a waiter for a [`RobustMutex`] sleeps before looking again.
const LOCK_SLICE: Duration = Duration::from_millis(100);

/// Holding a [`RobustMutex`]; dropping it unlocks.
pub(crate) struct RobustGuard<'a>(&'a RobustMutex);

impl Drop for RobustGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: this thread holds the lock (that is what a guard means).
        unsafe { libc::pthread_mutex_unlock(self.0.0.get()) };
    }
}

/// `pthread_mutex_timedlock` wants an absolute wall-clock time.
fn realtime_deadline(deadline: Instant) -> libc::timespec {
    let left = deadline.saturating_duration_since(Instant::now());
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) };
    let nanos = now.tv_nsec as u64 + u64::from(left.subsec_nanos());
    let secs = (now.tv_sec as u64)
        .saturating_add(left.as_secs())
        .saturating_add(nanos / 1_000_000_000)
        .min(i64::MAX as u64);
    libc::timespec {
        tv_sec: secs as libc::time_t,
        tv_nsec: (nanos % 1_000_000_000) as libc::c_long,
    }
}

fn check(code: libc::c_int) -> Result<(), Error> {
    match code {
        0 => Ok(()),
        code => Err(Error::Os(Errno::from_raw(code))),
    }
}

/// How long [`spin`] keeps looking before the caller goes to sleep.
pub const SPIN: Duration = Duration::from_micros(50);

/// Call `ready` again and again for up to [`SPIN`], until it says `true`;
/// return what it said last (`false` at once with a single CPU).
///
/// Why spin at all: a sleeping process takes tens of microseconds to wake,
/// and on a virtual machine whose idle CPU has halted, a hundred or more,
/// while the answer to a quick back-and-forth often arrives sooner than
/// that. Only worth it with a second CPU: on one, spinning only keeps the
/// process we are waiting for from running, so then we go straight to sleep.
pub(crate) fn spin(mut ready: impl FnMut() -> bool) -> bool {
    if !may_use_two_cpus() {
        return false;
    }
    let until = Instant::now() + SPIN;
    loop {
        if ready() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::hint::spin_loop();
    }
}

/// Whether this process may run on more than one CPU (its affinity mask).
fn may_use_two_cpus() -> bool {
    use nix::sched::{CpuSet, sched_getaffinity};
    let Ok(set) = sched_getaffinity(nix::unistd::Pid::from_raw(0)) else {
        return false;
    };
    (0..CpuSet::count())
        .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
        .nth(1)
        .is_some()
}
