//! [`Spin`]: look at a count in shared memory (or ask the kernel, for a
//! stream) for a few microseconds before sleeping in the kernel, as a
//! blocking `recv` or `get` does.
//!
//! `pub(crate)`: learners meet it through the module docs of
//! [`crate::ipc`].

use std::sync::atomic::{AtomicU32, Ordering};

/// How many times [`Spin::until`] looks at memory before the caller
/// sleeps: some 50 µs of `PAUSE` instructions (about 12 ns each on this
/// project's machines), more than a quick reply needs.
const LOADS: u32 = 5_000;

/// The same 50 µs in looks that are system calls (a `recv` that only
/// peeks, some 300 ns each): a [`PyConnection`](crate::connection::PyConnection)'s
/// stream has no count in shared memory to look at.
pub(crate) const CALLS: u32 = 150;

/// Look at a number in shared memory for a few microseconds before going
/// to sleep in the kernel, and learn from how that went.
///
/// Why: a process asleep in the kernel takes tens of microseconds to wake
/// (on a virtual machine whose idle CPU has halted, a hundred or more),
/// while the answer to a quick back-and-forth often comes sooner than that.
/// A spin that finds nothing is wasted, though, and worse than wasted when
/// the process it waits for needs this very CPU. So a process that may run
/// on one CPU only (its affinity when the pipe or queue was made) never
/// spins; and after a spin that found nothing, the next waits skip it: 1,
/// 2, 4, … up to 64 of them, until a spin finds something again. No clock
/// and no system call per wait: a bounded count of loads.
#[derive(Debug)]
pub(crate) struct Spin {
    /// How many looks a spin takes: [`LOADS`] or [`CALLS`].
    looks: u32,
    /// Waits left to go straight to sleep; `u32::MAX`: never spin.
    skip: AtomicU32,
    /// How many to skip after the next spin that finds nothing.
    backoff: AtomicU32,
}

/// A spin over a count in shared memory, as pipes and queues wait.
impl Default for Spin {
    fn default() -> Spin {
        Spin::new(LOADS)
    }
}

impl Spin {
    /// A spin of `looks` looks (a process that may run on one CPU only
    /// never spins).
    pub(crate) fn new(looks: u32) -> Spin {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let skip = if cpus > 1 { 0 } else { u32::MAX };
        Spin {
            looks,
            skip: AtomicU32::new(skip),
            backoff: AtomicU32::new(0),
        }
    }

    /// Whether `ready` became true within the spin (`false` at once while
    /// skipping); the caller then waits in the kernel either way.
    pub(crate) fn until(&self, ready: impl Fn() -> bool) -> bool {
        match self.skip.load(Ordering::Relaxed) {
            u32::MAX => return ready(),
            0 => {}
            skip => {
                self.skip.store(skip - 1, Ordering::Relaxed);
                return ready();
            }
        }
        for _ in 0..self.looks {
            if ready() {
                self.backoff.store(0, Ordering::Relaxed);
                return true;
            }
            std::hint::spin_loop();
        }
        let backoff = (self.backoff.load(Ordering::Relaxed) * 2).clamp(1, 64);
        self.backoff.store(backoff, Ordering::Relaxed);
        self.skip.store(backoff, Ordering::Relaxed);
        false
    }
}
