//! Locks, semaphores, conditions, barriers and shared numbers: the
//! synchronisation half of `multiprocessing`.
//!
//! | Python | here |
//! |---|---|
//! | `Lock()`, `RLock()`: `acquire(block, timeout)`, `release()`, `with lock:` | [`Lock`], [`RLock`] (one [`SharedLock`], re-entrant or not): [`acquire`](Lock::acquire)`(`[`Block`]`)`, `release`, [`lock`](Lock::lock) (a guard) |
//! | `Semaphore(n)`, `BoundedSemaphore(n)`, `get_value()` | [`Semaphore`], [`BoundedSemaphore`] |
//! | `Condition(lock)`: `wait(t)`, `wait_for(pred, t)`, `notify(n)`, `notify_all()` | [`Condition`] |
//! | `Barrier(parties, action, timeout)`: `wait`, `abort`, `reset`, `BrokenBarrierError` | [`Barrier`], [`Barrier::with_action`], [`Error::BrokenBarrier`] |
//! | `Value('d', 0.0)`, `Value('i', 5, lock=l)`, `Array('i', range(10))`, `get_lock()`, `get_obj()`, `RawValue`, `RawArray` | [`Value`], [`Value::with_lock`], [`Array`] (each a [`Synchronized`] wrapper), [`RawValue`], [`RawArray`] |
//! | the lock of a `Condition(lock)` or a `Value(..., lock=l)` | [`AnyLock`], a `Lock` or an `RLock` |
//!
//! # How it works
//!
//! As a queue's counts and an [`Event`](crate::Event)'s flag, each of these
//! is a few 32- or 64-bit words in memory shared by every process forked
//! after it was made (`mmap(MAP_SHARED)`, in the OS layer `sys.rs`): make it
//! first, clone it into the children's closures (or hand it to a spawned
//! child as its argument). Taking a free lock is one compare-and-swap on its
//! word and two stores, with no system call at all; a process that must
//! wait looks up to a hundred times first (on more than one CPU, while the
//! holding it found lasts), then sleeps in the kernel with `futex`, and the
//! release wakes it.
//!
//! **A killed holder.** A lock's word holds its holder's process id, set
//! by the very compare-and-swap that takes it, so that whatever instant
//! the holder is killed at, the word names it; beside it are the holder's
//! start time (so that a process that took a dead holder's number is not
//! taken for it) and a random token of the holding thread (which names
//! the holder of an [`RLock`]). A waiter that has waited 20 ms on one
//! holder asks the system about it, and takes the lock over (a *robust*
//! lock, as pthread's robust mutexes are) only if the system says for
//! certain that the holder's process has ended: there is no such process
//! (`pidfd_open` says so), it is a zombie its parent has not reaped yet
//! (its pidfd is readable: the commonest case, a parent waiting on a lock
//! its own killed child held), or the process with its number started at
//! another time. Anything the system will not answer counts as alive:
//! without a readable `/proc` (a container's private mount, `hidepid`),
//! or from another pid namespace than the lock's, take-over is off and
//! the lock simply stays held, as CPython's would; it never lets a second
//! holder in. A *thread* that ends holding a lock, in a process that runs
//! on, leaves it held, as in CPython: a [`Lock`] has no owner (another
//! thread may release it), and an [`RLock`] whose owner thread is gone
//! stays held for good. CPython's lock stays locked for ever in every one
//! of these cases.
//!
//! **A condition's waiters sit in numbered seats** (1,023 of them; more
//! wait at the door, and a notify that finds no seated waiter left lets
//! them all in).
//! `notify(n)` marks the seats of the `n` longest waiting and wakes each,
//! so a notification goes only to a waiter that was there when it was made,
//! never to one that comes later; a waiter killed while it waits is passed
//! over once the system says it has ended, and the next waiter notified
//! instead. A [`Barrier`] is a condition whose notification says how the
//! round ended, passed or broken, so every waiter learns its own round's
//! end however late it wakes. A [`Semaphore`] has no holder, so a unit a
//! killed process took is lost, as in CPython.
//!
//! [`Error::BrokenBarrier`]: crate::Error::BrokenBarrier

mod condition;
mod lock;
mod semaphore;
mod value;

pub use condition::{Action, Barrier, Condition, ConditionGuard, NoAction};
pub use lock::{AnyLock, Block, Guard, Lock, LockGuard, RLock, RLockGuard, Release, SharedLock};
pub use semaphore::{BoundedSemaphore, Semaphore, SemaphoreGuard};
pub use value::{Array, Plain, RawArray, RawValue, Synchronized, Value};

// The types a guard holds for a scope (Python's `with`), in one list.
lock::held_by_guard! {
    /// Take it until the guard is dropped (Python: `with lock:`).
    Lock;
    /// Take it until the guard is dropped (Python: `with rlock:`).
    RLock;
    /// Take it until the guard is dropped (Python: `with lock:`).
    AnyLock;
    /// Hold the lock until the guard is dropped (Python: `with cond:`).
    Condition;
    /// Hold a unit until the guard is dropped (Python: `with sem:`).
    Semaphore;
}
