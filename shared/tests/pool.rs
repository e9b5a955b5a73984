//! The process pool, checked from a program that owns its only thread.
//!
//! `harness = false`: forking from the test harness's threads is unsafe, so
//! this file's `main` runs each check in turn on the main thread. Checks
//! that could hang if the pool were wrong (a killed worker, terminate with
//! a long queue, big messages both ways) re-run this executable with
//! `POOL_SCENARIO=<name>` under a time limit, so a hang fails the check
//! instead of stalling the suite. The limits catch hangs; no check measures
//! how fast anything is.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::thread::sleep;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;
use shared::pool::Pool;
use shared::{Error, Event, Process, active_children, current_process};
use testkit::scenario;

/// How long a scenario may take before it counts as hung.
const LIMIT: Duration = Duration::from_secs(60);

fn doubler(n: u64) -> u64 {
    n * 2
}

fn add(a: i64, b: i64) -> i64 {
    a + b
}

fn nap(seconds: f64) -> f64 {
    sleep(Duration::from_secs_f64(seconds));
    seconds
}

fn fail(n: i32) -> Result<i32, String> {
    if n == 3 {
        Err(format!("bad input {n}"))
    } else {
        Ok(n)
    }
}

/// An error type of the task's own, serde-encodable.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused {}", self.0)
    }
}

fn parse_typed(text: String) -> Result<u64, shared::Typed<Refused>> {
    text.parse().map_err(|_| shared::Typed(Refused(text)))
}

fn parse(text: String) -> Result<u64, std::num::ParseIntError> {
    text.parse()
}

/// A value whose encoding always fails, as a lock cannot be pickled.
#[derive(Debug, serde::Deserialize)]
struct Lock;

impl serde::Serialize for Lock {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("a lock cannot travel"))
    }
}

fn make_lock(_: u8) -> Result<Lock, std::convert::Infallible> {
    Ok(Lock)
}

fn panics(n: i32) -> i32 {
    if n == 3 {
        panic!("boom at {n}");
    }
    n
}

fn pid_and_name() -> (u32, String) {
    (std::process::id(), current_process().name().to_owned())
}

fn kill_myself_at(n: u32) -> u32 {
    if n == 5 {
        let _ = kill(Pid::this(), Signal::SIGKILL);
    }
    n
}

fn map_keeps_input_order() {
    let pool = Pool::new(3).unwrap();
    let want: Vec<u64> = (0..1000).map(|n| n * 2).collect();
    assert_eq!(pool.map(doubler, 0..1000).unwrap(), want);
    assert_eq!(pool.map(|n: u64| n * 2, 0..1000).unwrap(), want, "closure");
    for chunksize in [1, 2, 7, 999, 1000, 5000] {
        assert_eq!(
            pool.map_chunked(doubler, 0..1000, chunksize).unwrap(),
            want,
            "chunksize {chunksize}"
        );
    }
    let pairs: Vec<(i64, i64)> = (0..100).map(|i| (i, 10 * i)).collect();
    let sums: Vec<i64> = (0..100).map(|i| 11 * i).collect();
    assert_eq!(pool.starmap(add, pairs.clone()).unwrap(), sums);
    assert_eq!(pool.starmap_chunked(add, pairs, 3).unwrap(), sums);
    assert_eq!(pool.apply(add, (2, 3)).unwrap(), 5);
    assert_eq!(
        pool.apply(pid_and_name, ()).unwrap().1[..15],
        *"ForkPoolWorker-"
    );

    let imap: Vec<u64> = pool
        .imap(doubler, 0..1000)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(imap, want);
    let imap: Vec<u64> = pool
        .imap_chunked(doubler, 0..1000, 7)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(imap, want);
    let mut unordered: Vec<u64> = pool
        .imap_unordered_chunked(doubler, 0..1000, 3)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    unordered.sort();
    assert_eq!(unordered, want);

    let async_map = pool.map_async(doubler, 0..10).unwrap();
    assert_eq!(async_map.get().unwrap(), want[..10]);
    assert_eq!(
        async_map.get().unwrap(),
        want[..10],
        "get twice, same answer"
    );
}

fn empty_input_and_chunksize_edges() {
    let pool = Pool::new(2).unwrap();
    assert_eq!(pool.map(doubler, Vec::new()).unwrap(), Vec::<u64>::new());
    assert_eq!(pool.map_chunked(doubler, [], 1).unwrap(), Vec::<u64>::new());
    assert_eq!(pool.imap(doubler, []).unwrap().count(), 0);
    assert_eq!(pool.imap_unordered(doubler, []).unwrap().count(), 0);
    assert!(pool.map_async(doubler, []).unwrap().ready());
    assert_eq!(pool.starmap(add, Vec::new()).unwrap(), Vec::<i64>::new());
    // One item; chunks larger than the input.
    assert_eq!(pool.map_chunked(doubler, [21], 100).unwrap(), [42]);
    assert_eq!(pool.map(doubler, [21]).unwrap(), [42]);
    let zero = pool.map_chunked(doubler, [1, 2], 0).unwrap_err();
    assert!(matches!(zero, Error::InvalidArgument(_)), "{zero}");
    assert_eq!(zero.to_string(), "Chunksize must be 1+, not 0");
    assert!(matches!(
        pool.imap_chunked(doubler, [1], 0),
        Err(Error::InvalidArgument(_))
    ));
}

fn bad_settings_are_errors() {
    assert!(matches!(Pool::new(0), Err(Error::NoProcesses)));
    assert_eq!(
        Pool::new(0).unwrap_err().to_string(),
        "Number of processes must be at least 1"
    );
    let zero = Pool::builder().processes(1).maxtasksperchild(0).start();
    assert!(matches!(zero, Err(Error::InvalidArgument(_))));
    let default = Pool::builder().start().unwrap();
    assert_eq!(default.processes(), shared::cpu_count());
    assert_eq!(default.pids().len(), shared::cpu_count());
}

fn errors_and_panics_come_back_and_the_pool_stays_usable() {
    let pool = Pool::new(2).unwrap();
    match pool.apply(fail, (3,)) {
        Err(e @ Error::Remote { .. }) => assert_eq!(e.to_string(), "String: bad input 3"),
        other => panic!("{other:?}"),
    }
    assert_eq!(pool.apply(fail, (4,)).unwrap(), 4);
    // The error's type comes back with its text, as CPython re-raises
    // `ValueError: invalid literal…`.
    match pool.apply(parse, ("x1".to_owned(),)) {
        Err(Error::Remote { kind, message, .. }) => {
            assert_eq!(kind, "ParseIntError");
            assert_eq!(message, "invalid digit found in string");
        }
        other => panic!("{other:?}"),
    }
    // Wrapped in Typed, the error value itself comes back, not only its
    // text (CPython re-raises the very exception object); unwrapped, only
    // its type's name and text do.
    let e = pool.apply(parse_typed, ("x1".to_owned(),)).unwrap_err();
    assert_eq!(
        e.remote::<Refused>(),
        Some(Refused("x1".to_owned())),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "Refused: refused x1");
    assert_eq!(e.remote::<String>(), None, "not that type");
    let e = pool.apply(fail, (3,)).unwrap_err();
    assert_eq!(e.remote::<String>(), None, "not wrapped: no value");
    match pool.apply(panics, (3,)) {
        Err(Error::Remote { kind, message, .. }) => {
            assert_eq!(kind, "panic");
            assert!(message.starts_with("panicked at "), "{message}");
            assert!(message.ends_with("boom at 3"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // A map fails as a whole on a failure, whatever the chunksize.
    for chunksize in [1, 2, 10] {
        let map = pool.map_chunked(fail, 0..10, chunksize);
        assert!(
            matches!(&map, Err(Error::Remote { message, .. }) if message == "bad input 3"),
            "{map:?}"
        );
        let map = pool.map_chunked(panics, 0..10, chunksize);
        assert!(
            matches!(&map, Err(Error::Remote { message, .. }) if message.contains("boom")),
            "{map:?}"
        );
    }
    // imap yields the error in place and goes on.
    let items: Vec<Result<i32, Error>> = pool.imap(fail, 0..6).unwrap().collect();
    assert_eq!(items.len(), 6);
    assert!(matches!(&items[3], Err(Error::Remote { message, .. }) if message == "bad input 3"));
    let fine: Vec<i32> = items.into_iter().filter_map(Result::ok).collect();
    assert_eq!(fine, [0, 1, 2, 4, 5]);
    let result = pool.apply_async(fail, (3,)).unwrap();
    result.wait();
    assert!(result.ready());
    assert!(!result.successful().unwrap());
    // A value that cannot travel back is its own error, not the task's
    // (CPython's MaybeEncodingError), and the pool stays usable.
    match pool.apply(make_lock, (0,)) {
        // (postcard keeps its own words, not the type's custom message.)
        Err(e @ Error::Encoding(_)) => assert_eq!(
            e.to_string(),
            "Error sending result: cannot encode the value: Serde Serialization Error"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(pool.apply(fail, (4,)).unwrap(), 4);
    // Still usable after all that.
    assert_eq!(pool.map(doubler, 0..5).unwrap(), [0, 2, 4, 6, 8]);
    assert_eq!(pool.pids().len(), 2, "no worker died of a task's failure");
}

fn get_with_a_timeout() {
    let go = GO.get_or_init(|| Event::new().unwrap());
    go.clear();
    let pool = Pool::new(1).unwrap();
    // The task cannot finish before `go` is set: no nap that a slow
    // machine could outlast stands in for "still running".
    let result = pool.apply_async(wait_for_go, (5,)).unwrap();
    assert!(matches!(
        result.get_timeout(Duration::from_millis(50)),
        Err(Error::Timeout)
    ));
    assert!(!result.ready());
    assert!(matches!(result.successful(), Err(Error::NotReady)));
    go.set();
    assert_eq!(result.get().unwrap(), 5, "the task kept running");
    assert!(result.ready());
    assert!(result.successful().unwrap());
    let later = pool.apply_async(nap, (0.01,)).unwrap();
    assert_eq!(later.get_timeout(Duration::from_secs(20)).unwrap(), 0.01);
}

/// What [`wait_for_go`] tasks wait for; made before the pools that use it,
/// so their workers share it.
static GO: OnceLock<Event> = OnceLock::new();

fn wait_for_go(n: u32) -> u32 {
    GO.get().expect("made before the pool").wait();
    n
}

/// An input iterator that panics at item 3: `imap` yields the three
/// results before it, then the failure, then ends (CPython: a generator
/// raising at item 3 gives 3 results, then its exception).
/// `callback` and `error_callback` run in the parent, exactly once, by
/// whichever call drives the pool, as CPython's result handler runs them.
fn callbacks_run_once_in_the_parent() {
    use std::cell::RefCell;
    use std::rc::Rc;
    let pool = Pool::new(2).unwrap();
    let seen: Rc<RefCell<Vec<String>>> = Rc::default();
    let me = std::process::id();
    let log = |what: &'static str| {
        let seen = Rc::clone(&seen);
        move |text: String| {
            assert_eq!(std::process::id(), me, "a callback runs in the parent");
            seen.borrow_mut().push(format!("{what} {text}"));
        }
    };
    let (ok, err) = (log("ok"), log("error"));
    let r = pool.apply_async(doubler, (21,)).unwrap();
    let r = r
        .callback(move |v| ok(v.to_string()))
        .error_callback(move |e| err(e.to_string()));
    assert_eq!(r.get().unwrap(), 42);
    assert_eq!(r.get().unwrap(), 42); // asking again runs nothing again
    assert_eq!(*seen.borrow(), ["ok 42"]);

    // A failure runs the error callback only.
    let (ok, err) = (log("ok"), log("error"));
    let r = pool.apply_async(fail, (3,)).unwrap();
    let r = r
        .callback(move |v| ok(v.to_string()))
        .error_callback(move |e| err(e.to_string()));
    r.wait();
    assert_eq!(seen.borrow()[1..], ["error String: bad input 3"]);

    // map_async's callback gets the whole list; attached once the call is
    // complete, it runs at once.
    let r = pool.map_async(doubler, 0..4).unwrap();
    r.wait();
    let all = log("map");
    let _r = r.callback(move |v| all(format!("{v:?}")));
    assert_eq!(seen.borrow()[2..], ["map [0, 2, 4, 6]"]);

    // A dropped handle's callback still runs, here by join.
    let late = log("dropped");
    drop(
        pool.apply_async(doubler, (5,))
            .unwrap()
            .callback(move |v| late(v.to_string())),
    );
    pool.close();
    pool.join().unwrap();
    assert_eq!(seen.borrow()[3..], ["dropped 10"]);

    // A terminated pool's unfinished calls never call back.
    let pool = Pool::new(1).unwrap();
    let never = log("never");
    let r = pool
        .apply_async(nap, (10.0,))
        .unwrap()
        .callback(move |_| never(String::new()));
    pool.terminate().unwrap();
    assert!(matches!(r.get(), Err(Error::PoolNotRunning)));
    assert_eq!(seen.borrow().len(), 4, "{:?}", seen.borrow());
}

/// An input that fails at item `at`, as a Python generator raises: it
/// panics there, through `resume_unwind`, which the pool catches as it
/// catches any panic, but which prints nothing on its way.
fn failing_at(at: u64) -> impl Iterator<Item = u64> {
    (0..10u64).inspect(move |&n| {
        if n == at {
            std::panic::resume_unwind(Box::new(format!("no item {n}")));
        }
    })
}

fn imap_yields_what_came_before_a_failing_input() {
    let pool = Pool::new(2).unwrap();
    let workers = pool.pids();
    let got: Vec<Result<u64, Error>> = pool.imap(doubler, failing_at(3)).unwrap().collect();
    assert_eq!(got.len(), 4, "{got:?}");
    let values: Vec<u64> = got[..3].iter().map(|r| *r.as_ref().unwrap()).collect();
    assert_eq!(values, [0, 2, 4]);
    match &got[3] {
        Err(Error::Input(message)) => assert!(message.contains("no item 3"), "{message}"),
        other => panic!("{other:?}"),
    }
    // The pool goes on, with the same two workers: none was told to stop,
    // or lost, on the way.
    fn worker_pid(_: u64) -> u32 {
        std::process::id()
    }
    let same_workers = || {
        let served = pool.map_chunked(worker_pid, 0..20, 1).unwrap();
        let all_known = served.iter().all(|pid| workers.contains(pid));
        assert!(all_known, "{served:?} not all in {workers:?}");
    };
    same_workers();
    // An input failing at once: one error, the input never asked again,
    // and still the same workers.
    let asked = std::rc::Rc::new(std::cell::Cell::new(0));
    let counter = std::rc::Rc::clone(&asked);
    let broken = (0..10u64).inspect(move |_| {
        counter.set(counter.get() + 1);
        std::panic::resume_unwind(Box::new("no items at all"))
    });
    let got: Vec<Result<u64, Error>> = pool.imap(doubler, broken).unwrap().collect();
    assert!(matches!(got[..], [Err(Error::Input(_))]), "{got:?}");
    assert_eq!(asked.get(), 1, "a failed input was asked for more");
    same_workers();
}

/// Set by `fail_big_or_finish` in a worker once its last task has run.
static SECOND_DONE: OnceLock<Event> = OnceLock::new();

fn fail_big_or_finish(n: u32) -> Result<u32, String> {
    if n == 0 {
        return Err("x".repeat(100 * 1024)); // bigger than a packet
    }
    if n == 9 {
        SECOND_DONE.get().expect("made before the pool").set();
    }
    Ok(n)
}

/// CPython's `test_map_no_failfast`: `map` fails at its first failure
/// (here with a big message), and its other tasks still run: `close` and
/// `join` wait for them, without a deadlock. One worker, so the last tasks
/// were still queued when the map failed.
fn a_failed_map_still_runs_the_rest() {
    let done = SECOND_DONE.get_or_init(|| Event::new().unwrap());
    let pool = Pool::new(1).unwrap();
    match pool.map_chunked(fail_big_or_finish, 0..10, 1) {
        Err(Error::Remote { message, .. }) => assert_eq!(message.len(), 100 * 1024),
        other => panic!("{other:?}"),
    }
    pool.close();
    pool.join().unwrap();
    assert!(done.is_set(), "the queued tasks ran before join returned");
}

fn a_finished_call_holds_nothing() {
    // CPython's test_release_task_refs: once a call is done, the pool keeps
    // no reference to what it was given. Here: the input iterator (and all
    // it owns) is dropped once its last item is handed out, whether the
    // caller waits for the results or dropped the handle halfway.
    let pool = Pool::new(2).unwrap();
    let owned = std::rc::Rc::new(());
    let input = |n: u64| {
        let held = std::rc::Rc::clone(&owned);
        (0..n).inspect(move |_| assert!(std::rc::Rc::strong_count(&held) > 1)) // it owns a count
    };
    let doubled = pool.map_async(doubler, input(1000)).unwrap();
    assert_eq!(doubled.get().unwrap().len(), 1000);
    assert_eq!(std::rc::Rc::strong_count(&owned), 1, "map kept its input");
    let mut first = pool.imap(doubler, input(1000)).unwrap();
    assert_eq!(first.next().unwrap().unwrap(), 0);
    drop(first); // its tasks still all run (test_map_no_failfast)
    pool.close();
    pool.join().unwrap();
    assert_eq!(
        std::rc::Rc::strong_count(&owned),
        1,
        "a dropped imap kept its input"
    );
}

/// A call's input is read while the pool works, so what it does with the
/// same pool cannot be done then: waiting on one of its results, or making
/// a call of it, is an error (not a RefCell panic); dropping one of its
/// handles lets that call go, and the pool goes on.
fn a_call_s_input_that_uses_its_pool() {
    use std::cell::RefCell;
    use std::rc::Rc;
    let pool = Rc::new(Pool::new(2).unwrap());
    let (again, seen) = (Rc::clone(&pool), Rc::new(RefCell::new(Vec::new())));
    let mut held = Some(pool.apply_async(doubler, (21,)).unwrap());
    let noted = Rc::clone(&seen);
    let input = (0..4u64).inspect(move |&n| {
        let mut seen = noted.borrow_mut();
        match n {
            0 => seen.push(held.as_ref().map(|h| h.get().map_err(|e| e.to_string()))),
            1 => seen.push(Some(again.apply(doubler, (1,)).map_err(|e| e.to_string()))),
            _ => drop(held.take()), // a handle of the pool, dropped while it works
        }
    });
    let doubled: Vec<u64> = pool
        .imap(doubler, input)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(doubled, [0, 2, 4, 6]);
    let inside = Err("a pool call's input cannot wait on the same pool".to_owned());
    assert_eq!(*seen.borrow(), [Some(inside.clone()), Some(inside)]);
    let late = pool.apply_async(doubler, (5,)).unwrap();
    late.wait();
    drop(late); // let go after the pool's last turn
    assert_eq!(pool.map(doubler, 0..4).unwrap(), [0, 2, 4, 6]);
}

fn close_join_terminate() {
    let go = GO.get_or_init(|| Event::new().unwrap());
    go.clear();
    let pool = Pool::new(2).unwrap();
    assert!(matches!(pool.join(), Err(Error::PoolStillRunning)));
    assert_eq!(
        pool.join().unwrap_err().to_string(),
        "Pool is still running"
    );
    let results: Vec<_> = (0..4)
        .map(|n| pool.apply_async(wait_for_go, (n,)).unwrap())
        .collect();
    pool.close();
    for refused in [
        pool.apply_async(nap, (0.0,)).map(drop),
        pool.apply(nap, (0.0,)).map(drop),
        pool.map(doubler, 0..3).map(drop),
        pool.starmap(add, [(1, 2)]).map(drop),
        pool.imap(doubler, 0..3).map(drop),
        pool.imap_unordered(doubler, 0..3).map(drop),
    ] {
        assert!(matches!(refused, Err(Error::PoolNotRunning)), "{refused:?}");
    }
    assert_eq!(Error::PoolNotRunning.to_string(), "Pool not running");
    assert!(
        results.iter().all(|r| !r.ready()),
        "queued work cannot have finished: it waits for GO"
    );
    go.set();
    pool.join().unwrap();
    assert!(
        results.iter().all(|r| r.ready()),
        "join waited for all of it"
    );
    let values: Vec<u32> = results.iter().map(|r| r.get().unwrap()).collect();
    assert_eq!(values, [0, 1, 2, 3]);
    assert!(pool.pids().is_empty(), "join waited for the workers too");
    pool.join().unwrap(); // joining again is fine
    pool.terminate().unwrap(); // and so is terminating a joined pool

    let pool = Pool::new(2).unwrap();
    let pids = pool.pids();
    let results: Vec<_> = (0..4)
        .map(|_| pool.apply_async(nap, (30.0,)).unwrap())
        .collect();
    pool.terminate().unwrap();
    pool.join().unwrap();
    assert!(results.iter().all(|r| !r.ready()));
    assert!(matches!(results[0].get(), Err(Error::PoolNotRunning)));
    assert!(matches!(
        pool.map(doubler, 0..3),
        Err(Error::PoolNotRunning)
    ));
    for pid in pids {
        assert!(!alive(pid), "worker {pid} outlived terminate");
    }
}

fn dropping_the_pool_terminates_it() {
    let pool = Pool::new(2).unwrap();
    let pids = pool.pids();
    let pending = pool.apply_async(nap, (30.0,)).unwrap();
    drop(pool);
    for pid in pids {
        assert!(!alive(pid), "worker {pid} outlived its pool");
    }
    assert!(matches!(pending.get(), Err(Error::PoolNotRunning)));
    assert!(!pending.ready());
}

fn worker_names_and_pids() {
    let before = Process::new(|| ());
    let number = |name: &str| name.rsplit('-').next().unwrap().parse::<usize>().unwrap();
    let pool = Pool::new(3).unwrap();
    let mut seen: Vec<(u32, String)> = pool.map_chunked(|_: u8| pid_and_name(), 0..30, 1).unwrap();
    seen.sort();
    seen.dedup();
    assert!(seen.len() <= 3, "{seen:?}");
    let mut pids = pool.pids();
    pids.sort();
    for (pid, name) in &seen {
        assert_ne!(*pid, std::process::id(), "a task ran in the main process");
        assert!(pids.contains(pid), "{pid} is not one of {pids:?}");
        assert!(name.starts_with("ForkPoolWorker-"), "{name}");
        let n = number(name);
        assert!(
            n > number(&before.name()) && n <= number(&before.name()) + 3,
            "{name}"
        );
    }
}

fn maxtasksperchild_replaces_workers() {
    let pool = Pool::builder()
        .processes(1)
        .maxtasksperchild(2)
        .start()
        .unwrap();
    let seen: Vec<(u32, String)> = (0..6)
        .map(|_| pool.apply(pid_and_name, ()).unwrap())
        .collect();
    let pids: Vec<u32> = seen.iter().map(|s| s.0).collect();
    assert_eq!(pids[0], pids[1]);
    assert_eq!(pids[2], pids[3]);
    assert_eq!(pids[4], pids[5]);
    assert!(pids[0] != pids[2] && pids[2] != pids[4], "{seen:?}");
    // A map spanning several lifetimes still comes back whole and in order.
    assert_eq!(
        pool.map_chunked(doubler, 0..20, 1).unwrap(),
        (0..20).map(|n| n * 2).collect::<Vec<_>>()
    );
    // CPython's test_pool_worker_lifetime_early_close: close at once after
    // submitting, join, and every result is in.
    let pool = Pool::builder()
        .processes(3)
        .maxtasksperchild(1)
        .start()
        .unwrap();
    let results: Vec<_> = (0..6)
        .map(|n| pool.apply_async(doubler, (n,)).unwrap())
        .collect();
    pool.close();
    pool.join().unwrap();
    let values: Vec<u64> = results.iter().map(|r| r.get().unwrap()).collect();
    assert_eq!(values, [0, 2, 4, 6, 8, 10]);
}

fn failing_inputs_and_arguments_fail_the_call() {
    let pool = Pool::new(2).unwrap();
    // CPython's test_map_handle_iterable_exception: a map over an input
    // that fails fails with the input's error.
    match pool.map(doubler, failing_at(3)) {
        Err(Error::Input(message)) => assert_eq!(message, "no item 3"),
        other => panic!("{other:?}"),
    }
    // test_imap_unordered_handle_iterable_exception: the failure, and every
    // result produced before it, each once, in any order.
    let got: Vec<Result<u64, Error>> = pool
        .imap_unordered(doubler, failing_at(3))
        .unwrap()
        .collect();
    let failures = got
        .iter()
        .filter(|r| matches!(r, Err(Error::Input(_))))
        .count();
    assert_eq!((got.len(), failures), (4, 1), "{got:?}");
    let mut values: Vec<u64> = got
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    values.sort();
    assert_eq!(values, [0, 2, 4]);
    // test_map_unpicklable: an argument that cannot be encoded fails the
    // call with the encoder's message, and the pool stays usable.
    fn takes_lock(_: Lock) -> u8 {
        0
    }
    match pool.map(takes_lock, [Lock, Lock]) {
        Err(e @ Error::Encoding(_)) => assert!(e.to_string().contains("cannot encode"), "{e}"),
        other => panic!("{other:?}"),
    }
    // test_starmap_async.
    let sums = pool.starmap_async(add, [(1, 2), (3, 4)]).unwrap();
    assert_eq!(sums.get().unwrap(), [3, 7]);
}

static GREETING: Mutex<String> = Mutex::new(String::new());

fn greet(greeting: String) {
    *GREETING.lock().unwrap() = greeting;
}

fn greeting(n: u32) -> String {
    format!("{} {n}", GREETING.lock().unwrap())
}

fn refuse(why: String) -> Result<(), String> {
    Err(why)
}

fn initializer_runs_in_every_worker() {
    let pool = Pool::builder()
        .processes(2)
        .initializer(greet, ("hello".to_owned(),))
        .maxtasksperchild(3)
        .start()
        .unwrap();
    let greetings = pool.map_chunked(greeting, 0..10, 1).unwrap();
    assert_eq!(greetings[9], "hello 9", "replacement workers ran it too");
    assert!(greetings.iter().all(|g| g.starts_with("hello ")));
    assert_eq!(
        GREETING.lock().unwrap().as_str(),
        "",
        "it ran in the workers only"
    );

    let broken = Pool::builder()
        .processes(1)
        .initializer(refuse, ("no database".to_owned(),))
        .start()
        .unwrap();
    match broken.apply(doubler, (1,)) {
        Err(Error::Remote { message, .. }) => {
            assert!(message.ends_with("no database"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

/// What an initializer of each fast-path integer type left in its worker.
static INIT: Mutex<i128> = Mutex::new(0);

fn init_u32(v: u32) {
    *INIT.lock().unwrap() = v.into();
}
fn init_u64(v: u64) {
    *INIT.lock().unwrap() = v.into();
}
fn init_i32(v: i32) {
    *INIT.lock().unwrap() = v.into();
}
fn init_i64(v: i64) {
    *INIT.lock().unwrap() = v.into();
}
fn init_left(_: u32) -> String {
    INIT.lock().unwrap().to_string()
}

/// An initializer's argument of every integer type the codec's fast path
/// serves reaches it (the arguments travel as a chunk of one, as a call's
/// do), and it runs before any task: a pool of one, closed and joined with
/// no task at all, still ran it.
fn an_initializer_takes_every_integer_type() {
    fn check<F: shared::pool::Function<(A,)>, A: shared::pool::Arg>(init: F, arg: A, want: &str) {
        let pool = Pool::builder()
            .processes(2)
            .initializer(init, (arg,))
            .start()
            .unwrap();
        let left = pool.map(init_left, 0..4u32).unwrap();
        assert_eq!(left, vec![want; 4], "{want}");
        pool.close();
        pool.join().unwrap();
    }
    check(init_u32, 7u32, "7");
    check(init_u64, u64::MAX, &u64::MAX.to_string());
    check(init_i32, -7i32, "-7");
    check(init_i64, i64::MIN, &i64::MIN.to_string());
    // With no task, the initializer's own effect shows it ran: its queue.
    let queue: shared::Queue<u32> = shared::Queue::new().unwrap();
    let pool = Pool::builder()
        .processes(1)
        .initializer(put_one, (queue.clone(), 7u32))
        .start()
        .unwrap();
    pool.close();
    pool.join().unwrap();
    assert_eq!(queue.get_timeout(LIMIT).unwrap(), 7);
}

fn put_one(queue: shared::Queue<u32>, v: u32) {
    queue.put(v).unwrap();
}

/// An argument that encodes, and never decodes: a worker cannot take it.
#[derive(serde::Serialize)]
struct Undecodable;

impl<'de> serde::Deserialize<'de> for Undecodable {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom("this value refuses to be decoded"))
    }
}

fn take_undecodable(_: Undecodable) {}

/// A worker that cannot take its initializer's arguments fails every call
/// with that cause, not with a decoding error of the first result.
fn an_initializer_that_cannot_take_its_arguments_fails_every_call() {
    let pool = Pool::builder()
        .processes(1)
        .initializer(take_undecodable, (Undecodable,))
        .start()
        .unwrap();
    let e = pool.apply(doubler, (1,)).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("the pool's initializer could not take its arguments: cannot decode"),
        "{text}"
    );
    assert!(
        pool.map(doubler, 0..3)
            .unwrap_err()
            .to_string()
            .contains("initializer")
    );
}

/// Many `apply_async` calls held at once, then `get` on each: every one
/// comes back, in a bounded time (each turn of the pool once looked at
/// every call, and 16,000 took a minute).
fn apply_async_many() {
    let run = scenario("apply_async_many", LIMIT);
    assert!(run.status.success(), "{run:?}");
}

fn my_pid_after(ms: u64) -> u32 {
    sleep(Duration::from_millis(ms));
    std::process::id()
}

fn abort_at(n: u32, at: u32) -> u32 {
    if n == at {
        std::process::abort(); // a worker that dies mid-task, not a panic
    }
    n
}

/// Calls of one function share a message only up to a fair share of those
/// waiting: after thousands of quick calls, slow calls of the same
/// function still spread over the workers.
fn slow_calls_after_quick_ones_spread_over_the_workers() {
    let pool = Pool::new(2).unwrap();
    let quick: Vec<_> = (0..4000)
        .map(|_| pool.apply_async(my_pid_after, (0,)).unwrap())
        .collect();
    quick.iter().for_each(|r| assert!(r.get().is_ok()));
    let slow: Vec<_> = (0..40)
        .map(|_| pool.apply_async(my_pid_after, (20,)).unwrap())
        .collect();
    let mut by_worker = std::collections::HashMap::new();
    for r in &slow {
        *by_worker.entry(r.get().unwrap()).or_insert(0) += 1;
    }
    let most = by_worker.values().max().copied().unwrap_or(0);
    assert!(most <= 25, "{most} of 40 on one worker: {by_worker:?}");
}

/// A worker that dies in the middle of one call of a batch fails that
/// call only: those it had answered keep their values, those it had not
/// begun run in its replacement.
fn a_crash_fails_only_its_own_call() {
    let pool = Pool::new(1).unwrap();
    assert_eq!(pool.map(doubler, 0..100u64).unwrap().len(), 100); // warm up
    let calls: Vec<_> = (0..20)
        .map(|n| pool.apply_async(abort_at, (n, 5)).unwrap())
        .collect();
    for (n, call) in (0..20u32).zip(&calls) {
        match (n, call.get()) {
            (5, Err(Error::WorkerLost(_))) => {}
            (5, other) => panic!("call 5: {other:?}"),
            (n, result) => assert_eq!(result.unwrap(), n, "call {n}"),
        }
    }
}

fn killed_worker_does_not_hang_map() {
    let run = scenario("killed_worker", LIMIT);
    assert!(run.status.success(), "{run:?}");
    assert!(!run.left_behind, "{run:?}");
    assert!(
        run.output
            .contains("map: worker lost: <ForkPoolWorker name='ForkPoolWorker-"),
        "{run:?}"
    );
    assert!(run.output.contains("stopped exitcode=-SIGKILL"), "{run:?}");
    assert!(run.output.contains("after: [0, 2, 4, 6]"), "{run:?}");
    assert!(run.output.contains("outside: worker lost: "), "{run:?}");
    assert!(run.output.contains("replaced: 2 workers"), "{run:?}");
}

fn terminate_with_a_long_queue_returns() {
    let run = scenario("terminate_queued", LIMIT);
    assert!(run.status.success(), "{run:?}");
    assert!(!run.left_behind, "{run:?}");
    assert_eq!(run.output, "ready: 0 of 10000\n");
}

fn big_messages_both_ways() {
    let run = scenario("big_messages", LIMIT);
    assert!(run.status.success(), "{run:?}");
    assert!(!run.left_behind, "{run:?}");
    assert_eq!(run.output, "ok\n");
}

fn capture_nothing_compile_check() {
    // A closure that captures nothing is a zero-sized value, so the pool
    // accepts it; see the compile_fail example in `shared::pool` for the
    // capturing case.
    let pool = Pool::new(1).unwrap();
    assert_eq!(pool.apply(|| 7u8, ()).unwrap(), 7);
    assert_eq!(pool.apply(|a: u8, b: u8| a * b, (6, 7)).unwrap(), 42);
}

/// A capturing closure is refused when the program is built, with the
/// pool's own sentence; the same code without the capture builds. The
/// compiler is run on both against the `shared` this test was built with
/// (the newest of its profile's builds with which the second compiles).
fn a_capturing_closure_is_refused_with_its_reason() {
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned();
    let dir = std::env::temp_dir().join(format!("capture-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let program = |body: &str| {
        let source = dir.join("main.rs");
        let text =
            format!("fn main() {{ let pool = shared::pool::Pool::new(1).unwrap(); {body} }}");
        std::fs::write(&source, text).unwrap();
        source
    };
    let compile = |source: &std::path::Path, rlib: &std::path::Path| {
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
        let out = std::process::Command::new(rustc)
            .args(["--edition", "2024", "--crate-type", "bin", "-o"])
            .arg(dir.join("main"))
            .arg(source)
            .arg("--extern")
            .arg(format!("shared={}", rlib.display()))
            .arg("-L")
            .arg(format!("dependency={}", deps.display()))
            .output()
            .expect("run rustc");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let mut rlibs: Vec<_> = std::fs::read_dir(&deps)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("libshared-"))
        .filter(|e| e.file_name().to_string_lossy().ends_with(".rlib"))
        .map(|e| (e.metadata().and_then(|m| m.modified()).ok(), e.path()))
        .collect();
    rlibs.sort();
    let fine =
        program("let factor = 3u64; let _ = pool.map(|n: u64| n * 3, 0..10u64); let _ = factor;");
    let rlib = rlibs
        .iter()
        .rev()
        .map(|(_, path)| path)
        .find(|rlib| compile(&fine, rlib).0)
        .expect("a build of shared that a program can use");
    let refused =
        program("let factor = 3u64; let _ = pool.map(move |n: u64| n * factor, 0..10u64);");
    let (built, errors) = compile(&refused, rlib);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!built, "a capturing closure was accepted");
    assert!(
        errors.contains("pass a function, or a closure that captures nothing"),
        "refused, but not for its capture: {errors}"
    );
}

/// The sockets process `pid` holds, by inode (`socket:[123]`).
fn sockets_of(pid: u32) -> HashSet<String> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).expect("its descriptors");
    let links = fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok());
    links
        .map(|l| l.display().to_string())
        .filter(|l| l.starts_with("socket:"))
        .collect()
}

/// Each worker holds one socket of the pool's, its own end of its own
/// pair: not the parent's ends, so the parent's death (or a sibling's) is
/// seen as end-of-file, and not its siblings'.
fn workers_hold_only_their_own_sockets() {
    let before = sockets_of(std::process::id());
    let pool = Pool::new(3).unwrap();
    let check = |pool: &Pool| {
        assert_eq!(pool.map(doubler, 0..30).unwrap().len(), 30); // every worker up
        let parent_ends: HashSet<String> = &sockets_of(std::process::id()) - &before;
        assert_eq!(parent_ends.len(), 3, "{parent_ends:?}");
        for pid in pool.pids() {
            let new: HashSet<String> = &sockets_of(pid) - &before;
            assert!(
                new.is_disjoint(&parent_ends),
                "worker {pid} holds a parent end: {new:?}"
            );
            assert_eq!(new.len(), 1, "worker {pid}: {new:?}");
        }
    };
    check(&pool);
    // A replacement is forked later, from a parent holding more: the same.
    let victim = pool.pids()[0];
    kill(Pid::from_raw(victim as i32), Signal::SIGKILL).unwrap();
    while pool.pids().contains(&victim) {
        let _ = pool.apply(doubler, (1,)); // notices the death, replaces it
    }
    check(&pool);
}

fn no_worker_left_behind() {
    assert!(active_children().is_empty());
    assert!(matches!(
        waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)),
        Err(nix::errno::Errno::ECHILD)
    ));
}

/// Whether `pid` is a live process (not a zombie, not gone).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z')
        })
        .unwrap_or(false)
}

fn run_scenario(name: &str) -> Result<(), Error> {
    match name {
        "apply_async_many" => {
            let pool = Pool::new(2)?;
            let results = (0..20_000u64)
                .map(|n| pool.apply_async(doubler, (n,)))
                .collect::<Result<Vec<_>, _>>()?;
            for (n, result) in (0..20_000u64).zip(&results) {
                assert_eq!(result.get()?, 2 * n);
            }
        }
        "killed_worker" => {
            let pool = Pool::new(2)?;
            let before = pool.pids();
            // The task for 5 kills its own worker with SIGKILL.
            match pool.map_chunked(kill_myself_at, 0..10, 1) {
                Err(e) => println!("map: {e}"),
                Ok(v) => println!("map returned {v:?}"),
            }
            println!("after: {:?}", pool.map(doubler, 0..4)?);
            // Killed from outside, holding a task: `apply_async` has sent
            // it to an idle worker before it returns.
            let long = pool.apply_async(nap, (30.0,))?;
            let killed = pool.pids();
            for &pid in &killed {
                kill(Pid::from_raw(pid as i32), Signal::SIGKILL)?;
            }
            match long.get() {
                Err(e) => println!("outside: {e}"),
                Ok(v) => println!("outside returned {v}"),
            }
            // The other death may not be seen yet: work until it is.
            while pool.pids().iter().any(|p| killed.contains(p)) {
                let _ = pool.apply(doubler, (1,));
            }
            let after = pool.pids();
            assert!(
                after
                    .iter()
                    .all(|p| !before.contains(p) && !killed.contains(p))
            );
            println!("replaced: {} workers", after.len());
            pool.close();
            pool.join()?;
        }
        "terminate_queued" => {
            let pool = Pool::new(2)?;
            let results: Vec<_> = (0..10_000)
                .map(|_| pool.apply_async(nap, (60.0,)))
                .collect::<Result<_, _>>()?;
            pool.terminate()?;
            let ready = results.iter().filter(|r| r.ready()).count();
            println!("ready: {ready} of {}", results.len());
        }
        "big_messages" => {
            fn echo(bytes: serde_bytes::ByteBuf) -> serde_bytes::ByteBuf {
                bytes
            }
            fn grow(n: usize) -> String {
                "x".repeat(n)
            }
            let pool = Pool::new(2)?;
            let mib = 1 << 20;
            let big: Vec<serde_bytes::ByteBuf> = (0..20u8)
                .map(|i| serde_bytes::ByteBuf::from(vec![i; mib]))
                .collect();
            let back = pool.map_chunked(echo, big.clone(), 1)?;
            assert!(back == big, "1 MiB arguments and results, one per task");
            let back = pool.map_chunked(echo, big.clone(), 4)?;
            assert!(back == big, "4 MiB chunks");
            let sizes: Vec<usize> = pool
                .map_chunked(grow, vec![mib; 30], 1)?
                .iter()
                .map(String::len)
                .collect();
            assert!(
                sizes == vec![mib; 30],
                "results bigger than a socket buffer"
            );
            println!("ok");
        }
        other => panic!("unknown scenario {other}"),
    }
    Ok(())
}

fn main() {
    testkit::test_main(
        testkit::checks![
            map_keeps_input_order,
            empty_input_and_chunksize_edges,
            bad_settings_are_errors,
            errors_and_panics_come_back_and_the_pool_stays_usable,
            get_with_a_timeout,
            callbacks_run_once_in_the_parent,
            imap_yields_what_came_before_a_failing_input,
            failing_inputs_and_arguments_fail_the_call,
            a_failed_map_still_runs_the_rest,
            a_finished_call_holds_nothing,
            a_call_s_input_that_uses_its_pool,
            close_join_terminate,
            dropping_the_pool_terminates_it,
            worker_names_and_pids,
            maxtasksperchild_replaces_workers,
            initializer_runs_in_every_worker,
            an_initializer_takes_every_integer_type,
            an_initializer_that_cannot_take_its_arguments_fails_every_call,
            apply_async_many,
            slow_calls_after_quick_ones_spread_over_the_workers,
            a_crash_fails_only_its_own_call,
            capture_nothing_compile_check,
            a_capturing_closure_is_refused_with_its_reason,
            killed_worker_does_not_hang_map,
            terminate_with_a_long_queue_returns,
            big_messages_both_ways,
            workers_hold_only_their_own_sockets,
            no_worker_left_behind,
        ],
        run_scenario,
    );
}
