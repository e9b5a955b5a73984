//! [`Semaphore`] and [`BoundedSemaphore`]: a count in shared memory.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use super::lock::{Block, Guard, Release};
use crate::Error;
use crate::sealed::Sealed;
use crate::sys::{self, SharedMem, Wait, futex_wait, futex_wake};
use crate::timeline::{self, On};

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
        count.value.store(value, Ordering::Relaxed);
        Ok(Semaphore {
            count: Arc::new(count),
            bound: None,
        })
    }

    /// Take a unit (Python: `acquire(block, timeout)`); whether one was taken.
    pub fn acquire(&self, block: Block) -> bool {
        let wait = Wait::from(block);
        let value = &self.count.value;
        let mut began = None; // when it first had to wait, for a timeline
        loop {
            let units = value.load(Ordering::Relaxed);
            if units > 0 {
                if value
                    .compare_exchange(units, units - 1, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    timeline::waited(On::Semaphore, began);
                    return true;
                }
                continue;
            }
            let left = wait.left();
            if left.is_some_and(|left| left.is_zero()) {
                timeline::waited(On::Semaphore, began);
                return false;
            }
            began = began.or_else(timeline::now_if_on);
            self.count.sleepers.fetch_add(1, Ordering::SeqCst);
            futex_wait(value, 0, left); // returns at once if a unit came meanwhile
            self.count.sleepers.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Give a unit back (Python: `release()`), waking a sleeper. For a
    /// bounded semaphore, going past its start value is CPython's
    /// `ValueError: semaphore or lock released too many times`.
    pub fn release(&self) -> Result<(), Error> {
        let value = &self.count.value;
        let bound = self.bound.unwrap_or(u32::MAX);
        let raised = value.fetch_update(Ordering::SeqCst, Ordering::Relaxed, |units| {
            (units < bound).then_some(units + 1)
        });
        if raised.is_err() {
            return Err(Error::ReleasedTooManyTimes);
        }
        if self.count.sleepers.load(Ordering::SeqCst) > 0 {
            futex_wake(value, 1);
        }
        Ok(())
    }

    /// The units left (Python: `get_value()`).
    pub fn get_value(&self) -> u32 {
        self.count.value.load(Ordering::Relaxed)
    }

    /// Hold a unit until the guard is dropped (Python: `with sem:`).
    pub fn lock(&self) -> SemaphoreGuard<'_> {
        self.acquire(Block::Forever);
        Guard::new(self)
    }
}

impl Sealed for Semaphore {}
impl Release for Semaphore {
    fn release_once(&self) {
        let _ = self.release();
    }
}

/// A unit held, until dropped.
pub type SemaphoreGuard<'a> = Guard<'a, Semaphore>;

/// CPython's reprs: `<Semaphore(value=2)>`,
/// `<BoundedSemaphore(value=1, maxvalue=1)>`.
impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.bound {
            None => write!(f, "<Semaphore(value={})>", self.get_value()),
            Some(max) => write!(
                f,
                "<BoundedSemaphore(value={}, maxvalue={max})>",
                self.get_value()
            ),
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
