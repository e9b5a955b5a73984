//! [`Event`]: a flag that processes can wait on.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::Wait;
use crate::Error;
use crate::sys::{SharedMem, futex_wait, futex_wake_all};

/// Python's `multiprocessing.Event`: a flag, initially clear, that any
/// process holding the event can set, clear, test or wait for.
///
/// The flag is one bit of a 32-bit word in shared memory. [`wait`](Self::wait)
/// sleeps in the kernel (`futex`) until [`set`](Self::set) wakes every
/// sleeper, in whatever process. Make the event before forking the
/// processes that use it, and clone it into their closures.
///
/// ```
/// use shared::Process;
/// use shared::ipc::Event;
///
/// # fn main() -> Result<(), shared::Error> {
/// let e = Event::new()?;
/// let child_e = e.clone();
/// let mut p = Process::new(move || assert!(child_e.wait()));
/// p.start()?;
/// e.set(); // wakes the child
/// p.join()?;
/// assert!(e.is_set());
/// assert_eq!(p.exitcode(), Some(0));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Event {
    flag: Arc<SharedMem<AtomicU32>>,
}

/// CPython's repr: `<Event at 0x7f3a2c1d4000 unset>` (the address is where
/// the flag lives, the same in every process that shares it).
impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.is_set() { "set" } else { "unset" };
        write!(f, "<Event at {:p} {state}>", &**self.flag)
    }
}

impl Event {
    /// A new event, not set (Python: `Event()`).
    pub fn new() -> Result<Event, Error> {
        let flag = SharedMem::new()?; // zeroed: not set
        Ok(Event {
            flag: Arc::new(flag),
        })
    }

    /// Whether the flag is set (Python: `is_set()`).
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire) & SET != 0
    }

    /// Set the flag and wake every process waiting for it (Python: `set()`).
    pub fn set(&self) {
        // A new round: the waiters it wakes return even if the flag is
        // cleared again before they run.
        let before = self
            .flag
            .fetch_update(Ordering::Release, Ordering::Relaxed, |word| {
                Some((word & !(SET | SLEEPERS)).wrapping_add(ROUND) | SET)
            })
            .unwrap_or_default();
        if before & SLEEPERS != 0 {
            futex_wake_all(&self.flag); // no system call when nobody sleeps
        }
    }

    /// Clear the flag (Python: `clear()`): `wait` blocks again until the
    /// next `set`.
    pub fn clear(&self) {
        self.flag.fetch_and(!SET, Ordering::Release);
    }

    /// Wait until the flag is set (Python: `wait()`); returns at once if it
    /// already is. As CPython's, it returns the flag as it reads once woken:
    /// `true`, or `false` if another process cleared it between the `set`
    /// that woke this one and this one's look.
    pub fn wait(&self) -> bool {
        self.wait_as(Wait::Forever)
    }

    /// Wait at most `timeout` for the flag (Python: `wait(timeout)`);
    /// returns whether it is set, so `false` means the time ran out (or,
    /// as for [`wait`](Self::wait), that it was cleared again at once).
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_as(Wait::timeout(timeout))
    }

    fn wait_as(&self, wait: Wait) -> bool {
        let start = self.flag.load(Ordering::Acquire);
        if start & SET != 0 {
            return true;
        }
        // Until a `set` starts a new round (even if a `clear` follows it
        // before this process runs again), or the time runs out. A sleeper
        // raises SLEEPERS first, so that `set` knows to wake it.
        let round = |word: u32| word & !(SET | SLEEPERS);
        let began = crate::timeline::now_if_on();
        loop {
            let word = self.flag.load(Ordering::Acquire);
            let left = wait.left();
            if round(word) != round(start) || left.is_some_and(|left| left.is_zero()) {
                crate::timeline::waited(crate::timeline::On::Event, began);
                return self.is_set();
            }
            if word & SLEEPERS == 0 {
                let raised = self.flag.compare_exchange(
                    word,
                    word | SLEEPERS,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                if raised.is_err() {
                    continue;
                }
            }
            futex_wait(&self.flag, word | SLEEPERS, left);
        }
    }
}

/// The flag's bit in its word; the next says someone may sleep on it;
/// the bits above count the `set` calls, so a waiter can tell that one
/// happened even if the flag is clear again.
const SET: u32 = 1;
const SLEEPERS: u32 = 2;
const ROUND: u32 = 4;
