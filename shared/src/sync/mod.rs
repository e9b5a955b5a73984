//! Locks, semaphores, conditions, barriers and shared numbers: the
//! synchronisation half of `multiprocessing`.
//!
//! | Python | here |
//! |---|---|
//! | `Lock()`, `RLock()`: `acquire(block, timeout)`, `release()`, `with lock:` | [`Lock`], [`RLock`]: [`acquire`](Lock::acquire)`(`[`Block`]`)`, `release`, [`lock`](Lock::lock) (a guard) |
//! | `Semaphore(n)`, `BoundedSemaphore(n)`, `get_value()` | [`Semaphore`], [`BoundedSemaphore`] |
//! | `Condition(lock)`: `wait(t)`, `wait_for(pred, t)`, `notify(n)`, `notify_all()` | [`Condition`] |
//! | `Barrier(parties, timeout)`: `wait`, `abort`, `reset`, `BrokenBarrierError` | [`Barrier`], [`Error::BrokenBarrier`] |
//! | `Value('d', 0.0)`, `Array('i', range(10))`, `get_lock()`, `RawValue`, `RawArray` | [`Value`], [`Array`], [`RawValue`], [`RawArray`] |
//!
//! # How it works
//!
//! As a queue's counts and an [`Event`](crate::Event)'s flag, each of these
//! is a few 32- or 64-bit words in memory shared by every process forked
//! after it was made (`mmap(MAP_SHARED)`, in the OS layer `sys.rs`): make it
//! first, clone it into the children's closures. Taking a free lock is one
//! compare-and-swap on its word, with no system call at all; a process that
//! must wait sleeps in the kernel with `futex`, and the release wakes it.
//!
//! **A killed holder.** A lock's word holds its holder's thread id. A
//! waiter wakes every 20 ms to look whether that thread still runs; if it
//! was killed holding the lock, the waiter takes the lock over (a *robust*
//! lock, as pthread's robust mutexes are), where CPython's would stay
//! locked for ever. A [`Condition`] is over a lock, so the same holds for
//! it. A [`Semaphore`] has no holder, so a unit a killed process took is
//! lost, as in CPython. (Thread ids are reused, rarely and only after many
//! others: a dead holder whose id a new thread got in the meantime looks
//! alive.)
//!
//! [`Error::BrokenBarrier`]: crate::Error::BrokenBarrier

mod condition;
mod lock;
mod semaphore;
mod value;

pub use condition::{Barrier, Condition, ConditionGuard};
pub use lock::{AnyLock, Block, Guard, Lock, LockGuard, RLock, RLockGuard, Release};
pub use semaphore::{BoundedSemaphore, Semaphore, SemaphoreGuard};
pub use value::{Array, Plain, RawArray, RawValue, Value};
