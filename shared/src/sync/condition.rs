//! [`Condition`] and [`Barrier`].

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::lock::{Block, Lock, RLock};
use crate::error::Error;
use crate::sys::{self, SharedMem, Wait, futex_wait, futex_wake};

/// The lock a condition is over (CPython: `Condition(lock=None)` makes an
/// `RLock`).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
enum Over {
    Lock(Lock),
    RLock(RLock),
}

/// A condition's counts, in shared memory. Every change to `waiters` and
/// `tickets` is made holding the condition's lock, so they always agree.
struct Counts {
    /// Waiters not yet notified.
    waiters: AtomicU32,
    /// Notifications not yet taken: `notify(n)` hands out up to `n`.
    tickets: AtomicU32,
    /// Raised by each notify: the futex word waiters sleep on.
    seq: AtomicU32,
}

// SAFETY: atomics, zeros (no waiters, no tickets) valid.
unsafe impl sys::Shareable for Counts {}

/// Python's `multiprocessing.Condition`: wait, holding its lock, until
/// another process notifies.
///
/// `wait` releases the lock, sleeps until a `notify` hands it a ticket,
/// and takes the lock back before it returns. `notify(n)` wakes at most
/// `n` of the waiters there are. A waiter killed while it waits still
/// counts as one until a later `notify` hands it a ticket that nobody
/// takes; the next waiter then returns at once, as from a spurious
/// wake-up (use [`wait_for`](Self::wait_for) with a predicate, as Python
/// advises). Nobody is ever left waiting for it.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Condition {
    over: Over,
    counts: Arc<SharedMem<Counts>>,
}

impl Condition {
    /// A condition over a new `RLock` (Python: `Condition()`).
    pub fn new() -> Result<Condition, Error> {
        Condition::over(Over::RLock(RLock::new()?))
    }

    /// A condition over `lock` (Python: `Condition(lock)`).
    pub fn with_lock(lock: Lock) -> Result<Condition, Error> {
        Condition::over(Over::Lock(lock))
    }

    /// A condition over the re-entrant `lock`.
    pub fn with_rlock(lock: RLock) -> Result<Condition, Error> {
        Condition::over(Over::RLock(lock))
    }

    fn over(over: Over) -> Result<Condition, Error> {
        Ok(Condition {
            over,
            counts: Arc::new(SharedMem::new()?),
        })
    }

    /// Take the condition's lock (Python: `acquire`, or `with cond:`).
    pub fn acquire(&self, block: Block) -> bool {
        match &self.over {
            Over::Lock(lock) => lock.acquire(block),
            Over::RLock(lock) => lock.acquire(block),
        }
    }

    /// Release the condition's lock.
    pub fn release(&self) -> Result<(), Error> {
        match &self.over {
            Over::Lock(lock) => lock.release(),
            Over::RLock(lock) => lock.release(),
        }
    }

    /// Hold the lock until the guard is dropped (Python: `with cond:`).
    pub fn lock(&self) -> ConditionGuard<'_> {
        self.acquire(Block::Forever);
        ConditionGuard { cond: self }
    }

    fn is_mine(&self) -> bool {
        match &self.over {
            Over::Lock(lock) => lock.word().holder() == Some(sys::thread_id()),
            Over::RLock(lock) => lock.is_mine(),
        }
    }

    /// Release the lock however many times it is held; the count to restore.
    fn release_all(&self) -> u32 {
        match &self.over {
            Over::Lock(lock) => {
                let _ = lock.release();
                1
            }
            Over::RLock(lock) => lock.release_all(),
        }
    }

    fn restore(&self, count: u32) {
        match &self.over {
            Over::Lock(lock) => {
                lock.acquire(Block::Forever);
            }
            Over::RLock(lock) => lock.restore(count),
        }
    }

    /// Wait until notified (Python: `wait()`), holding the lock before and
    /// after; `Ok(true)`. Without the lock: CPython's `AssertionError`.
    pub fn wait(&self) -> Result<bool, Error> {
        self.wait_as(Wait::Forever)
    }

    /// Wait at most `timeout` (Python: `wait(timeout)`); whether notified.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, Error> {
        self.wait_as(Wait::timeout(timeout))
    }

    fn wait_as(&self, wait: Wait) -> Result<bool, Error> {
        if !self.is_mine() {
            return Err(Error::NotOwned(
                "must acquire() condition before using wait()",
            ));
        }
        let counts = &self.counts;
        counts.waiters.fetch_add(1, Ordering::Relaxed);
        loop {
            let seq = counts.seq.load(Ordering::Acquire);
            let held = self.release_all();
            let left = wait.left();
            if !left.is_some_and(|left| left.is_zero()) {
                futex_wait(&counts.seq, seq, left);
            }
            self.restore(held);
            if counts.tickets.load(Ordering::Relaxed) > 0 {
                counts.tickets.fetch_sub(1, Ordering::Relaxed);
                counts.waiters.fetch_sub(1, Ordering::Relaxed);
                return Ok(true);
            }
            if wait.expired() {
                counts.waiters.fetch_sub(1, Ordering::Relaxed);
                return Ok(false);
            }
        }
    }

    /// Wait until `predicate()` holds, checking it first and after each
    /// notification (Python: `wait_for(predicate, timeout)`); its last value.
    pub fn wait_for(
        &self,
        predicate: impl Fn() -> bool,
        timeout: Option<Duration>,
    ) -> Result<bool, Error> {
        let wait = timeout.map_or(Wait::Forever, Wait::timeout);
        loop {
            if predicate() {
                return Ok(true);
            }
            if wait.expired() {
                return Ok(false);
            }
            self.wait_as(wait)?;
        }
    }

    /// Wake at most `n` waiters (Python: `notify(n)`); needs the lock.
    pub fn notify(&self, n: u32) -> Result<(), Error> {
        if !self.is_mine() {
            return Err(Error::NotOwned("lock is not owned"));
        }
        let counts = &self.counts;
        let waiting =
            counts.waiters.load(Ordering::Relaxed) - counts.tickets.load(Ordering::Relaxed);
        let n = n.min(waiting);
        if n > 0 {
            counts.tickets.fetch_add(n, Ordering::Relaxed);
            counts.seq.fetch_add(1, Ordering::Release);
            futex_wake(&counts.seq, n);
        }
        Ok(())
    }

    /// Wake every waiter (Python: `notify_all()`).
    pub fn notify_all(&self) -> Result<(), Error> {
        self.notify(u32::MAX)
    }
}

/// The condition's lock held, until dropped.
pub struct ConditionGuard<'a> {
    cond: &'a Condition,
}

impl Drop for ConditionGuard<'_> {
    fn drop(&mut self) {
        let _ = self.cond.release();
    }
}

/// CPython's repr: `<Condition(<RLock(None, 0)>, 0)>`, the number being
/// the waiters not yet notified.
impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let waiting = self.counts.waiters.load(Ordering::Relaxed)
            - self.counts.tickets.load(Ordering::Relaxed);
        match &self.over {
            Over::Lock(lock) => write!(f, "<Condition({lock:?}, {waiting})>"),
            Over::RLock(lock) => write!(f, "<Condition({lock:?}, {waiting})>"),
        }
    }
}

/// A barrier's state, in shared memory, changed under its condition's lock.
struct State {
    /// How many have arrived in this round.
    count: AtomicU32,
    /// Raised when a round completes (or the barrier is reset).
    round: AtomicU32,
    /// The last round that completed, plus one (so 0 is none).
    completed: AtomicU32,
    /// 1 while broken.
    broken: AtomicU32,
}

// SAFETY: atomics, zeros valid (no one arrived, round 0, not broken).
unsafe impl sys::Shareable for State {}

/// Python's `multiprocessing.Barrier(parties, timeout)`: `wait` returns
/// once `parties` processes wait; a timeout or an `abort` breaks it, and
/// every waiter, then and later, gets CPython's `BrokenBarrierError`
/// until `reset`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Barrier {
    parties: u32,
    timeout: Option<Duration>,
    cond: Condition,
    state: Arc<SharedMem<State>>,
}

impl Barrier {
    /// A barrier for `parties` (at least 1), with a default timeout for
    /// each `wait` (`None`: none).
    pub fn new(parties: u32, timeout: Option<Duration>) -> Result<Barrier, Error> {
        if parties == 0 {
            return Err(Error::InvalidArgument("parties must be at least 1"));
        }
        Ok(Barrier {
            parties,
            timeout,
            cond: Condition::with_lock(Lock::new()?)?,
            state: Arc::new(SharedMem::new()?),
        })
    }

    /// How many must wait for it to let them go (Python: `parties`).
    pub fn parties(&self) -> u32 {
        self.parties
    }

    /// How many wait now (Python: `n_waiting`).
    pub fn n_waiting(&self) -> u32 {
        self.state.count.load(Ordering::Relaxed)
    }

    /// Whether it is broken (Python: `broken`).
    pub fn broken(&self) -> bool {
        self.state.broken.load(Ordering::Relaxed) == 1
    }

    /// Wait for the others (Python: `wait(timeout)`, `None` taking the
    /// barrier's own); each waiter of a round gets a different index,
    /// `0..parties`.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<u32, Error> {
        let wait = timeout
            .or(self.timeout)
            .map_or(Wait::Forever, Wait::timeout);
        let _held = self.cond.lock();
        let state = &self.state;
        if self.broken() {
            return Err(Error::BrokenBarrier);
        }
        let round = state.round.load(Ordering::Relaxed);
        let index = state.count.fetch_add(1, Ordering::Relaxed);
        if index + 1 == self.parties {
            state.count.store(0, Ordering::Relaxed);
            state.completed.store(round + 1, Ordering::Relaxed);
            state.round.fetch_add(1, Ordering::Relaxed);
            self.cond.notify_all()?;
            return Ok(index);
        }
        loop {
            let notified = self.cond.wait_as(wait)?;
            if state.completed.load(Ordering::Relaxed) == round + 1 {
                return Ok(index);
            }
            // Broken, or reset while we waited: our round will never come.
            if self.broken() || state.round.load(Ordering::Relaxed) != round {
                return Err(Error::BrokenBarrier);
            }
            if !notified && wait.expired() {
                self.break_it()?;
                return Err(Error::BrokenBarrier);
            }
        }
    }

    /// Break it (Python: `abort()`): every waiter gets `BrokenBarrierError`.
    pub fn abort(&self) -> Result<(), Error> {
        let _held = self.cond.lock();
        self.break_it()
    }

    fn break_it(&self) -> Result<(), Error> {
        self.state.broken.store(1, Ordering::Relaxed);
        self.state.count.store(0, Ordering::Relaxed);
        self.cond.notify_all()
    }

    /// Mend it (Python: `reset()`): a new round; anyone waiting now gets
    /// `BrokenBarrierError`.
    pub fn reset(&self) -> Result<(), Error> {
        let _held = self.cond.lock();
        if self.state.count.load(Ordering::Relaxed) > 0 {
            self.break_it()?;
        }
        self.state.broken.store(0, Ordering::Relaxed);
        self.state.round.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
