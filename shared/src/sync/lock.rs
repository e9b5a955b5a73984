//! [`Lock`] and [`RLock`]: one futex word in shared memory that holds the
//! holder's thread id.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::error::Error;
use crate::sys::{self, SharedMem, Wait, futex_wait, futex_wake, thread_id};

/// The word's top bit: a thread may sleep on it, so `release` must wake one.
/// (Thread ids fit in 22 bits: Linux's largest `pid_max` is 2^22.)
const WAITERS: u32 = 1 << 31;

/// How long a waiter sleeps before it looks whether the holder still runs.
const CHECK_EVERY: Duration = Duration::from_millis(20);

/// The word of a lock: 0 when free, else the holder's thread id (and the
/// [`WAITERS`] bit). The algorithm is the classic futex mutex ("Futexes
/// are tricky", Drepper, mutex 3), with the holder's id in the word so
/// that a waiter can tell when the holder has died.
pub(crate) struct Word(AtomicU32);

// SAFETY: a `Word` is an `AtomicU32`, whose zeros (a free lock) are valid.
unsafe impl sys::Shareable for Word {}

impl Word {
    /// The holder's thread id, or `None` while free.
    pub(crate) fn holder(&self) -> Option<u32> {
        match self.0.load(Ordering::Relaxed) & !WAITERS {
            0 => None,
            tid => Some(tid),
        }
    }

    /// Take the lock for `me`, waiting as `wait` says; whether it was taken.
    #[inline]
    pub(crate) fn acquire(&self, me: u32, wait: Wait) -> bool {
        // Uncontended, this one compare-and-swap is all: no system call.
        let free = self
            .0
            .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed);
        free.is_ok() || self.acquire_contended(me, wait)
    }

    #[cold]
    fn acquire_contended(&self, me: u32, wait: Wait) -> bool {
        // Once we have slept we cannot know whether others sleep too, so
        // we take the lock with the WAITERS bit set: our release wakes one.
        let mut take_as = me;
        loop {
            let word = self.0.load(Ordering::Relaxed);
            let holder = word & !WAITERS;
            if holder == 0 {
                let taken = self.0.compare_exchange(
                    word,
                    take_as | (word & WAITERS),
                    Ordering::Acquire,
                    Ordering::Relaxed,
                );
                if taken.is_ok() {
                    return true;
                }
                continue;
            }
            if !sys::thread_alive(holder) {
                // The holder was killed holding it: take it over, keeping
                // the bit for any other sleeper. (CPython's lock would stay
                // locked for ever.)
                let taken = self.0.compare_exchange(
                    word,
                    me | (word & WAITERS),
                    Ordering::Acquire,
                    Ordering::Relaxed,
                );
                if taken.is_ok() {
                    return true;
                }
                continue;
            }
            if word & WAITERS == 0
                && self
                    .0
                    .compare_exchange(word, word | WAITERS, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            let left = wait.left();
            if left.is_some_and(|left| left.is_zero()) {
                return false;
            }
            let nap = left.map_or(CHECK_EVERY, |left| left.min(CHECK_EVERY));
            futex_wait(&self.0, word | WAITERS, Some(nap));
            take_as = me | WAITERS;
        }
    }

    /// Free the lock, waking one sleeper if there may be one; `false` if it
    /// was not held.
    #[inline]
    pub(crate) fn release(&self) -> bool {
        let word = self.0.swap(0, Ordering::Release);
        if word & WAITERS != 0 {
            futex_wake(&self.0, 1);
        }
        word != 0
    }
}

/// How long `acquire` waits: CPython's `acquire(block=True, timeout=None)`.
#[derive(Clone, Copy, Debug)]
pub enum Block {
    /// Until the lock is free (`acquire()`).
    Forever,
    /// Not at all (`acquire(False)`).
    No,
    /// At most this long (`acquire(timeout=t)`).
    For(Duration),
}

impl From<Block> for Wait {
    fn from(block: Block) -> Wait {
        match block {
            Block::Forever => Wait::Forever,
            Block::No => Wait::timeout(Duration::ZERO),
            Block::For(timeout) => Wait::timeout(timeout),
        }
    }
}

/// Python's `multiprocessing.Lock`: held by one thread of one process at a
/// time; any thread of any process may release it (it is not re-entrant:
/// its holder acquiring it again waits for ever, as in CPython).
///
/// Make it before starting the processes that use it, and clone it into
/// their closures, as a queue. Unlike CPython's, a lock whose holder is
/// killed holding it does not stay locked for ever: a waiter sees, within
/// 20 ms, that the holder's thread is gone and takes the lock over. (The
/// data it guarded may be half-updated: the holder died in the middle.)
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Lock {
    word: Arc<SharedMem<Word>>,
}

impl Lock {
    /// A new lock, free (Python: `Lock()`).
    pub fn new() -> Result<Lock, Error> {
        sys::count_forks();
        Ok(Lock {
            word: Arc::new(SharedMem::new()?),
        })
    }

    /// Take the lock (Python: `acquire(block, timeout)`); whether it was
    /// taken, `false` meaning the time ran out or `Block::No` found it held.
    #[inline]
    pub fn acquire(&self, block: Block) -> bool {
        self.word.acquire(thread_id(), block.into())
    }

    /// Release it (Python: `release()`). Releasing a free lock is CPython's
    /// `ValueError: semaphore or lock released too many times`.
    #[inline]
    pub fn release(&self) -> Result<(), Error> {
        match self.word.release() {
            true => Ok(()),
            false => Err(Error::ReleasedTooManyTimes),
        }
    }

    /// Take it until the guard is dropped (Python: `with lock:`).
    pub fn lock(&self) -> LockGuard<'_> {
        self.acquire(Block::Forever);
        LockGuard { lock: self }
    }

    pub(crate) fn word(&self) -> &Word {
        &self.word
    }
}

/// The lock held, until dropped: the scope of Python's `with lock:`.
pub struct LockGuard<'a> {
    lock: &'a Lock,
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.lock.release();
    }
}

/// CPython's repr: `<Lock(owner=None)>`, `<Lock(owner=MainProcess)>`,
/// `<Lock(owner=SomeOtherThread)>`, `<Lock(owner=SomeOtherProcess)>`.
impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Lock(owner={})>", owner_name(self.word.holder()))
    }
}

/// Who holds a lock, as CPython's reprs say it.
pub(crate) fn owner_name(holder: Option<u32>) -> String {
    match holder {
        None => "None".to_owned(),
        Some(tid) if tid == thread_id() => crate::current_process().name().to_owned(),
        Some(tid) if std::path::Path::new(&format!("/proc/self/task/{tid}")).exists() => {
            "SomeOtherThread".to_owned()
        }
        Some(_) => "SomeOtherProcess".to_owned(),
    }
}

/// The shared part of an [`RLock`]: its word, and how many times its
/// holder has taken it (touched by the holder only).
pub(crate) struct RWord {
    word: Word,
    count: AtomicU32,
}

// SAFETY: two atomics, zeros (free, taken no times) valid.
unsafe impl sys::Shareable for RWord {}

/// Python's `multiprocessing.RLock`: a lock its holder may take again and
/// again, free once released as many times; only the holder may release.
/// A holder killed holding it passes it on, as a [`Lock`] does.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct RLock {
    shared: Arc<SharedMem<RWord>>,
}

impl RLock {
    /// A new re-entrant lock, free (Python: `RLock()`).
    pub fn new() -> Result<RLock, Error> {
        sys::count_forks();
        Ok(RLock {
            shared: Arc::new(SharedMem::new()?),
        })
    }

    /// Take it, or take it once more if this thread holds it already.
    pub fn acquire(&self, block: Block) -> bool {
        let me = thread_id();
        if self.shared.word.holder() == Some(me) {
            self.shared.count.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        let taken = self.shared.word.acquire(me, block.into());
        if taken {
            self.shared.count.store(1, Ordering::Relaxed); // 1 even after a dead holder's count
        }
        taken
    }

    /// Release it once; refused unless this thread holds it (CPython's
    /// `AssertionError: attempt to release recursive lock not owned by thread`).
    pub fn release(&self) -> Result<(), Error> {
        if self.shared.word.holder() != Some(thread_id()) {
            return Err(Error::NotOwned(
                "attempt to release recursive lock not owned by thread",
            ));
        }
        if self.shared.count.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.shared.word.release();
        }
        Ok(())
    }

    /// Take it until the guard is dropped (Python: `with rlock:`).
    pub fn lock(&self) -> RLockGuard<'_> {
        self.acquire(Block::Forever);
        RLockGuard { lock: self }
    }

    /// Whether this thread holds it.
    pub(crate) fn is_mine(&self) -> bool {
        self.shared.word.holder() == Some(thread_id())
    }

    /// Release it entirely, returning how many times it was held (for a
    /// condition's `wait`); restored by [`restore`](Self::restore).
    pub(crate) fn release_all(&self) -> u32 {
        let count = self.shared.count.swap(0, Ordering::Relaxed);
        self.shared.word.release();
        count
    }

    pub(crate) fn restore(&self, count: u32) {
        self.shared.word.acquire(thread_id(), Wait::Forever);
        self.shared.count.store(count, Ordering::Relaxed);
    }
}

/// The re-entrant lock held once, until dropped.
pub struct RLockGuard<'a> {
    lock: &'a RLock,
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.lock.release();
    }
}

/// CPython's repr: `<RLock(None, 0)>`, `<RLock(MainProcess, 2)>`,
/// `<RLock(SomeOtherProcess, nonzero)>`.
impl fmt::Debug for RLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only the holder knows its count; CPython says `nonzero` for others.
        let holder = self.shared.word.holder();
        let count = match holder {
            None => "0".to_owned(),
            Some(tid) if tid == thread_id() => {
                self.shared.count.load(Ordering::Relaxed).to_string()
            }
            Some(_) => "nonzero".to_owned(),
        };
        write!(f, "<RLock({}, {count})>", owner_name(holder))
    }
}
