//! [`Semaphore`] and [`BoundedSemaphore`]: a count in shared memory.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::{Acquire, Relaxed, SeqCst};

use super::lock::{Block, Guard, drawn};
use crate::Error;
use crate::sys::{self, SharedMem, Wait, futex_wait, futex_wake};
use crate::timeline::On;

/// The shared part: the count, and how many sleep waiting for it.
struct Count {
    value: AtomicU32,
    sleepers: AtomicU32,
}

// SAFETY: atomics; the count is set right after mapping, before sharing.
unsafe impl sys::Shareable for Count {}

/// Python's `multiprocessing.Semaphore(value)`: `acquire` takes one unit,
/// waiting while there is none; `release` gives one back.
///
/// A semaphore has no owner: any process may release it. So, as in
/// CPython, a unit that a process killed before its `release` held is
/// lost for good: the count stays one lower.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Semaphore {
    count: Arc<SharedMem<Count>>,
    /// `Some(start)` for a [`BoundedSemaphore`].
    bound: Option<u32>,
}

impl Semaphore {
    /// A semaphore with `value` units (Python: `Semaphore(value)`).
    pub fn new(value: u32) -> Result<Semaphore, Error> {
        let count: SharedMem<Count> = SharedMem::new()?;
        count.value.store(value, Relaxed);
        let count = Arc::new(count);
        Ok(Semaphore { count, bound: None })
    }

    /// Take a unit (Python: `acquire(block, timeout)`); whether one was taken.
    pub fn acquire(&self, block: Block) -> bool {
        self.take() || drawn(Some(On::Semaphore), || self.wait_to_take(block.into()))
    }

    /// Take a unit if there is one; whether there was.
    fn take(&self) -> bool {
        let value = &self.count.value;
        let one_less = |units: u32| units.checked_sub(1);
        (value.fetch_update(Acquire, Relaxed, one_less)).is_ok()
    }

    #[cold]
    fn wait_to_take(&self, wait: Wait) -> bool {
        let Count { value, sleepers } = &**self.count;
        while !self.take() {
            if wait.expired() {
                return false;
            }
            sleepers.fetch_add(1, SeqCst);
            futex_wait(value, 0, wait.left()); // returns at once if a unit came meanwhile
            sleepers.fetch_sub(1, SeqCst);
        }
        true
    }

    /// Give a unit back (Python: `release()`), waking a sleeper. For a
    /// bounded semaphore, going past its start value is CPython's
    /// `ValueError: semaphore or lock released too many times`.
    pub fn release(&self) -> Result<(), Error> {
        let value = &self.count.value;
        let bound = self.bound.unwrap_or(u32::MAX);
        let one_more = |units: u32| (units < bound).then_some(units + 1);
        if value.fetch_update(SeqCst, Relaxed, one_more).is_err() {
            return Err(Error::ReleasedTooManyTimes);
        }
        if self.count.sleepers.load(SeqCst) > 0 {
            futex_wake(value, 1);
        }
        Ok(())
    }

    /// The units left (Python: `get_value()`).
    pub fn get_value(&self) -> u32 {
        self.count.value.load(Relaxed)
    }
}

/// A unit held, until dropped.
pub type SemaphoreGuard<'a> = Guard<'a, Semaphore>;

/// CPython's reprs: `<Semaphore(value=2)>`,
/// `<BoundedSemaphore(value=1, maxvalue=1)>`.
impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = self.get_value();
        match self.bound {
            None => write!(f, "<Semaphore(value={value})>"),
            Some(max) => write!(f, "<BoundedSemaphore(value={value}, maxvalue={max})>"),
        }
    }
}

/// Python's `multiprocessing.BoundedSemaphore(value)`: a [`Semaphore`]
/// whose `release` past its start value is an error.
pub struct BoundedSemaphore;

impl BoundedSemaphore {
    /// A bounded semaphore of `value` units (a `Semaphore` that knows it).
    #[allow(clippy::new_ret_no_self)] // Python's: `BoundedSemaphore(1)` is a semaphore
    pub fn new(value: u32) -> Result<Semaphore, Error> {
        let mut sem = Semaphore::new(value)?;
        sem.bound = Some(value);
        Ok(sem)
    }
}
