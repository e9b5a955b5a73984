//! Memory shared by every process forked after it was made, and a way to
//! sleep until a number in it changes: a *futex*. The counts of a queue or
//! a pipe and the flag of an event live here. (Looking again and again for
//! a moment before sleeping is `spin.rs`.)
//!
//! Everything here is `pub(crate)`: learners meet it through the module
//! docs of [`crate::ipc`], and use it through `Queue` and `Event`.

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
/// physical memory, so a store by one is a load by the other. `S` must be
/// made of atomics, and all-zero must be its initial value.
pub(crate) struct SharedMem<S> {
    ptr: NonNull<S>,
}

// SAFETY: `SharedMem` hands out only `&S`; sending it to or sharing it with
// another thread is as safe as doing so with `&S`, which `S: Sync` allows.
unsafe impl<S: Sync> Send for SharedMem<S> {}
// SAFETY: as above.
unsafe impl<S: Sync> Sync for SharedMem<S> {}

impl<S> SharedMem<S> {
    /// Map a fresh shared region for one `S`, all zeros.
    pub(crate) fn new() -> Result<Self, Error> {
        const { assert!(align_of::<S>() <= 4096 && size_of::<S>() > 0) };
        // SAFETY: a new anonymous mapping touches no existing memory; we
        // check for failure before using the address.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size_of::<S>(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(Errno::last().into());
        }
        let ptr = NonNull::new(addr.cast::<S>()).ok_or(Error::from(Errno::ENOMEM))?;
        Ok(SharedMem { ptr })
    }
}

impl<S> Deref for SharedMem<S> {
    type Target = S;
    fn deref(&self) -> &S {
        // SAFETY: the mapping is page-aligned, lives until `drop`, and all
        // zeros is a valid `S`; `S` is designed for shared access.
        unsafe { self.ptr.as_ref() }
    }
}

impl<S> Drop for SharedMem<S> {
    fn drop(&mut self) {
        // Only this process's view goes away; the pages live on while any
        // other process still has them mapped. `S`'s destructor is not run:
        // the value belongs to every process at once.
        // SAFETY: unmapping exactly the region `new` mapped, once.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), size_of::<S>()) };
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
