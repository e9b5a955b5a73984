//! Locks, semaphores, conditions, barriers, shared values and the event,
//! across processes: CPython's own tests of them (`_test_multiprocessing.py`:
//! `test_lock`, `test_rlock`, `test_semaphore`, `test_bounded_semaphore`,
//! `test_timeout`, the condition, barrier, `Value` and `Array` tests) as
//! far as they apply to a fork-based port, and the faults CPython does not
//! survive: a holder or a waiter killed.
//!
//! `harness = false`: it forks, so its `main` must own the only thread.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use shared::sync::Block;
use shared::{
    Array, Barrier, BoundedSemaphore, Condition, Error, Event, Lock, Process, RLock, RawValue,
    Semaphore, Value,
};

const LONG: Duration = Duration::from_secs(30);

fn start(target: impl FnOnce() + 'static) -> Process {
    let mut p = Process::new(target);
    p.start().unwrap();
    p
}

fn exit_code(p: &Process) -> Option<i32> {
    p.join().unwrap();
    p.exitcode()
}

/// Whether process `pid` sleeps in the kernel on a futex, as a waiter
/// does (its `wchan`; `stat`'s "S" where the kernel hides `wchan`).
fn sleeps_on_futex(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/wchan")) {
        Ok(wchan) if wchan != "0" && !wchan.is_empty() => wchan.contains("futex"),
        _ => std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('S'))
        }),
    }
}

/// A child that will wait in `target`: it raises `arrived` just before
/// calling it, so that a futex sleep seen after that is the wait's (and
/// not, say, one inside the child's start-up).
fn start_waiter(target: impl FnOnce() + 'static) -> (Process, RawValue<u32>) {
    let arrived = RawValue::new(0u32).unwrap();
    let flag = arrived.clone();
    let p = start(move || {
        flag.set(1);
        target()
    });
    (p, arrived)
}

fn wait_until_asleep((p, arrived): &(Process, RawValue<u32>)) {
    let began = Instant::now();
    while arrived.get() == 0 || !sleeps_on_futex(p.pid().unwrap()) {
        assert!(began.elapsed() < LONG, "{p} never went to sleep");
        std::thread::yield_now();
    }
}

fn test_lock() {
    let lock = Lock::new().unwrap();
    assert_eq!(format!("{lock:?}"), "<Lock(owner=None)>");
    assert!(lock.acquire(Block::Forever));
    assert_eq!(format!("{lock:?}"), "<Lock(owner=MainProcess)>");
    assert!(!lock.acquire(Block::No));
    assert!(lock.release().is_ok());
    let e = lock.release().unwrap_err();
    assert!(matches!(e, Error::ReleasedTooManyTimes));
    assert_eq!(
        e.to_string(),
        "ValueError: semaphore or lock released too many times"
    );
    // Another process sees it held, and may release it (a Lock has no
    // owner check in CPython either).
    lock.acquire(Block::Forever);
    let other = lock.clone();
    let p = start(move || {
        assert_eq!(format!("{other:?}"), "<Lock(owner=SomeOtherProcess)>");
        assert!(!other.acquire(Block::No));
        other.release().unwrap();
    });
    assert_eq!(exit_code(&p), Some(0));
    assert!(lock.acquire(Block::No), "released by the child");
    lock.release().unwrap();
}

fn test_rlock() {
    let lock = RLock::new().unwrap();
    assert_eq!(format!("{lock:?}"), "<RLock(None, 0)>");
    for _ in 0..3 {
        assert!(lock.acquire(Block::Forever));
    }
    assert_eq!(format!("{lock:?}"), "<RLock(MainProcess, 3)>");
    let other = lock.clone();
    let p = start(move || {
        assert_eq!(format!("{other:?}"), "<RLock(SomeOtherProcess, nonzero)>");
        assert!(!other.acquire(Block::No), "held by the parent");
        let e = other.release().unwrap_err();
        assert_eq!(
            e.to_string(),
            "AssertionError: attempt to release recursive lock not owned by thread"
        );
    });
    assert_eq!(exit_code(&p), Some(0));
    for _ in 0..3 {
        lock.release().unwrap();
    }
    assert!(matches!(lock.release(), Err(Error::NotOwned(_))));
    let _held = lock.lock();
    let _again = lock.lock(); // re-entrant: a scope inside a scope
    assert_eq!(format!("{lock:?}"), "<RLock(MainProcess, 2)>");
}

fn test_semaphore() {
    let sem = Semaphore::new(2).unwrap();
    assert_eq!(format!("{sem:?}"), "<Semaphore(value=2)>");
    assert!(sem.acquire(Block::Forever));
    assert_eq!(sem.get_value(), 1);
    assert!(sem.acquire(Block::Forever));
    assert_eq!(sem.get_value(), 0);
    assert!(!sem.acquire(Block::No));
    sem.release().unwrap();
    assert_eq!(sem.get_value(), 1);
    sem.release().unwrap();
    assert_eq!(sem.get_value(), 2);
    sem.release().unwrap(); // an unbounded one may go past its start
    assert_eq!(sem.get_value(), 3);
}

fn test_bounded_semaphore() {
    let sem = BoundedSemaphore::new(2).unwrap();
    assert_eq!(
        format!("{sem:?}"),
        "<BoundedSemaphore(value=2, maxvalue=2)>"
    );
    sem.acquire(Block::Forever);
    sem.release().unwrap();
    assert!(matches!(sem.release(), Err(Error::ReleasedTooManyTimes)));
    assert_eq!(sem.get_value(), 2);
}

fn test_timeout() {
    let sem = Semaphore::new(0).unwrap();
    let lock = Lock::new().unwrap();
    lock.acquire(Block::Forever);
    for timeout in [Duration::from_millis(0), Duration::from_millis(200)] {
        let began = Instant::now();
        assert!(!sem.acquire(Block::For(timeout)));
        assert!(!lock.acquire(Block::For(timeout)));
        assert!(began.elapsed() >= 2 * timeout, "it waited its time out");
    }
    // A unit given by another process during the wait ends it.
    let giver = sem.clone();
    let p = start(move || giver.release().unwrap());
    assert!(sem.acquire(Block::For(LONG)));
    assert_eq!(exit_code(&p), Some(0));
}

/// n children wait on a condition; `notify(1)` wakes exactly one, then
/// `notify_all` the rest. The children count themselves in shared
/// numbers: `ready` before they wait (holding the lock, so once the parent
/// holds it and reads n, all n wait), `woken` after.
fn test_notify() {
    let n = 3;
    let cond = Condition::new().unwrap();
    let (ready, woken) = (RawValue::new(0u32).unwrap(), RawValue::new(0u32).unwrap());
    let children: Vec<Process> = (0..n)
        .map(|_| {
            let (cond, ready, woken) = (cond.clone(), ready.clone(), woken.clone());
            start(move || {
                let _held = cond.lock();
                ready.set(ready.get() + 1);
                assert!(cond.wait().unwrap());
                woken.set(woken.get() + 1);
            })
        })
        .collect();
    let began = Instant::now();
    loop {
        let _held = cond.lock();
        if ready.get() == n {
            cond.notify(1).unwrap();
            break;
        }
        assert!(began.elapsed() < LONG);
    }
    // Its lock is free, or already the woken child's again.
    let repr = format!("{cond:?}");
    let free = format!("<Condition(<RLock(None, 0)>, {})>", n - 1);
    let retaken = format!("<Condition(<RLock(SomeOtherProcess, nonzero)>, {})>", n - 1);
    assert!(repr == free || repr == retaken, "{repr}");
    while woken.get() < 1 {
        assert!(began.elapsed() < LONG);
        std::thread::yield_now();
    }
    let waiting = format!("{cond:?}"); // its lock may be held by the woken child still
    assert!(
        waiting.ends_with(&format!(", {})>", n - 1)),
        "one only: {waiting}"
    );
    {
        let _held = cond.lock();
        cond.notify_all().unwrap();
    }
    for p in &children {
        assert_eq!(exit_code(p), Some(0), "{p}");
    }
    assert_eq!(woken.get(), n);
}

fn test_condition_misuse_and_timeouts() {
    let cond = Condition::with_lock(Lock::new().unwrap()).unwrap();
    let e = cond.wait().unwrap_err();
    assert_eq!(
        e.to_string(),
        "AssertionError: must acquire() condition before using wait()"
    );
    assert_eq!(
        cond.notify(1).unwrap_err().to_string(),
        "AssertionError: lock is not owned"
    );
    let _held = cond.lock();
    let began = Instant::now();
    assert!(!cond.wait_timeout(Duration::from_millis(100)).unwrap());
    assert!(
        !cond
            .wait_for(|| false, Some(Duration::from_millis(100)))
            .unwrap()
    );
    assert!(began.elapsed() >= Duration::from_millis(200));
    assert!(cond.wait_for(|| true, Some(Duration::ZERO)).unwrap());
    // As CPython 3.11's: a false predicate is waited on once, and checked
    // again, however short the timeout (even one it outlasts itself).
    for (timeout, slow) in [(Duration::ZERO, false), (Duration::from_millis(10), true)] {
        let calls = std::cell::Cell::new(0);
        let predicate = || {
            calls.set(calls.get() + 1);
            if slow {
                std::thread::sleep(Duration::from_millis(50));
            }
            false
        };
        assert!(!cond.wait_for(predicate, Some(timeout)).unwrap());
        assert_eq!(calls.get(), 2, "CPython: twice");
    }
}

/// The last to arrive killed while its action runs (holding the barrier's
/// lock): the waiter does not wait for ever; it finds the barrier broken.
fn a_releaser_killed_in_its_action_breaks_the_barrier() {
    let action = || std::thread::sleep(Duration::from_secs(600));
    let barrier = Barrier::with_action(2, action, None).unwrap();
    let b = barrier.clone();
    // Daemons: should the check fail, the exit steps end them.
    let mut waiter = Process::new(move || {
        if matches!(b.wait(None), Err(Error::BrokenBarrier)) {
            shared::exit(7);
        }
    })
    .daemon(true);
    waiter.start().unwrap();
    while barrier.n_waiting() < 1 {
        std::thread::yield_now();
    }
    let b = barrier.clone();
    let mut releaser = Process::new(move || drop(b.wait(None))).daemon(true);
    releaser.start().unwrap();
    while barrier.n_waiting() != 0 {
        std::thread::yield_now(); // the round is full: the action is under way
    }
    releaser.kill().unwrap();
    releaser.join().unwrap();
    waiter.join_timeout(LONG).unwrap();
    assert_eq!(waiter.exitcode(), Some(7), "{waiter}");
    assert!(barrier.broken());
}

fn test_barrier() {
    let parties = 4;
    let barrier = Barrier::new(parties, None).unwrap();
    // Each round's indices are 0..parties, one each: a child exits with
    // 10 + its index of the last round.
    let children: Vec<Process> = (0..parties - 1)
        .map(|_| {
            let barrier = barrier.clone();
            start(move || {
                let mut last = 0;
                for _ in 0..3 {
                    last = barrier.wait(Some(LONG)).unwrap();
                }
                shared::exit(10 + last as i32)
            })
        })
        .collect();
    let mut last = 0;
    for _ in 0..3 {
        last = barrier.wait(Some(LONG)).unwrap();
    }
    let mut seen: HashSet<u32> = children
        .iter()
        .map(|p| (exit_code(p).unwrap() - 10) as u32)
        .collect();
    seen.insert(last);
    assert_eq!(seen, (0..parties).collect(), "one index each");
    // A timeout breaks it, for the waiter and for those after, until reset.
    let began = Instant::now();
    assert!(matches!(
        barrier.wait(Some(Duration::from_millis(100))),
        Err(Error::BrokenBarrier)
    ));
    assert!(began.elapsed() >= Duration::from_millis(100));
    assert!(barrier.broken());
    assert!(matches!(barrier.wait(None), Err(Error::BrokenBarrier)));
    barrier.reset().unwrap();
    assert!(!barrier.broken());
    // `abort` breaks it for a waiter in another process.
    let waiter = barrier.clone();
    let p =
        start_waiter(move || assert!(matches!(waiter.wait(Some(LONG)), Err(Error::BrokenBarrier))));
    wait_until_asleep(&p);
    barrier.abort().unwrap();
    assert_eq!(exit_code(&p.0), Some(0));
    assert!(Barrier::new(0, None).is_err());
}

#[allow(clippy::approx_constant)] // the CPython docs' example, not π
fn test_value_and_array() {
    let v = Value::new(0.0f64).unwrap();
    let a = Array::new(&(0..10).collect::<Vec<i32>>()).unwrap();
    assert_eq!(format!("{v:?}"), "<Synchronized wrapper for c_double(0.0)>");
    let (cv, ca) = (v.clone(), a.clone());
    let p = start(move || {
        cv.set(3.1415927);
        for i in 0..ca.len() {
            ca.set(i, -ca.get(i));
        }
    });
    assert_eq!(exit_code(&p), Some(0));
    assert_eq!(v.get(), 3.1415927);
    assert_eq!(format!("{a:?}"), "[0, -1, -2, -3, -4, -5, -6, -7, -8, -9]");
    assert_eq!(
        format!("{:?}", RawValue::new(true).unwrap()),
        "c_bool(True)"
    );
}

/// 4 processes × 10,000 increments: exact under the lock.
fn contention_is_exact_under_the_lock() {
    let counter = Value::new(0u64).unwrap();
    let children: Vec<Process> = (0..4)
        .map(|_| {
            let counter = counter.clone();
            start(move || {
                for _ in 0..10_000 {
                    let _held = counter.get_lock().lock();
                    counter.set(counter.get() + 1);
                }
            })
        })
        .collect();
    for p in &children {
        assert_eq!(exit_code(p), Some(0));
    }
    assert_eq!(counter.get(), 40_000);
}

/// A holder killed holding a lock passes it on: to a waiter already
/// asleep, and to a later taker.
fn a_killed_holder_passes_the_lock_on() {
    let lock = Lock::new().unwrap();
    let rlock = RLock::new().unwrap();
    let cond = Condition::new().unwrap();
    let taken = Event::new().unwrap();
    let (l, r, c, t) = (lock.clone(), rlock.clone(), cond.clone(), taken.clone());
    let holder = start(move || {
        l.acquire(Block::Forever);
        r.acquire(Block::Forever);
        r.acquire(Block::Forever);
        c.acquire(Block::Forever);
        t.set();
        std::thread::sleep(LONG);
    });
    assert!(taken.wait_timeout(LONG));
    let waiter_lock = lock.clone();
    let waiter = start_waiter(move || {
        assert!(waiter_lock.acquire(Block::For(LONG)));
        waiter_lock.release().unwrap();
    });
    wait_until_asleep(&waiter);
    kill(Pid::from_raw(holder.pid().unwrap() as i32), Signal::SIGKILL).unwrap();
    assert_eq!(exit_code(&holder), Some(-9));
    assert_eq!(
        exit_code(&waiter.0),
        Some(0),
        "the sleeping waiter took it over"
    );
    assert!(lock.acquire(Block::For(LONG)));
    assert!(rlock.acquire(Block::For(LONG)));
    assert_eq!(
        format!("{rlock:?}"),
        "<RLock(MainProcess, 1)>",
        "the dead holder's count is gone"
    );
    assert!(cond.acquire(Block::For(LONG)));
    cond.notify_all().unwrap(); // usable as ever
    cond.release().unwrap();
}

/// A waiter killed while it waits blocks nobody: not on a lock, not on a
/// condition (where it still counts until a notify hands it a ticket).
fn a_killed_waiter_blocks_nobody() {
    let lock = Lock::new().unwrap();
    lock.acquire(Block::Forever);
    let l = lock.clone();
    let waiter = start_waiter(move || {
        l.acquire(Block::Forever);
    });
    wait_until_asleep(&waiter);
    waiter.0.kill().unwrap();
    assert_eq!(exit_code(&waiter.0), Some(-9));
    lock.release().unwrap();
    let l = lock.clone();
    let next = start(move || assert!(l.acquire(Block::For(LONG))));
    assert_eq!(exit_code(&next), Some(0));

    let cond = Condition::new().unwrap();
    let spawn_waiter = |cond: &Condition| {
        let cond = cond.clone();
        start_waiter(move || {
            let _held = cond.lock();
            assert!(cond.wait_timeout(LONG).unwrap());
        })
    };
    let doomed = spawn_waiter(&cond);
    wait_until_asleep(&doomed);
    doomed.0.kill().unwrap();
    assert_eq!(exit_code(&doomed.0), Some(-9));
    let live = spawn_waiter(&cond);
    wait_until_asleep(&live);
    {
        let _held = cond.lock();
        cond.notify_all().unwrap();
    }
    assert_eq!(
        exit_code(&live.0),
        Some(0),
        "woken although a dead waiter counted"
    );
}

/// A semaphore has no owner: a unit a killed process held is lost, as in
/// CPython.
fn a_killed_semaphore_holder_loses_its_unit() {
    let sem = Semaphore::new(1).unwrap();
    let taken = Event::new().unwrap();
    let (s, t) = (sem.clone(), taken.clone());
    let holder = start(move || {
        s.acquire(Block::Forever);
        t.set();
        std::thread::sleep(LONG);
    });
    assert!(taken.wait_timeout(LONG));
    holder.kill().unwrap();
    assert_eq!(exit_code(&holder), Some(-9));
    assert_eq!(sem.get_value(), 0);
    assert!(!sem.acquire(Block::No));
}

/// `set(); clear()` while one process blocks in `wait()` and another in
/// `wait(timeout)`: both return `false` at once, as CPython's do. Whether
/// a woken waiter reads the flag before or after the `clear` is the
/// scheduler's choice, so the waiters are stopped (SIGSTOP) across the
/// two calls: they then run only after the `clear`, as CPython's waiters,
/// which must take the setter's lock back first, practically always do.
fn event_set_then_clear_wakes_waiters_with_false() {
    let e = Event::new().unwrap();
    let (a, b) = (e.clone(), e.clone());
    let blocking = start_waiter(move || assert!(!a.wait()));
    let timed = start_waiter(move || assert!(!b.wait_timeout(LONG)));
    wait_until_asleep(&blocking);
    wait_until_asleep(&timed);
    let stopped = (stop(&blocking.0), stop(&timed.0));
    let began = Instant::now();
    e.set();
    e.clear();
    drop(stopped);
    assert_eq!(
        (exit_code(&blocking.0), exit_code(&timed.0)),
        (Some(0), Some(0))
    );
    assert!(
        began.elapsed() < LONG / 2,
        "they returned at once, not at the timeout"
    );
    assert!(!e.is_set());
    e.set();
    assert!(e.wait(), "set: at once");
}

/// 1,000 of each made and dropped leave no mapping behind.
fn no_mappings_leak() {
    let maps = || {
        std::fs::read_to_string("/proc/self/maps")
            .unwrap()
            .lines()
            .count()
    };
    let before = maps();
    for _ in 0..1000 {
        let lock = Lock::new().unwrap();
        let _ = (RLock::new().unwrap(), Semaphore::new(1).unwrap());
        let _ = (
            Condition::with_lock(lock).unwrap(),
            Barrier::new(2, None).unwrap(),
        );
        let _ = (Value::new(1i32).unwrap(), Array::new(&[1u8; 100]).unwrap());
    }
    assert!(
        maps() <= before + 2,
        "{before} mappings before, {} after",
        maps()
    );
}

/// The state letter of process `pid` (`R`, `S`, `T`, `Z`, …), from its
/// `/proc/<pid>/stat`.
fn state_of(pid: u32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or_default();
    after_name.trim_start().chars().next().unwrap_or('?')
}

/// Send `signal` to `p`, and wait until its state shows it (`T` for
/// SIGSTOP, `Z` for SIGKILL: a zombie, not reaped).
fn signal_and_see(p: &Process, signal: Signal, state: char) {
    let pid = p.pid().unwrap();
    kill(Pid::from_raw(pid as i32), signal).unwrap();
    let began = Instant::now();
    while state_of(pid) != state {
        assert!(began.elapsed() < LONG, "{p} never showed {state}");
        std::thread::yield_now();
    }
}

/// A process held still by SIGSTOP, until this is dropped (a failed check
/// included, so that nothing is left stopped for the exit steps to wait on).
struct Stopped(u32);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.0 as i32), Signal::SIGCONT);
    }
}

fn stop(p: &Process) -> Stopped {
    signal_and_see(p, Signal::SIGSTOP, 'T');
    Stopped(p.pid().unwrap())
}

/// The commonest shape of a dead holder: a parent blocked on a lock its
/// own child held when it was SIGKILLed. The parent cannot reap it while
/// it waits, so the holder is a zombie, whose `/proc/<pid>` is still
/// there: a zombie has ended, and the lock passes on.
fn a_zombie_holder_passes_the_lock_on() {
    let (lock, rlock, taken) = (
        Lock::new().unwrap(),
        RLock::new().unwrap(),
        Event::new().unwrap(),
    );
    let (l, r, t) = (lock.clone(), rlock.clone(), taken.clone());
    let holder = start(move || {
        l.acquire(Block::Forever);
        r.acquire(Block::Forever);
        t.set();
        std::thread::sleep(LONG);
    });
    assert!(taken.wait_timeout(LONG));
    signal_and_see(&holder, Signal::SIGKILL, 'Z');
    assert!(
        lock.acquire(Block::For(LONG)),
        "the zombie's lock was taken over"
    );
    assert!(rlock.acquire(Block::For(LONG)), "and its re-entrant lock");
    assert_eq!(state_of(holder.pid().unwrap()), 'Z', "not reaped meanwhile");
    assert_eq!(exit_code(&holder), Some(-9));
}

/// A thread that ends holding a `Lock`, in a process that runs on, leaves
/// it held, as in CPython (a `Lock` has no owner: another thread may be
/// the one to release it); so does an `RLock`'s, whose owner is gone.
fn a_thread_that_ends_holding_a_lock_leaves_it_held() {
    let (lock, rlock) = (Lock::new().unwrap(), RLock::new().unwrap());
    let (l, r) = (lock.clone(), rlock.clone());
    std::thread::spawn(move || {
        assert!(l.acquire(Block::No));
        assert!(r.acquire(Block::No));
    })
    .join()
    .unwrap();
    assert!(!lock.acquire(Block::No));
    assert!(!lock.acquire(Block::For(Duration::from_millis(100))));
    assert_eq!(format!("{lock:?}"), "<Lock(owner=SomeOtherThread)>");
    lock.release().unwrap(); // the hand-off the docs allow
    assert!(lock.acquire(Block::No));
    lock.release().unwrap();
    assert!(!rlock.acquire(Block::For(Duration::from_millis(100))));
    assert!(matches!(rlock.release(), Err(Error::NotOwned(_))));
}

/// Whether this process may make a mount namespace of its own (root, say).
fn can_hide_proc() -> bool {
    let mut probe = Process::new(|| {
        if !hide_proc() {
            shared::exit(1)
        }
    });
    probe.start().unwrap();
    exit_code(&probe) == Some(0)
}

/// Hide `/proc` from this process: a mount namespace of its own, with an
/// empty `/proc`, as a container or a sandbox may leave it. Whether it could.
fn hide_proc() -> bool {
    // SAFETY: `unshare` and `mount` take plain values and C strings; this
    // child has one thread, and the new namespace is its own.
    unsafe {
        libc::unshare(libc::CLONE_NEWNS) == 0
            && libc::mount(
                c"none".as_ptr(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) == 0
            && libc::mount(
                c"none".as_ptr(),
                c"/proc".as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                std::ptr::null(),
            ) == 0
    }
}

/// Without a readable `/proc`, nothing can be known of a holder: locks
/// fail closed. A child that cannot see its parent never takes the lock
/// the parent holds; four such children count exactly; a holder that
/// cannot stamp its lock is never taken over, whatever becomes of it; and
/// `start` refuses to fork where it cannot count the threads.
fn locks_fail_closed_without_proc() {
    let lock = Lock::new().unwrap();
    let held = lock.lock();
    let l = lock.clone();
    let blind = start(move || {
        assert!(hide_proc());
        assert!(
            !l.acquire(Block::For(Duration::from_millis(300))),
            "taken from a live holder"
        );
        let mut p = Process::new(|| ());
        assert!(
            matches!(p.start(), Err(Error::ThreadsUnknown)),
            "forked beside unseen threads"
        );
    });
    assert_eq!(exit_code(&blind), Some(0));
    drop(held);

    let counter = Value::with_lock(0u64, Lock::new().unwrap()).unwrap();
    let children: Vec<Process> = (0..4)
        .map(|_| {
            let counter = counter.clone();
            start(move || {
                assert!(hide_proc());
                for _ in 0..10_000 {
                    let _held = counter.get_lock().lock();
                    counter.get_obj().set(counter.get_obj().get() + 1);
                }
            })
        })
        .collect();
    for p in &children {
        assert_eq!(exit_code(p), Some(0));
    }
    assert_eq!(counter.get(), 40_000);

    let (taken, l) = (Event::new().unwrap(), lock.clone());
    let t = taken.clone();
    let holder = start(move || {
        assert!(hide_proc());
        l.acquire(Block::Forever);
        t.set();
        std::thread::sleep(LONG);
    });
    assert!(taken.wait_timeout(LONG));
    holder.kill().unwrap();
    assert_eq!(exit_code(&holder), Some(-9));
    assert!(
        !lock.acquire(Block::For(Duration::from_millis(100))),
        "a holder that could not be seen is never taken over"
    );
}

/// A waiter that comes after `notify(1)` never takes the notification from
/// the one that was waiting when it was made. The waiting child is held
/// still (SIGSTOP) from the notify until the late waiter has given up.
fn a_late_waiter_cannot_take_a_notification() {
    let cond = Condition::new().unwrap();
    let c = cond.clone();
    let early = start_waiter(move || {
        let _held = c.lock();
        assert!(c.wait_timeout(LONG).unwrap(), "notified");
    });
    wait_until_asleep(&early);
    let held = cond.lock();
    cond.notify(1).unwrap();
    let stopped = stop(&early.0);
    assert!(
        !cond.wait_timeout(Duration::from_millis(50)).unwrap(),
        "the late waiter took it"
    );
    drop((held, stopped));
    assert_eq!(exit_code(&early.0), Some(0));
}

/// A waiter killed while it waits leaves nothing behind: not a
/// notification for a later waiter, not a count in the repr.
fn a_killed_waiter_leaves_no_notification_behind() {
    let cond = Condition::new().unwrap();
    let c = cond.clone();
    let doomed = start_waiter(move || {
        let _held = c.lock();
        c.wait().unwrap();
    });
    wait_until_asleep(&doomed);
    assert_eq!(format!("{cond:?}"), "<Condition(<RLock(None, 0)>, 1)>");
    signal_and_see(&doomed.0, Signal::SIGKILL, 'Z');
    assert_eq!(
        format!("{cond:?}"),
        "<Condition(<RLock(None, 0)>, 0)>",
        "a dead waiter counted"
    );
    {
        let _held = cond.lock();
        cond.notify(1).unwrap();
        cond.notify_all().unwrap();
    }
    let _held = cond.lock();
    for _ in 0..3 {
        assert!(
            !cond.wait_timeout(Duration::from_millis(20)).unwrap(),
            "a spurious wake-up"
        );
    }
    drop(_held);
    assert_eq!(exit_code(&doomed.0), Some(-9));
}

/// A barrier used by more processes than its parties: a waiter of round 0
/// slow to wake (held still by SIGSTOP) returns as round 0 went, although
/// round 1 has completed meanwhile.
fn a_barrier_with_more_processes_than_parties() {
    let barrier = Barrier::new(2, None).unwrap();
    let b = barrier.clone();
    let slow = start_waiter(move || assert!(b.wait(Some(LONG)).is_ok(), "round 0 broke"));
    wait_until_asleep(&slow);
    let stopped = stop(&slow.0);
    barrier.wait(Some(LONG)).unwrap(); // round 0 completes
    let b = barrier.clone();
    let next = start(move || assert!(b.wait(Some(LONG)).is_ok()));
    barrier.wait(Some(LONG)).unwrap(); // round 1 completes
    assert_eq!(exit_code(&next), Some(0));
    drop(stopped);
    assert_eq!(exit_code(&slow.0), Some(0));
}

/// How many times the barrier's action ran, in whichever process: shared
/// memory made before any child.
static ACTIONS: std::sync::OnceLock<RawValue<u32>> = std::sync::OnceLock::new();

fn count_action() {
    let count = ACTIONS.get().expect("made first");
    count.set(count.get() + 1); // under the barrier's lock
}

fn failing_action() {
    panic!("the action failed");
}

/// CPython's `Barrier(parties, action)`: the action runs once a round, in
/// the last process to arrive, before anyone goes on; one that panics
/// breaks the barrier for the others, and its panic goes on.
fn a_barriers_action_runs_once_a_round() {
    let count = ACTIONS.get_or_init(|| RawValue::new(0).unwrap());
    let barrier = Barrier::with_action(3, count_action, Some(LONG)).unwrap();
    let children: Vec<Process> = (0..2)
        .map(|_| {
            let (barrier, count) = (barrier.clone(), count.clone());
            start(move || {
                for round in 1..=3 {
                    barrier.wait(None).unwrap();
                    assert_eq!(count.get(), round, "ran once before anyone went on");
                }
            })
        })
        .collect();
    for round in 1..=3 {
        barrier.wait(None).unwrap();
        assert_eq!(count.get(), round);
    }
    for p in &children {
        assert_eq!(exit_code(p), Some(0));
    }
    let breaking = Barrier::with_action(2, failing_action, Some(LONG)).unwrap();
    let b = breaking.clone();
    let other = start_waiter(move || assert!(matches!(b.wait(None), Err(Error::BrokenBarrier))));
    wait_until_asleep(&other);
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {})); // the panic is expected: say nothing
    let panicked = std::panic::catch_unwind(|| breaking.wait(None));
    std::panic::set_hook(hook);
    assert!(panicked.is_err(), "the action's panic goes on");
    assert_eq!(exit_code(&other.0), Some(0));
    assert!(breaking.broken());
}

/// CPython's `test_getobj_getlock`: a value's lock and raw object, and a
/// lock of the caller's that guards it.
fn test_getobj_getlock() {
    let val1 = Value::new(5i32).unwrap();
    assert_eq!(format!("{:?}", val1.get_lock()), "<RLock(None, 0)>");
    assert_eq!(format!("{:?}", val1.get_obj()), "c_int(5)");
    let lock = Lock::new().unwrap();
    let val3 = Value::with_lock(5i32, lock.clone()).unwrap();
    let arr = Array::with_lock(&[1u8, 2], lock.clone()).unwrap();
    let _held = val3.get_lock().lock();
    assert_eq!(
        format!("{lock:?}"),
        "<Lock(owner=MainProcess)>",
        "the same lock"
    );
    assert!(!arr.get_lock().acquire(Block::No), "one lock guards both");
    val3.get_obj().set(6); // the raw object needs no lock
    drop(_held);
    assert_eq!((val3.get(), arr.get_obj().get(1)), (6, 2));
}

/// Contenders taking a lock while holders are SIGKILLed at random moments,
/// wherever each is (taking it, holding it, letting it go): the lock goes
/// on passing, and once the killing stops every contender gets it again.
fn a_storm_of_kills_never_wedges_a_lock() {
    let lock = Lock::new().unwrap();
    let turns = RawValue::new(0u64).unwrap();
    let contender = |lock: Lock, turns: RawValue<u64>| {
        start(move || {
            loop {
                lock.acquire(Block::Forever);
                turns.set(turns.get() + 1);
                lock.release().unwrap();
            }
        })
    };
    let mut contenders: Vec<Process> = (0..4)
        .map(|_| contender(lock.clone(), turns.clone()))
        .collect();
    let began = Instant::now();
    let mut kills = 0u32;
    while began.elapsed() < Duration::from_secs(2) {
        let victim = contenders.remove(kills as usize % contenders.len());
        victim.kill().unwrap();
        assert_eq!(exit_code(&victim), Some(-9));
        contenders.push(contender(lock.clone(), turns.clone()));
        kills += 1;
    }
    // The storm is over: the lock must still pass, within a bound.
    let before = turns.get();
    let calm = Instant::now();
    while turns.get() < before + 1000 {
        assert!(
            calm.elapsed() < LONG,
            "wedged after {kills} kills: {lock:?}"
        );
        std::thread::yield_now();
    }
    for p in &contenders {
        p.kill().unwrap();
        exit_code(p);
    }
    assert!(
        lock.acquire(Block::For(LONG)),
        "the last holder was killed too: passed on"
    );
}

/// More waiters than a condition has seats (1,023): `notify_all` wakes
/// every one, and a barrier of 1,100 parties completes. (Threads of this
/// process, here: a thread waits on a condition as a process does.)
fn more_waiters_than_seats() {
    const MANY: u32 = 1100;
    let cond = Condition::new().unwrap();
    let (ready, woken) = (RawValue::new(0u32).unwrap(), RawValue::new(0u32).unwrap());
    let threads: Vec<_> = (0..MANY)
        .map(|_| {
            let (cond, ready, woken) = (cond.clone(), ready.clone(), woken.clone());
            std::thread::spawn(move || {
                let _held = cond.lock();
                ready.set(ready.get() + 1);
                assert!(cond.wait_timeout(LONG).unwrap(), "notified");
                woken.set(woken.get() + 1);
            })
        })
        .collect();
    let began = Instant::now();
    loop {
        let _held = cond.lock();
        if ready.get() == MANY {
            cond.notify_all().unwrap();
            break;
        }
        assert!(began.elapsed() < LONG);
    }
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(woken.get(), MANY);
    let barrier = Barrier::new(MANY, Some(LONG)).unwrap();
    let threads: Vec<_> = (1..MANY)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || barrier.wait(None).map(drop))
        })
        .collect();
    barrier.wait(None).unwrap();
    for t in threads {
        t.join().unwrap().unwrap();
    }
}

/// Two processes in pid namespaces of their own, each pid 1 there: one
/// holds an `RLock`; the other, whose numbers are the same, neither takes
/// it nor releases it.
fn an_rlock_across_pid_namespaces() {
    let (rlock, held, done) = (
        RLock::new().unwrap(),
        Event::new().unwrap(),
        Event::new().unwrap(),
    );
    let in_a_namespace = |target: Box<dyn FnOnce()>| {
        start(move || {
            // SAFETY: `unshare` takes a flag; this child has one thread.
            assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWPID) }, 0);
            let mut first = Process::new(target); // pid 1 of the new namespace
            first.start().unwrap();
            assert_eq!(exit_code(&first), Some(0));
        })
    };
    let (r, h, d) = (rlock.clone(), held.clone(), done.clone());
    let holder = in_a_namespace(Box::new(move || {
        assert_eq!(std::process::id(), 1);
        assert!(r.acquire(Block::No));
        h.set();
        assert!(d.wait_timeout(LONG));
        r.release().unwrap();
    }));
    assert!(held.wait_timeout(LONG));
    let r = rlock.clone();
    let other = in_a_namespace(Box::new(move || {
        assert_eq!(std::process::id(), 1);
        assert!(
            !r.acquire(Block::No),
            "taken by the same numbers in another namespace"
        );
        assert!(matches!(r.release(), Err(Error::NotOwned(_))));
    }));
    assert_eq!(exit_code(&other), Some(0));
    done.set();
    assert_eq!(exit_code(&holder), Some(0));
}

/// Run `inside` as pid 1 of a new pid namespace with its own `/proc`, so
/// that it can choose the numbers its children get (`ns_last_pid`).
fn in_a_pid_namespace(inside: fn()) -> Option<i32> {
    let sandbox = start(move || {
        // SAFETY: `unshare` takes flags; this child has one thread.
        let unshared = unsafe { libc::unshare(libc::CLONE_NEWPID | libc::CLONE_NEWNS) };
        assert_eq!(unshared, 0);
        let mut init = Process::new(move || {
            // SAFETY: plain values and C strings; the mount namespace is ours.
            unsafe {
                let private = libc::MS_REC | libc::MS_PRIVATE;
                let (none, no_data) = (std::ptr::null(), std::ptr::null());
                let root = c"/".as_ptr();
                assert_eq!(
                    libc::mount(c"none".as_ptr(), root, none, private, no_data),
                    0
                );
                let proc = c"proc".as_ptr();
                assert_eq!(libc::mount(proc, c"/proc".as_ptr(), proc, 0, no_data), 0);
            }
            inside();
        });
        init.start().unwrap();
        shared::exit(exit_code(&init).unwrap_or(99));
    });
    exit_code(&sandbox)
}

/// A child takes `lock` and is SIGKILLed holding it; its number.
fn killed_holding(lock: &Lock) -> u32 {
    let (l, taken) = (lock.clone(), Event::new().unwrap());
    let t = taken.clone();
    let holder = start(move || {
        l.acquire(Block::Forever);
        t.set();
        std::thread::sleep(LONG);
    });
    assert!(taken.wait_timeout(LONG));
    holder.kill().unwrap();
    assert_eq!(exit_code(&holder), Some(-9));
    holder.pid().unwrap()
}

/// The next child this process starts gets the number `pid`.
fn next_pid_is(pid: u32) {
    std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).unwrap();
}

/// A holder is killed, and at once its number goes to an unrelated
/// process: the lock passes on all the same (the reuser is not the holder,
/// even started within the same clock tick), and soon.
fn a_holders_number_reused_at_once_is_not_the_holder() {
    let code = in_a_pid_namespace(|| {
        for _ in 0..3 {
            let (lock, done) = (Lock::new().unwrap(), Event::new().unwrap());
            let pid = killed_holding(&lock);
            next_pid_is(pid);
            let d = done.clone();
            let bystander = start(move || assert!(d.wait_timeout(LONG)));
            assert_eq!(bystander.pid(), Some(pid), "the number reused");
            let began = Instant::now();
            assert!(
                lock.acquire(Block::For(Duration::from_secs(5))),
                "wedged while another process had the dead holder's number"
            );
            assert!(
                began.elapsed() < Duration::from_secs(1),
                "{:?}",
                began.elapsed()
            );
            done.set();
            assert_eq!(exit_code(&bystander), Some(0));
        }
    });
    assert_eq!(code, Some(0));
}

/// A waiter is held still (SIGSTOP) just after it has found the holder
/// dead, before it takes the lock over. Meanwhile the lock is taken over,
/// released, and taken by a process with the dead holder's number, so the
/// word holds the same number again. The waiter, let go, must not take
/// the lock that process holds.
fn a_waiter_stopped_mid_takeover_never_takes_a_new_holders_lock() {
    let code = in_a_pid_namespace(|| {
        let lock = Lock::new().unwrap();
        let dead = killed_holding(&lock);
        // The waiter, held still where it has just heard that the holder
        // is gone (its `pidfd_open`, in `sys::fate`).
        let (has, l) = (RawValue::new(0u32).unwrap(), lock.clone());
        let h = has.clone();
        let waiter = start(move || {
            l.acquire(Block::Forever);
            h.set(1);
            let _ = l.release();
        });
        stop_after_pidfd_open(waiter.pid().unwrap(), dead);
        // Taken over by this process, then handed to one with `dead`'s number.
        assert!(lock.acquire(Block::For(LONG)), "taken over");
        next_pid_is(dead);
        let (holds, go, l) = (
            RawValue::new(0u32).unwrap(),
            Event::new().unwrap(),
            lock.clone(),
        );
        let (h, g) = (holds.clone(), go.clone());
        let reuser = start(move || {
            l.acquire(Block::Forever);
            h.set(1);
            assert!(g.wait_timeout(LONG));
            h.set(2);
            l.release().unwrap();
        });
        assert_eq!(reuser.pid(), Some(dead));
        lock.release().unwrap();
        while holds.get() == 0 {
            std::thread::yield_now();
        }
        // The waiter, let go, sees the same number in the word; it must go
        // back to sleep, not in.
        detach(waiter.pid().unwrap());
        let began = Instant::now();
        while !sleeps_on_futex(waiter.pid().unwrap()) && has.get() == 0 {
            assert!(
                began.elapsed() < LONG,
                "the waiter neither slept nor took it"
            );
            std::thread::yield_now();
        }
        assert_eq!(has.get(), 0, "took the lock a live process holds");
        go.set();
        assert_eq!(exit_code(&reuser), Some(0));
        assert_eq!(exit_code(&waiter), Some(0));
        assert_eq!(has.get(), 1);
    });
    assert_eq!(code, Some(0));
}

/// Hold process `pid` still as its first `pidfd_open(of)` returns: where
/// it has just asked the kernel about `of` (ptrace, x86-64's registers).
fn stop_after_pidfd_open(pid: u32, of: u32) {
    let pid = pid as i32;
    // SAFETY: ptrace and waitpid on our own child, into structs of ours.
    unsafe {
        assert_eq!(libc::ptrace(libc::PTRACE_ATTACH, pid, 0, 0), 0, "attach");
        let mut status = 0;
        assert_eq!(libc::waitpid(pid, &mut status, libc::__WALL), pid);
        libc::ptrace(libc::PTRACE_SETOPTIONS, pid, 0, libc::PTRACE_O_TRACESYSGOOD);
        let (mut entering, mut signal, began) = (true, 0, Instant::now());
        loop {
            assert!(began.elapsed() < LONG, "never asked about {of}");
            assert_eq!(libc::ptrace(libc::PTRACE_SYSCALL, pid, 0, signal), 0);
            signal = 0;
            assert_eq!(libc::waitpid(pid, &mut status, libc::__WALL), pid);
            assert!(libc::WIFSTOPPED(status), "status {status:#x}");
            let stopped_by = libc::WSTOPSIG(status);
            if stopped_by != (libc::SIGTRAP | 0x80) {
                if stopped_by != libc::SIGSTOP && stopped_by != libc::SIGTRAP {
                    signal = stopped_by as usize; // not ours: pass it on
                }
                continue;
            }
            let mut regs: libc::user_regs_struct = std::mem::zeroed();
            libc::ptrace(libc::PTRACE_GETREGS, pid, 0, &mut regs as *mut _);
            let asked = regs.orig_rax as i64 == libc::SYS_pidfd_open && regs.rdi == u64::from(of);
            if asked && !entering {
                return; // stopped as the call returns
            }
            entering = !entering;
        }
    }
}

/// Let a process [`stop_after_pidfd_open`] held go on.
fn detach(pid: u32) {
    // SAFETY: our tracee, stopped.
    unsafe { libc::ptrace(libc::PTRACE_DETACH, pid as i32, 0, 0) };
}

/// Whether the kernel names each process's pidfd by an inode of its own
/// (pidfs, Linux 6.9 on): then a reused number is told from its holder
/// whenever it was reused.
fn has_pidfs() -> bool {
    let Ok(pidfd) = shared_pidfd_of_self() else {
        return false;
    };
    nix::sys::statfs::fstatfs(&pidfd).is_ok_and(|fs| fs.filesystem_type().0 == 0x5049_4446)
}

fn shared_pidfd_of_self() -> std::io::Result<std::os::fd::OwnedFd> {
    let pid = rustix::process::getpid();
    Ok(rustix::process::pidfd_open(
        pid,
        rustix::process::PidfdFlags::empty(),
    )?)
}

/// A process that once ran out of descriptors (so could not read its
/// `/proc` to stamp its holdings) is judged again once it has them back:
/// its lock passes on when it is killed holding it.
fn a_holder_once_starved_of_descriptors_is_judged_again() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let lock = Lock::new().unwrap();
    let l = lock.clone();
    let holder = start(move || {
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        setrlimit(Resource::RLIMIT_NOFILE, 64, hard).unwrap();
        let mut files = Vec::new();
        while let Ok(file) = std::fs::File::open("/dev/null") {
            files.push(file);
        }
        assert!(l.acquire(Block::No)); // who am I? no descriptor left to ask
        l.release().unwrap();
        drop(files);
        setrlimit(Resource::RLIMIT_NOFILE, soft, hard).unwrap();
        assert!(l.acquire(Block::Forever));
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    });
    assert_eq!(exit_code(&holder), Some(-9));
    assert!(
        lock.acquire(Block::For(Duration::from_secs(5))),
        "the dead holder's lock never passed on"
    );
}

fn main() {
    let blind = !can_hide_proc();
    let mut checks = testkit::checks![
        a_releaser_killed_in_its_action_breaks_the_barrier,
        test_lock,
        test_rlock,
        test_semaphore,
        test_bounded_semaphore,
        test_timeout,
        test_notify,
        test_condition_misuse_and_timeouts,
        test_barrier,
        test_value_and_array,
        contention_is_exact_under_the_lock,
        a_killed_holder_passes_the_lock_on,
        a_killed_waiter_blocks_nobody,
        a_killed_semaphore_holder_loses_its_unit,
        event_set_then_clear_wakes_waiters_with_false,
        no_mappings_leak,
        a_zombie_holder_passes_the_lock_on,
        a_thread_that_ends_holding_a_lock_leaves_it_held,
        a_late_waiter_cannot_take_a_notification,
        a_killed_waiter_leaves_no_notification_behind,
        a_barrier_with_more_processes_than_parties,
        a_barriers_action_runs_once_a_round,
        test_getobj_getlock,
        a_storm_of_kills_never_wedges_a_lock,
        more_waiters_than_seats,
        a_holder_once_starved_of_descriptors_is_judged_again,
    ];
    // As root (or where user namespaces allow it); reported ignored elsewhere.
    checks.push(
        testkit::check(
            "locks_fail_closed_without_proc",
            locks_fail_closed_without_proc,
        )
        .with_ignored_flag(blind),
    );
    checks.push(
        testkit::check(
            "an_rlock_across_pid_namespaces",
            an_rlock_across_pid_namespaces,
        )
        .with_ignored_flag(blind),
    );
    // As root, where pid namespaces and ptrace are allowed; and the first
    // only where the kernel has a pidfs (see `sys::Me::stamp`).
    checks.push(
        testkit::check(
            "a_holders_number_reused_at_once_is_not_the_holder",
            a_holders_number_reused_at_once_is_not_the_holder,
        )
        .with_ignored_flag(blind || !has_pidfs()),
    );
    checks.push(
        testkit::check(
            "a_waiter_stopped_mid_takeover_never_takes_a_new_holders_lock",
            a_waiter_stopped_mid_takeover_never_takes_a_new_holders_lock,
        )
        .with_ignored_flag(blind || !cfg!(target_arch = "x86_64")),
    );
    testkit::test_main(checks, |name| -> Result<(), Error> {
        panic!("no scenario {name}")
    });
}
