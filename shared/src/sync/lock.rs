//! [`Lock`] and [`RLock`]: a futex word in shared memory that holds the
//! holder's process id, so that a waiter can always ask the kernel about
//! the holder, and beside it who holds it and since when.

use std::fmt;
// `Ordering::Release` in full: `Release` alone is a guard's trait.
use std::sync::atomic::Ordering::{self, Acquire, Relaxed};
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::Error;
use crate::sealed::Sealed;
use crate::sys::{self, Fate, Me, SharedMem, Wait, futex_wait, futex_wake};
use crate::timeline::{self, On};

/// The word's top bit: a thread may sleep on it, so `release` must wake one.
const WAITERS: u32 = 1 << 31;
/// The holder's id is not of the lock's pid namespace (or not known to
/// be): nobody judges it, and the lock is never taken from it.
const FOREIGN: u32 = 1 << 30;
/// The process id bits (Linux's largest is below 2^22).
const PID: u32 = 0x3f_ffff;
/// The bits that name the holder: none of them set, the lock is free.
const HOLDER: u32 = PID | FOREIGN;
/// Bits 22–29: how many times it was taken, wrapping at 256, kept when it
/// is released: a waiter that saw the word before a take never mistakes
/// the word after it for the same (see the takeover in `wait_to_take`).
const TAKES: u32 = 0xff << 22;
const ONE_TAKE: u32 = 1 << 22;

/// How long a waiter waits on one holder before it asks whether the
/// holder's process still runs.
pub(super) const CHECK_EVERY: Duration = Duration::from_millis(20);

/// How many times a taker looks at a held lock nobody sleeps on before it
/// sleeps itself (Mara Bos's `mutex_3`): a holder about to release frees it
/// sooner than a sleep and a wake-up would. Never on one CPU, where the
/// holder cannot run while we look; and only while the holding first seen
/// lasts (see `wait_to_take`).
const SPINS: u32 = 100;

/// A lock in shared memory, what a [`Lock`] and an [`RLock`] share with
/// every process (lock_api's raw lock). The algorithm is the classic futex
/// mutex ("Futexes are tricky", Drepper, mutex 3), with the holder's
/// process id in the word: it is set by the very compare-and-swap that
/// takes the lock, so a holder killed at any instant has left its id there.
pub(super) struct RawLock {
    /// The holder's process id (0 when free), with [`FOREIGN`],
    /// [`WAITERS`] and the count of [`TAKES`].
    word: AtomicU32,
    /// The pid namespace the ids are those of: the creator's (`sys::Me`).
    ns: AtomicU32,
    /// The holding thread's token (`sys::Me`), which names it for an
    /// `RLock` and the reprs; stored just after taking, cleared just
    /// before letting go, so never another thread's while it holds.
    holder: AtomicU64,
    /// The holder's stamp (`sys::Me`), stored and cleared likewise: so
    /// that a process that took the dead holder's number is not taken for
    /// it.
    since: AtomicU64,
    /// How many times an `RLock`'s holder has taken it (touched by the
    /// holder only).
    count: AtomicU32,
}

// SAFETY: atomics; all zeros is a free lock, and any bits are a value.
unsafe impl sys::Shareable for RawLock {}

impl RawLock {
    fn new() -> Result<Arc<SharedMem<RawLock>>, Error> {
        let raw: SharedMem<RawLock> = SharedMem::new()?;
        raw.ns.store(sys::me().ns, Relaxed);
        Ok(Arc::new(raw))
    }

    /// Whether `me` (this thread: `sys::me()`) holds it.
    pub(super) fn held_by(&self, me: &Me) -> bool {
        let held = self.word.load(Relaxed) & HOLDER != 0;
        held && self.holder.load(Relaxed) == me.token
    }

    /// Take the lock for `me`, waiting as `wait` says (a wait a timeline
    /// draws as one `on`; `None` inside a wait it already draws, such as a
    /// condition's); whether it was taken.
    #[inline]
    fn acquire_for(&self, me: &Me, wait: Wait, on: Option<On>) -> bool {
        // Uncontended, a load, this compare-and-swap and two stores are
        // all: no system call.
        let word = self.word.load(Relaxed);
        (word & !TAKES == 0 && self.take(word, me, 0)) || self.acquire_contended(me, wait, on)
    }

    /// Change the word from `word` to `me` (with `bits`, and one take
    /// more); whether it did.
    #[inline]
    fn take(&self, word: u32, me: &Me, bits: u32) -> bool {
        // Its id (below 2^22), marked if it is not of the lock's namespace.
        let (ns, pid) = (self.ns.load(Relaxed), me.pid);
        let id = if me.in_ns(ns) { pid } else { pid | FOREIGN };
        let takes = (word & TAKES).wrapping_add(ONE_TAKE) & TAKES;
        let new = id | bits | takes;
        let taken = (self.word).compare_exchange(word, new, Acquire, Relaxed);
        if taken.is_ok() {
            self.holder.store(me.token, Relaxed);
            self.since.store(me.stamp, Ordering::Release);
        }
        taken.is_ok()
    }

    #[cold]
    fn acquire_contended(&self, me: &Me, wait: Wait, on: Option<On>) -> bool {
        drawn(on, || self.wait_to_take(me, wait))
    }

    fn wait_to_take(&self, me: &Me, wait: Wait) -> bool {
        // Once we have slept we cannot know whether others sleep too, so
        // we take the lock with the WAITERS bit set: our release wakes one.
        let mut slept = 0;
        let spinning = !matches!(wait, Wait::No) && !one_cpu();
        let mut spins = if spinning { SPINS } else { 0 };
        // The holding we wait on (its holder and count of takes), since
        // when, and the stamp by which its process was seen to have
        // ended, if it was.
        let mut watch: (u32, Instant, Option<u64>) = (0, Instant::now(), None);
        loop {
            let word = self.word.load(Relaxed);
            let holding = word & !WAITERS;
            if holding & HOLDER == 0 {
                if self.take(word, me, word & WAITERS | slept) {
                    return true;
                }
                continue;
            }
            if holding != watch.0 {
                // Taken again before we looked (its count of takes
                // says so): a holder that takes it back at once wins
                // every race for it, and our looking only slows it
                // down (each look pulls its word to our CPU). We sleep.
                spins = if watch.0 == 0 { spins } else { 0 };
                watch = (holding, Instant::now(), None);
            }
            if word & WAITERS == 0 && spins > 0 {
                spins -= 1;
                std::hint::spin_loop();
                continue;
            }
            if watch.2.is_none() && watch.1.elapsed() >= CHECK_EVERY {
                watch = (holding, Instant::now(), self.ended(holding, me));
            }
            if let Some(stamp) = watch.2 {
                // Its process ended holding it: take it over, keeping the
                // bit for any other sleeper. (CPython's would stay locked.)
                // Its stamp goes first, and only if it is still there: a
                // new holder (which may have the dead one's number) has
                // cleared it or put its own; and a take in between has
                // changed the count of takes, so the word is not the one
                // seen, whatever the number in it.
                let ours = (self.since).compare_exchange(stamp, 0, Relaxed, Relaxed);
                if ours.is_ok() && self.take(word, me, word & WAITERS) {
                    return true;
                }
                watch = (0, Instant::now(), None);
                continue;
            }
            if wait.expired() {
                return false;
            }
            // We sleep: the word says so, or (changed meanwhile) we look again.
            let mark = || (self.word).compare_exchange(word, word | WAITERS, Relaxed, Relaxed);
            if word & WAITERS == 0 && mark().is_err() {
                continue;
            }
            let nap = wait.min(Wait::timeout(CHECK_EVERY));
            futex_wait(&self.word, word | WAITERS, nap.left());
            slept = WAITERS;
        }
    }

    /// Whether the holder of `holding` (the word, less its WAITERS bit) has ended,
    /// and if so its stamp then: only when the system says so for certain,
    /// never because it could not be seen (see `sys::fate`). A thread that
    /// ended in a process that still runs does not free the lock: a `Lock`
    /// has no owner, and another thread of that process may release it.
    fn ended(&self, holding: u32, me: &Me) -> Option<u64> {
        let stamp = self.since.load(Acquire);
        // A foreign holder is judged by nobody; and the stamp is this
        // holding's only if the word still is: a new holder may have come
        // between, and put its own.
        if holding & FOREIGN != 0 || self.word.load(Acquire) & !WAITERS != holding {
            return None;
        }
        let ns = self.ns.load(Relaxed);
        (sys::fate(holding & PID, stamp, me, ns) == Fate::Gone).then_some(stamp)
    }

    /// Whether it is held by a process that has ended (as [`ended`](Self::ended) judges).
    pub(super) fn holder_ended(&self) -> bool {
        let holding = self.word.load(Relaxed) & !WAITERS;
        holding & HOLDER != 0 && self.ended(holding, &sys::me()).is_some()
    }

    /// Free the lock, waking one sleeper if there may be one; `false` if it
    /// was not held.
    #[inline]
    fn free(&self) -> bool {
        self.holder.store(0, Relaxed);
        self.since.store(0, Relaxed);
        let word = self.word.fetch_and(TAKES, Ordering::Release);
        if word & WAITERS != 0 {
            futex_wake(&self.word, 1);
        }
        word & HOLDER != 0
    }

    /// Take it as `block` says; `reentrant` for an `RLock`, which its
    /// holder may take again.
    #[inline]
    fn acquire(&self, block: Block, reentrant: bool) -> bool {
        let me = sys::me();
        if !reentrant {
            return self.acquire_for(&me, block.into(), Some(On::Lock));
        }
        if self.held_by(&me) {
            // Only its holder changes the count: a load and a store do.
            let count = self.count.load(Relaxed).checked_add(1);
            // Wrapped, the count would read 0, and one release free it
            // while still taken: refused as std's `ReentrantLock` does.
            self.count
                .store(count.expect("RLock count overflow"), Relaxed);
            return true;
        }
        let taken = self.acquire_for(&me, block.into(), Some(On::RLock));
        if taken {
            self.count.store(1, Relaxed); // 1 even after a dead holder's count
        }
        taken
    }

    /// Release it once (`reentrant`: as an `RLock`, by its holder only).
    #[inline]
    fn release(&self, reentrant: bool) -> Result<(), Error> {
        if reentrant && !self.held_by(&sys::me()) {
            let why = "attempt to release recursive lock not owned by thread";
            return Err(Error::NotOwned(why));
        }
        if reentrant && self.count.fetch_sub(1, Relaxed) > 1 {
            return Ok(());
        }
        // A match, not `ok_or`: that builds the error on the fast path too.
        match self.free() {
            true => Ok(()),
            false => Err(Error::ReleasedTooManyTimes),
        }
    }

    /// Release it however many times it is held (for a condition's
    /// `wait`); the count to [`restore`](Self::restore) (a `Lock`'s, 0,
    /// means nothing).
    pub(super) fn release_all(&self) -> u32 {
        let count = self.count.swap(0, Relaxed);
        self.free();
        count
    }

    /// Take it back, inside a wait the timeline draws whole (so not drawn
    /// itself), as many times as `release_all` said.
    pub(super) fn restore(&self, count: u32) {
        self.acquire_for(&sys::me(), Wait::Forever, None);
        self.count.store(count, Relaxed);
    }

    /// CPython's reprs: `<Lock(owner=None)>`, `<Lock(owner=MainProcess)>`,
    /// `<Lock(owner=SomeOtherThread)>`, `<Lock(owner=SomeOtherProcess)>`;
    /// `<RLock(None, 0)>`, `<RLock(MainProcess, 2)>`,
    /// `<RLock(SomeOtherProcess, nonzero)>` (only the holder knows its
    /// count; CPython says `nonzero` for others).
    fn fmt(&self, f: &mut fmt::Formatter<'_>, reentrant: bool) -> fmt::Result {
        // Who holds it and its count, both from one look at the word: a
        // holder that comes or goes meanwhile is seen on one side only.
        let holder = self.word.load(Relaxed) & HOLDER;
        let mine = holder != 0 && self.holder.load(Relaxed) == sys::me().token;
        let name = match holder {
            0 => "None".to_owned(),
            _ if mine => crate::current_process().name().to_owned(),
            pid if pid == std::process::id() => "SomeOtherThread".to_owned(),
            _ => "SomeOtherProcess".to_owned(),
        };
        let count = match holder {
            _ if !reentrant => return write!(f, "<Lock(owner={name})>"),
            0 => "0".to_owned(),
            _ if mine => self.count.load(Relaxed).to_string(),
            _ => "nonzero".to_owned(),
        };
        write!(f, "<RLock({name}, {count})>")
    }
}

/// Whether this process runs on one CPU only (asked once).
fn one_cpu() -> bool {
    static ONE: OnceLock<bool> = OnceLock::new();
    *ONE.get_or_init(|| std::thread::available_parallelism().map_or(true, |n| n.get() == 1))
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
            Block::No => Wait::No,
            Block::For(timeout) => Wait::timeout(timeout),
        }
    }
}

/// Run `wait`, drawn in a timeline as a wait on `on` (`None`: not drawn
/// itself, being part of a wait drawn whole).
pub(super) fn drawn<R>(on: Option<On>, wait: impl FnOnce() -> R) -> R {
    let began = on.and_then(|_| timeline::now_if_on());
    let result = wait();
    if let Some(on) = on {
        timeline::waited(on, began);
    }
    result
}

/// Held until dropped: the scope of Python's `with lock:`, for a [`Lock`],
/// an [`RLock`], an [`AnyLock`], a [`Semaphore`](super::Semaphore) or a
/// [`Condition`](super::Condition)'s lock.
#[must_use = "dropped at once, it releases at once"]
pub struct Guard<'a, L: Release + ?Sized>(pub(super) &'a L);

/// What a [`Guard`] gives back when it is dropped (sealed: the types of
/// this module, each by its own `release`).
pub trait Release: Sealed {
    #[doc(hidden)]
    fn release_once(&self);
}

impl<L: Release + ?Sized> Drop for Guard<'_, L> {
    fn drop(&mut self) {
        self.0.release_once();
    }
}

/// Types held for a scope (Python's `with`): `lock` takes one by its own
/// `acquire` and returns a [`Guard`] that gives it back by its own
/// `release`; the doc comment above each says what is held.
macro_rules! held_by_guard {
    ($($(#[$doc:meta])* $held:ty;)*) => {$(
        impl $held {
            $(#[$doc])*
            pub fn lock(&self) -> Guard<'_, $held> {
                self.acquire(Block::Forever);
                Guard(self)
            }
        }
        impl crate::sealed::Sealed for $held {}
        impl Release for $held {
            fn release_once(&self) {
                let _ = self.release();
            }
        }
    )*};
}
pub(super) use held_by_guard;

/// Python's `multiprocessing.Lock`: held by one thread of one process at a
/// time; any thread of any process may release it (it is not re-entrant:
/// its holder acquiring it again waits for ever, as in CPython).
///
/// Make it before starting the processes that use it, and clone it into
/// their closures, as a queue.
///
/// **A killed holder.** Unlike CPython's, a lock whose holder's process
/// ends holding it (killed, say) does not stay locked for ever: a waiter
/// sees within 20 ms that the process has gone (or is a zombie its parent
/// has not reaped yet) and takes the lock over. The data it guarded may be
/// half-updated: the holder died in the middle. This needs a readable
/// `/proc` in the holder's process and the waiter's, both in the pid
/// namespace the lock was made in; where the system cannot say for
/// certain that the holder has gone, the lock stays held (it fails
/// closed), as CPython's does. A *thread* that ends holding it, in a
/// process that still runs, leaves it held, as in CPython: another thread
/// may release it.
pub type Lock = SharedLock<false>;

/// Python's `multiprocessing.RLock`: a lock its holder may take again and
/// again, free once released as many times; only the holder may release.
/// A holder whose process ends holding it passes it on, as a [`Lock`]'s
/// does; a thread that ends holding it leaves it held, as in CPython.
pub type RLock = SharedLock<true>;

/// A [`Lock`] or an [`RLock`] (`REENTRANT`: whether its holder may take it
/// again): one type, as the two differ only there.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct SharedLock<const REENTRANT: bool> {
    raw: Arc<SharedMem<RawLock>>,
}

impl<const REENTRANT: bool> SharedLock<REENTRANT> {
    /// A new lock, free (Python: `Lock()`, `RLock()`).
    pub fn new() -> Result<Self, Error> {
        RawLock::new().map(|raw| SharedLock { raw })
    }

    /// Take the lock (Python: `acquire(block, timeout)`), or for an
    /// `RLock` that this thread holds, take it once more; whether it was
    /// taken, `false` meaning the time ran out or `Block::No` found it held.
    pub fn acquire(&self, block: Block) -> bool {
        self.raw.acquire(block, REENTRANT)
    }

    /// Release it once (Python: `release()`). Releasing a free `Lock` is
    /// CPython's `ValueError: semaphore or lock released too many times`;
    /// an `RLock` refuses unless this thread holds it (CPython's
    /// `AssertionError: attempt to release recursive lock not owned by thread`).
    pub fn release(&self) -> Result<(), Error> {
        self.raw.release(REENTRANT)
    }
}

/// A [`Lock`] held, until dropped.
pub type LockGuard<'a> = Guard<'a, Lock>;

/// An [`RLock`] held once, until dropped.
pub type RLockGuard<'a> = Guard<'a, RLock>;

impl<const REENTRANT: bool> fmt::Debug for SharedLock<REENTRANT> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.raw.fmt(f, REENTRANT)
    }
}

/// A [`Lock`] or an [`RLock`]: what a [`Condition`](super::Condition) is
/// over, and what guards a [`Value`](super::Value) or an
/// [`Array`](super::Array) (CPython's `Condition(lock)`, `Value(…, lock=l)`).
/// Made from either by `into()`; it keeps whether it is re-entrant.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct AnyLock {
    /// Its raw lock: what a condition's `wait` lets go of and takes back.
    pub(super) raw: Arc<SharedMem<RawLock>>,
    reentrant: bool,
}

impl AnyLock {
    /// Take it (see [`Lock::acquire`], [`RLock::acquire`]).
    pub fn acquire(&self, block: Block) -> bool {
        self.raw.acquire(block, self.reentrant)
    }

    /// Release it once.
    pub fn release(&self) -> Result<(), Error> {
        self.raw.release(self.reentrant)
    }
}

impl<const REENTRANT: bool> From<SharedLock<REENTRANT>> for AnyLock {
    fn from(lock: SharedLock<REENTRANT>) -> AnyLock {
        let (raw, reentrant) = (lock.raw, REENTRANT);
        AnyLock { raw, reentrant }
    }
}

/// The lock's own repr: `<Lock(owner=None)>` or `<RLock(None, 0)>`.
impl fmt::Debug for AnyLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.raw.fmt(f, self.reentrant)
    }
}
