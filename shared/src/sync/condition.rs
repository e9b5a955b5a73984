//! [`Condition`] and [`Barrier`]: waiters in numbered seats, so that a
//! notification goes to a waiter that was there when it was made.

use std::fmt;
use std::marker::PhantomData;
use std::panic;
use std::sync::Arc;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::time::Duration;

use super::lock::{AnyLock, Block, CHECK_EVERY, Guard, RLock, drawn};
use crate::Error;
use crate::sealed::Only;
use crate::sys::{self, Fate, Me, SharedMem, Wait, futex_wake, futex_wake_all, wait_until};
use crate::timeline::On;

/// How many may wait in a seat at once. More wait at the door (see
/// [`Condition`]).
const SEATS: usize = 1023;

/// A seat's state, its futex word: free, waiting (its arrival number,
/// shifted left), or notified (the notification's tag, shifted, and 1).
const FREE: u32 = 0;
const NOTIFIED: u32 = 1;
const ARRIVAL: u32 = u32::MAX >> 1;

/// Where the waiters of a condition sit, in shared memory. Seats are taken,
/// notified and freed holding the condition's lock; a waiter looks at its
/// own seat, and sleeps on it, without.
struct Seats {
    /// The pid namespace of the stamps (see `sys::Me`).
    ns: AtomicU32,
    /// Counts the arrivals: a waiter's number says who came first.
    arrivals: AtomicU32,
    /// How many seats have ever been taken: no scan looks further.
    used: AtomicU32,
    /// How many wait at the door, every seat being taken; the futex word
    /// they sleep on, raised to let them all in; and the tag it let them
    /// in with.
    door: AtomicU32,
    doorbell: AtomicU32,
    door_tag: AtomicU32,
    seats: [Seat; SEATS],
}

struct Seat {
    state: AtomicU32,
    /// Its waiter's process id and stamp (`sys::Me`), to ask whether its
    /// process still runs; 0 where they mean nothing here.
    pid: AtomicU32,
    who: AtomicU64,
}

// SAFETY: atomics; all zeros is no waiter, every seat free.
unsafe impl sys::Shareable for Seat {}
// SAFETY: as above.
unsafe impl sys::Shareable for Seats {}

impl Seats {
    fn new() -> std::io::Result<SharedMem<Seats>> {
        let seats: SharedMem<Seats> = SharedMem::new()?;
        seats.ns.store(sys::me().ns, Relaxed);
        Ok(seats)
    }

    fn in_use(&self) -> &[Seat] {
        &self.seats[..(self.used.load(Relaxed) as usize).min(SEATS)]
    }

    /// A seat for `me`, now waiting; `None` if every seat is taken by a
    /// waiter that may still run.
    fn take(&self, me: &Me) -> Option<&Seat> {
        // The first free seat (one in use, or else the next never used:
        // none past those is taken), or a dead waiter's.
        let is_free = |seat: &Seat| seat.state.load(Relaxed) == FREE;
        let free = self.seats.iter().position(is_free);
        if let Some(i) = free {
            self.used.fetch_max(i as u32 + 1, Relaxed);
        }
        let seat = free.map(|i| &self.seats[i]).or_else(|| self.reclaim(me))?;
        let arrival = self.arrivals.fetch_add(1, Relaxed).wrapping_add(1) & ARRIVAL;
        let known = me.in_ns(self.ns.load(Relaxed));
        seat.pid.store(if known { me.pid } else { 0 }, Relaxed);
        seat.who.store(if known { me.stamp } else { 0 }, Relaxed);
        // 31 bits, and never 0 (free).
        seat.state.store(arrival.max(1) << 1, Release);
        Some(seat)
    }

    /// The seat of a waiter whose process has ended, if there is one. Every
    /// such seat is freed in the one look (each look asks the system about
    /// a process): the waiters that come next take them without asking.
    fn reclaim(&self, me: &Me) -> Option<&Seat> {
        let is_gone = |seat: &&Seat| self.fate(seat, me) == Fate::Gone;
        let mut gone = self.in_use().iter().filter(is_gone);
        let first = gone.next();
        gone.for_each(|seat| seat.state.store(FREE, Relaxed));
        first
    }

    /// The seats of waiters not yet notified, oldest first.
    fn waiting(&self) -> Vec<&Seat> {
        let now = self.arrivals.load(Relaxed);
        let mut waiting: Vec<(u32, &Seat)> = (self.in_use().iter())
            .filter_map(|seat| match seat.state.load(Relaxed) {
                state if state == FREE || state & NOTIFIED != 0 => None,
                state => Some((now.wrapping_sub(state >> 1) & ARRIVAL, seat)),
            })
            .collect();
        waiting.sort_by_key(|&(age, _)| std::cmp::Reverse(age));
        waiting.into_iter().map(|(_, seat)| seat).collect()
    }

    /// What has become of the waiter in `seat`.
    fn fate(&self, seat: &Seat, me: &Me) -> Fate {
        let (pid, who) = (seat.pid.load(Relaxed), seat.who.load(Relaxed));
        sys::fate(pid, who, me, self.ns.load(Relaxed))
    }
}

/// Python's `multiprocessing.Condition`: wait, holding its lock, until
/// another process notifies.
///
/// `wait` takes a numbered seat, releases the lock, sleeps on its seat
/// until a `notify` marks it, and takes the lock back before it returns.
/// `notify(n)` marks the `n` oldest waiters' seats and wakes each, so a
/// notification goes only to a waiter that was waiting when it was made:
/// one that comes later never takes it from them, and none returns `true`
/// without one (no spurious wake-ups). A waiter killed while it waits
/// keeps its seat until a `notify` finds it asleep nowhere and asks the
/// system: if its process has ended, the seat is freed and the
/// notification goes to the next waiter; where the system cannot say, the
/// next waiter is notified too, a wake-up too many rather than one lost.
/// Nobody is ever left waiting for a dead waiter, and the repr counts
/// only waiters whose process still runs. Beyond 1,023 waiting at once,
/// the others wait at the door, without a number: a notify that finds no
/// seated waiter left to notify lets them all in (`notify_all` always
/// does), so none is ever left asleep, at the price of a wake-up too many.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Condition {
    lock: AnyLock,
    seats: Arc<SharedMem<Seats>>,
}

impl Condition {
    /// A condition over a new `RLock` (Python: `Condition()`).
    pub fn new() -> Result<Condition, Error> {
        Condition::with_lock(RLock::new()?)
    }

    /// A condition over `lock`, a [`Lock`](super::Lock) or an [`RLock`]
    /// (Python: `Condition(lock)`).
    pub fn with_lock(lock: impl Into<AnyLock>) -> Result<Condition, Error> {
        let (lock, seats) = (lock.into(), Arc::new(Seats::new()?));
        Ok(Condition { lock, seats })
    }

    /// Take the condition's lock (Python: `acquire`, or `with cond:`).
    pub fn acquire(&self, block: Block) -> bool {
        self.lock.acquire(block)
    }

    /// Release the condition's lock.
    pub fn release(&self) -> Result<(), Error> {
        self.lock.release()
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
        let tag = self.wait_tagged(wait, Some(On::Condition), None)?;
        Ok(tag.is_some())
    }

    /// Wait as `wait` says (drawn in a timeline as a wait on `on`, or not
    /// at all inside a wait drawn whole, a barrier's); the tag of the
    /// notification, `None` if the time ran out first.
    /// With `gone`, asked every [`CHECK_EVERY`] while it waits: whether to
    /// give up waiting (as if the time had run out).
    fn wait_tagged(
        &self,
        wait: Wait,
        on: Option<On>,
        gone: Option<&dyn Fn() -> bool>,
    ) -> Result<Option<u32>, Error> {
        let (lock, seats) = (&*self.lock.raw, &*self.seats);
        if !lock.held_by(&sys::me()) {
            let why = "must acquire() condition before using wait()";
            return Err(Error::NotOwned(why));
        }
        // In a seat until a notify marks it; or, every seat being taken,
        // at the door until a notify that finds no seated waiter left to
        // notify rings its bell (a wake-up too many, rather than one lost).
        let seat = seats.take(&sys::me());
        let bell = seats.doorbell.load(Acquire);
        if seat.is_none() {
            seats.door.fetch_add(1, Relaxed);
        }
        let held = lock.release_all();
        drawn(on, || {
            loop {
                let slice = gone.map_or(wait, |_| wait.min(Wait::timeout(CHECK_EVERY)));
                let woke = match seat {
                    Some(seat) => wait_until(&seat.state, |state| state & NOTIFIED != 0, slice),
                    None => wait_until(&seats.doorbell, |rung| rung != bell, slice),
                };
                if woke || wait.expired() || gone.is_none_or(|gone| gone()) {
                    break;
                }
            }
            lock.restore(held);
        });
        // The lock again: a notify that came meanwhile shows here.
        Ok(match seat {
            Some(seat) => {
                let state = seat.state.swap(FREE, Acquire);
                (state & NOTIFIED != 0).then_some(state >> 1)
            }
            None => {
                seats.door.fetch_sub(1, Relaxed);
                let rang = seats.doorbell.load(Acquire) != bell;
                rang.then(|| seats.door_tag.load(Relaxed))
            }
        })
    }

    /// Wait until `predicate()` holds, checking it first and after each
    /// notification (Python: `wait_for(predicate, timeout)`); its last value.
    /// As CPython's, the time starts after the first check, and a false
    /// predicate is waited on once at least, however short the timeout.
    pub fn wait_for(
        &self,
        predicate: impl Fn() -> bool,
        timeout: Option<Duration>,
    ) -> Result<bool, Error> {
        let mut holds = predicate();
        let wait = timeout.map_or(Wait::Forever, Wait::timeout);
        while !holds {
            self.wait_as(wait)?;
            holds = predicate();
            if wait.expired() {
                break;
            }
        }
        Ok(holds)
    }

    /// Wake at most `n` waiters, the longest waiting first (Python:
    /// `notify(n)`); needs the lock.
    pub fn notify(&self, n: u32) -> Result<(), Error> {
        self.notify_tagged(n, 0)
    }

    /// Wake every waiter (Python: `notify_all()`).
    pub fn notify_all(&self) -> Result<(), Error> {
        self.notify(u32::MAX)
    }

    /// Notify `n` waiters with `tag`, which their wait returns.
    fn notify_tagged(&self, n: u32, tag: u32) -> Result<(), Error> {
        if !self.lock.raw.held_by(&sys::me()) {
            return Err(Error::NotOwned("lock is not owned"));
        }
        let me = sys::me();
        let mut notified = 0;
        for seat in self.seats.waiting() {
            if notified == n {
                break;
            }
            seat.state.store(tag << 1 | NOTIFIED, Release);
            if futex_wake(&seat.state, 1) == 1 {
                notified += 1;
                continue;
            }
            // Not asleep: on its way to sleep, or awake (its time ran out)
            // and coming back for the lock; either way it will see the mark.
            // Unless its process has ended: then the next waiter gets it.
            match self.seats.fate(seat, &me) {
                Fate::Runs => notified += 1,
                Fate::Gone => seat.state.store(FREE, Relaxed),
                Fate::Unknown => {} // one more, lest a live waiter miss it
            }
        }
        let seats = &*self.seats;
        if notified < n && seats.door.load(Relaxed) > 0 {
            seats.door_tag.store(tag, Relaxed);
            seats.doorbell.fetch_add(1, Release);
            futex_wake_all(&seats.doorbell);
        }
        Ok(())
    }
}

/// The condition's lock held, until dropped.
pub type ConditionGuard<'a> = Guard<'a, Condition>;

/// CPython's repr: `<Condition(<RLock(None, 0)>, 0)>`, the number being
/// the waiters not yet notified (of processes that still run).
impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let me = sys::me();
        let alive = |s: &&Seat| self.seats.fate(s, &me) != Fate::Gone;
        let seated = self.seats.waiting().into_iter().filter(alive).count();
        let waiting = seated + self.seats.door.load(Relaxed) as usize;
        write!(f, "<Condition({:?}, {waiting})>", self.lock)
    }
}

/// A barrier's gate, in shared memory, changed under its condition's
/// lock: how many wait in this round (at most `parties - 1`), or `SHUT`
/// while broken.
const SHUT: u32 = u32::MAX;

/// How a round ended for its waiters: the tag of their notification.
const PASSED: u32 = 0;
const BROKEN: u32 = 1;

/// Python's `multiprocessing.Barrier(parties, action, timeout)`: `wait`
/// returns once `parties` processes wait; a timeout or an `abort` breaks
/// it, and every waiter, then and later, gets CPython's
/// `BrokenBarrierError` until `reset`.
///
/// A round ends for its waiters by their notification, which says how it
/// ended (passed or broken): a waiter slow to wake returns as its own
/// round went, however many rounds others have gone through meanwhile.
/// Its action, if it has one ([`with_action`](Barrier::with_action)), is
/// part of its type, as a pool's function is: nothing about it travels,
/// so a spawned child that is handed the barrier runs the same code. A
/// process killed while its action runs breaks the barrier: its round's
/// waiters find that out within some 40 ms (CPython's would wait for
/// ever).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub struct Barrier<A: Action = NoAction> {
    parties: u32,
    timeout: Option<Duration>,
    cond: Condition,
    gate: Arc<SharedMem<AtomicU32>>,
    #[serde(skip)]
    action: PhantomData<A>,
}

/// What a [`Barrier`] runs once each round, in the last process to arrive:
/// nothing ([`NoAction`]), or a function named by its path (or a closure
/// that captures nothing: its type is the whole of it).
pub trait Action: Copy + 'static {
    /// Run it (nothing, unless the type says otherwise).
    #[doc(hidden)]
    fn run(_: Only) -> Result<(), Error> {
        Ok(())
    }
}

/// A barrier's action when it has none.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoAction;

impl Action for NoAction {}

impl<F: Fn() + Copy + 'static> Action for F {
    fn run(_: Only) -> Result<(), Error> {
        let never = "the barrier's action was never made in this program";
        crate::functions::conjure_seen::<F>().ok_or(Error::InvalidArgument(never))?();
        Ok(())
    }
}

impl Barrier {
    /// A barrier for `parties` (at least 1), with a default timeout for
    /// each `wait` (`None`: none).
    pub fn new(parties: u32, timeout: Option<Duration>) -> Result<Barrier, Error> {
        Barrier::with_action(parties, NoAction, timeout)
    }
}

impl<A: Action> Barrier<A> {
    /// A barrier that runs `action` once each round, in the last process to
    /// arrive, before any waiter is let go (Python:
    /// `Barrier(parties, action, timeout)`). An action that panics breaks
    /// the barrier, and its panic goes on in that process.
    pub fn with_action(parties: u32, action: A, timeout: Option<Duration>) -> Result<Self, Error> {
        crate::functions::seen(&action);
        if parties == 0 {
            return Err(Error::InvalidArgument("parties must be at least 1"));
        }
        Ok(Barrier {
            parties,
            timeout,
            cond: Condition::with_lock(super::Lock::new()?)?,
            gate: Arc::new(SharedMem::new()?),
            action: PhantomData,
        })
    }

    /// How many must wait for it to let them go (Python: `parties`).
    pub fn parties(&self) -> u32 {
        self.parties
    }

    /// How many wait now (Python: `n_waiting`).
    pub fn n_waiting(&self) -> u32 {
        let count = self.gate.load(Relaxed);
        if count == SHUT { 0 } else { count }
    }

    /// Whether it is broken (Python: `broken`).
    pub fn broken(&self) -> bool {
        self.gate.load(Relaxed) == SHUT
    }

    /// Wait for the others (Python: `wait(timeout)`, `None` taking the
    /// barrier's own); each waiter of a round gets a different index,
    /// `0..parties`.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<u32, Error> {
        let timeout = timeout.or(self.timeout);
        let wait = timeout.map_or(Wait::Forever, Wait::timeout);
        // Drawn in a timeline as one wait, the inner lock's included.
        drawn(Some(On::Barrier), || self.pass(wait))
    }

    fn pass(&self, wait: Wait) -> Result<u32, Error> {
        // The lock, as part of this wait, which the timeline draws whole.
        self.cond.lock.raw.restore(1);
        let _held = Guard(&self.cond);
        if self.broken() {
            return Err(Error::BrokenBarrier);
        }
        let index = self.gate.fetch_add(1, Relaxed);
        if index + 1 == self.parties {
            self.gate.store(0, Relaxed);
            // An action that fails (never made here) or panics breaks it.
            let ran = panic::catch_unwind(|| A::run(Only(())));
            if !matches!(ran, Ok(Ok(()))) {
                self.break_it()?;
                ran.unwrap_or_else(|panic| panic::resume_unwind(panic))?;
            }
            self.cond.notify_tagged(u32::MAX, PASSED)?;
            return Ok(index);
        }
        // Its releaser may die in the action, holding the lock: its round
        // would never end. So a waiter asks, every 20 ms, whether the lock's
        // holder has ended; if so, it takes the lock over and breaks the
        // barrier, the round's fate unknown (the safe answer).
        let releaser_ended = || self.cond.lock.raw.holder_ended();
        match self.cond.wait_tagged(wait, None, Some(&releaser_ended))? {
            Some(PASSED) => Ok(index),
            Some(_) => Err(Error::BrokenBarrier),
            // Its time ran out: it breaks the barrier, as CPython's does.
            None => self.break_it().and(Err(Error::BrokenBarrier)),
        }
    }

    /// Break it (Python: `abort()`): every waiter gets `BrokenBarrierError`.
    pub fn abort(&self) -> Result<(), Error> {
        let _held = self.cond.lock();
        self.break_it()
    }

    fn break_it(&self) -> Result<(), Error> {
        self.gate.store(SHUT, Relaxed);
        self.cond.notify_tagged(u32::MAX, BROKEN)
    }

    /// Mend it (Python: `reset()`): a new round; anyone waiting now gets
    /// `BrokenBarrierError`.
    pub fn reset(&self) -> Result<(), Error> {
        let _held = self.cond.lock();
        if self.n_waiting() > 0 {
            self.break_it()?;
        }
        self.gate.store(0, Relaxed);
        Ok(())
    }
}
