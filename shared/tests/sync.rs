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
    assert_eq!(
        format!("{cond:?}"),
        format!("<Condition(<RLock(None, 0)>, {})>", n - 1)
    );
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
    let stop = |p: &Process, sig| kill(Pid::from_raw(p.pid().unwrap() as i32), sig).unwrap();
    for (p, _) in [&blocking, &timed] {
        stop(p, Signal::SIGSTOP);
        let stat = || std::fs::read_to_string(format!("/proc/{}/stat", p.pid().unwrap())).unwrap();
        while !stat()
            .rsplit(')')
            .next()
            .unwrap()
            .trim_start()
            .starts_with('T')
        {
            std::thread::yield_now();
        }
    }
    let began = Instant::now();
    e.set();
    e.clear();
    stop(&blocking.0, Signal::SIGCONT);
    stop(&timed.0, Signal::SIGCONT);
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

fn main() {
    testkit::test_main(
        testkit::checks![
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
        ],
        |name| -> Result<(), Error> { panic!("no scenario {name}") },
    );
}
