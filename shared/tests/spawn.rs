//! The `spawn` start method, checked from a program that owns its only
//! thread (`harness = false`, as `lifecycle.rs`).
//!
//! A spawned child is a fresh run of this test executable: `main` calls
//! `shared::freeze_support()` first, as every spawning program must, and
//! the child runs its task there. Each target below reports what it saw
//! through its exit code (0 when all was as expected), since a spawned
//! child shares no memory with this process. Checks that need a whole
//! program of their own re-run this executable as a scenario.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread::sleep;
use std::time::{Duration, Instant};

use log::LevelFilter;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use shared::sync::Block;
use shared::{
    Error, Event, Lock, Process, RLock, StartMethod, current_process, get_context, parent_process,
    set_start_method,
};
use testkit::{scenario, scenario_with};

const LIMIT: Duration = Duration::from_secs(30);
const LONG: Duration = LIMIT;

/// The child's view of itself: its name, daemon flag and parent, as the
/// argument says they should be; exit code 0 if so.
fn check_identity((name, daemon, parent_pid): (String, bool, u32)) -> Result<(), String> {
    let me = current_process();
    let parent = parent_process().ok_or("no parent")?;
    let seen = (
        me.name().to_owned(),
        me.daemon(),
        parent.pid(),
        parent.name().to_owned(),
    );
    let want = (name, daemon, parent_pid, "MainProcess".to_owned());
    match seen == want {
        true => Ok(()),
        false => Err(format!("saw {seen:?}, expected {want:?}")),
    }
}

fn exit_with(code: i32) {
    shared::exit(code)
}

fn fail_with(message: String) -> Result<(), String> {
    Err(message)
}

fn panic_with(message: String) {
    panic!("{message}")
}

/// Write `path`, then sleep: the parent knows the task has begun when the
/// file is there.
fn mark_then_sleep(path: PathBuf) {
    std::fs::write(&path, b"started").expect("the marker");
    sleep(Duration::from_secs(30));
}

fn wait_for_file(path: &Path) {
    let began = Instant::now();
    while !path.exists() {
        assert!(began.elapsed() < LIMIT, "{} never appeared", path.display());
        sleep(Duration::from_millis(2));
    }
}

fn marker(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("shared-spawn-test-{}-{name}", std::process::id()))
}

/// A global the parent changes: a forked child sees the change, a
/// spawned one the value the program starts with.
static GREETING: Mutex<&str> = Mutex::new("fresh");

fn greeting_is(want: String) -> Result<(), String> {
    let seen = *GREETING.lock().unwrap();
    (seen == want).then_some(()).ok_or(format!("saw {seen:?}"))
}

fn wait_for(event: shared::Event) {
    assert!(event.wait());
}

fn states_and_repr() {
    let spawn = get_context(StartMethod::Spawn);
    let parent = std::process::id();
    let go = shared::Event::new().unwrap();
    let mut p = spawn.process(wait_for, go.clone());
    let name = p.name();
    assert!(name.starts_with("SpawnProcess-"), "{name}");
    assert_eq!(
        p.to_string(),
        format!("<SpawnProcess name='{name}' parent={parent} initial>")
    );
    p.start().unwrap();
    let pid = p.pid().unwrap();
    assert_eq!(
        p.to_string(),
        format!("<SpawnProcess name='{name}' pid={pid} parent={parent} started>")
    );
    go.set();
    p.join().unwrap();
    assert!(!p.is_alive());
    assert_eq!(p.exitcode(), Some(0));
    assert_eq!(
        p.to_string(),
        format!("<SpawnProcess name='{name}' pid={pid} parent={parent} stopped exitcode=0>")
    );
    assert!(matches!(p.start(), Err(Error::AlreadyStarted)));
}

/// A spawn starts no thread: a fork right after a spawn is not refused,
/// a hundred times over.
fn fork_right_after_spawn() {
    for _ in 0..100 {
        let mut spawned = get_context(StartMethod::Spawn).process(exit_with, 0);
        spawned.start().unwrap();
        let mut forked = Process::new(|| ());
        forked.start().unwrap();
        forked.join().unwrap();
        spawned.join().unwrap();
        assert_eq!((spawned.exitcode(), forked.exitcode()), (Some(0), Some(0)));
    }
}

fn exit_codes() {
    let spawn = get_context(StartMethod::Spawn);
    let mut cases = vec![
        (spawn.process(exit_with, 3), 3),
        (spawn.process(fail_with, "no".to_owned()), 1),
        (spawn.process(panic_with, "boom".to_owned()), 1),
    ];
    for (p, _) in &mut cases {
        p.start().unwrap();
    }
    for (p, code) in &cases {
        p.join().unwrap();
        assert_eq!(p.exitcode(), Some(*code), "{p}");
    }
}

fn names_daemons_and_parents() {
    let me = std::process::id();
    let spawn = get_context(StartMethod::Spawn);
    let mut named = spawn
        .process(check_identity, ("given".to_owned(), false, me))
        .named("given");
    let mut daemon = spawn
        .process(check_identity, ("d".to_owned(), true, me))
        .named("d")
        .daemon(true);
    named.start().unwrap();
    daemon.start().unwrap();
    named.join().unwrap();
    daemon.join().unwrap();
    assert_eq!(
        (named.exitcode(), daemon.exitcode()),
        (Some(0), Some(0)),
        "{daemon}"
    );
}

fn terminate_kill_and_join_timeout() {
    let spawn = get_context(StartMethod::Spawn);
    let (first, second) = (marker("terminate"), marker("kill"));
    let mut terminated = spawn.process(mark_then_sleep, first.clone());
    let mut killed = spawn.process(mark_then_sleep, second.clone());
    terminated.start().unwrap();
    killed.start().unwrap();
    wait_for_file(&first); // mid-task, for real
    wait_for_file(&second);
    let began = Instant::now();
    terminated.join_timeout(Duration::from_millis(50)).unwrap();
    assert!(terminated.is_alive());
    terminated.terminate().unwrap();
    killed.kill().unwrap();
    terminated.join().unwrap();
    killed.join().unwrap();
    assert!(
        began.elapsed() < Duration::from_secs(20),
        "the 30 s sleeps were cut short"
    );
    assert_eq!(
        (terminated.exitcode(), killed.exitcode()),
        (Some(-15), Some(-9))
    );
    let _ = (std::fs::remove_file(first), std::fs::remove_file(second));
}

fn spawned_children_see_a_fresh_start() {
    *GREETING.lock().unwrap() = "changed";
    let mut forked = get_context(StartMethod::Fork).process(greeting_is, "changed".to_owned());
    let mut spawned = get_context(StartMethod::Spawn).process(greeting_is, "fresh".to_owned());
    forked.start().unwrap();
    spawned.start().unwrap();
    forked.join().unwrap();
    spawned.join().unwrap();
    assert_eq!((forked.exitcode(), spawned.exitcode()), (Some(0), Some(0)));
    *GREETING.lock().unwrap() = "fresh";
}

fn spawn_works_beside_eight_threads() {
    let _threads = testkit::parked_threads(8);
    let mut forked = Process::with_args(exit_with, 0);
    assert!(matches!(forked.start(), Err(Error::Threads(n)) if n >= 9));
    let mut children: Vec<Process> = (0..4)
        .map(|_| get_context(StartMethod::Spawn).process(exit_with, 0))
        .collect();
    children.iter_mut().for_each(|p| p.start().unwrap());
    for p in &children {
        p.join().unwrap();
        assert_eq!(p.exitcode(), Some(0));
    }
}

/// An argument whose encoding fails.
#[derive(Deserialize)]
struct Unencodable;

impl Serialize for Unencodable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "this value refuses to be encoded",
        ))
    }
}

fn take_unencodable(_: Unencodable) {}

fn misuse_is_an_error() {
    let mut closure = Process::new(|| ()).start_method(StartMethod::Spawn);
    assert!(matches!(closure.start(), Err(Error::NotSpawnable)));
    assert_eq!(closure.pid(), None);
    let mut p = get_context(StartMethod::Spawn).process(take_unencodable, Unencodable);
    let e = p.start().unwrap_err();
    assert!(matches!(e, Error::Encoding(_)), "{e}");
    assert_eq!(p.pid(), None, "nothing started");
    assert!(matches!(p.join(), Err(Error::NotStarted(_))));
}

fn the_default_method_and_its_logging() {
    let run = scenario("default_spawn", LIMIT);
    assert!(run.status.success(), "{run:?}");
    let lines = run.lines();
    for want in [
        "[INFO/Process-1] child process calling self.run()",
        "[INFO/Process-1] process shutting down",
        "[INFO/Process-1] process exiting with exitcode 0",
        "the second set_start_method: RuntimeError: context has already been set",
    ] {
        assert!(lines.contains(&want), "{want:?} not in {run:?}");
    }
}

fn a_program_without_freeze_support_is_refused_at_start() {
    let run = scenario_with("never_called", &[("SKIP_FREEZE_SUPPORT", "1")], LIMIT);
    assert!(run.status.success(), "{run:?}");
    assert!(!run.left_behind, "{run:?}");
    assert!(
        run.output.contains(
            "cannot spawn: this program's main does not call shared::freeze_support() first, \
             so a spawned child would run the whole program again"
        ),
        "{run:?}"
    );
    assert!(run.output.contains("nothing was started"), "{run:?}");
}

/// The parent calls `freeze_support` but the child skips it.
fn a_forgotten_freeze_support_is_an_error() {
    let run = scenario("forgotten", LIMIT);
    assert!(run.status.success(), "{run:?}");
    assert!(!run.left_behind, "{run:?}");
    assert!(
        run.output.contains(
            "cannot spawn: the spawned child exited before taking its task: does its main call \
             shared::freeze_support() first? (it exited with code 1)"
        ),
        "{run:?}"
    );
    // The child ran `main` again, and was refused its own spawn.
    assert!(run.output.contains("bootstrapping phase"), "{run:?}");
}

fn announce_then_sleep(started: shared::Event) {
    println!("daemon started");
    started.set();
    sleep(Duration::from_secs(20));
    println!("daemon done");
}

fn nap_then_say(_: ()) {
    sleep(Duration::from_millis(300));
    println!("non-daemon done");
}

/// The exit steps, for spawned children: when `main` returns, the spawned
/// daemon is terminated and the rest joined, with CPython's log lines
/// (the same as `lifecycle.rs` checks for forked ones), and the children's
/// own lifecycle lines come from the children, named.
fn main_exit_terminates_spawned_daemons_and_joins_the_rest() {
    let run = scenario("main_exit", LIMIT);
    assert!(run.status.success(), "{run:?}");
    assert!(!run.left_behind, "a child outlived the program: {run:?}");
    let lines = run.lines();
    for want in [
        "daemon started",
        "non-daemon done",
        "[INFO/sleepy] child process calling self.run()",
        "[INFO/busy] process exiting with exitcode 0",
        "[INFO/MainProcess] calling terminate() for daemon sleepy",
        "[INFO/MainProcess] calling join() for process busy",
    ] {
        assert!(lines.contains(&want), "{want:?} not in {run:?}");
    }
    assert!(!lines.contains(&"daemon done"), "{run:?}");
    let done = lines.iter().position(|l| *l == "non-daemon done").unwrap();
    let last = lines
        .iter()
        .rposition(|l| l.contains("/MainProcess]"))
        .unwrap();
    assert!(
        done < last,
        "main's exit steps wait for the non-daemon: {run:?}"
    );
}

fn daemons_die_with_a_killed_parent() {
    let run = scenario("killed_parent", LIMIT);
    assert!(
        !run.left_behind,
        "a spawned daemon outlived its SIGKILLed parent: {run:?}"
    );
    assert!(run.output.contains("daemon started"), "{run:?}");
}

fn nothing_left_behind() {
    // Every check joined what it started.
    assert!(matches!(
        waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)),
        Err(nix::errno::Errno::ECHILD)
    ));
}

/// What this process holds open, and the temporary directories there are.
fn footprint() -> (usize, Vec<String>) {
    let fds = std::fs::read_dir("/proc/self/fd").unwrap().count();
    let mut temps: Vec<String> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with(".tmp"))
        .collect();
    temps.sort();
    (fds, temps)
}

static BEFORE: std::sync::OnceLock<(usize, Vec<String>)> = std::sync::OnceLock::new();

fn no_fd_or_temporary_file_left() {
    let before = BEFORE.get().expect("taken first in main");
    // The threads of `spawn_works_beside_eight_threads` are joined, but the
    // kernel may count one for a moment more: wait for this process to be
    // one thread.
    let began = Instant::now();
    while std::fs::read_dir("/proc/self/task").unwrap().count() > 1 {
        assert!(began.elapsed() < LIMIT, "a thread stayed");
        std::thread::yield_now();
    }
    assert_eq!(
        &footprint(),
        before,
        "descriptors and temporary directories: before, after"
    );
}

fn double(x: u64) -> u64 {
    x * 2
}

fn my_name(_: u32) -> String {
    current_process().name().to_owned()
}

/// What the pool's initializer left in this worker.
static PREFIX: Mutex<String> = Mutex::new(String::new());

fn set_prefix(prefix: String) {
    *PREFIX.lock().unwrap() = prefix;
}

fn prefixed(x: u32) -> String {
    format!("{}{x}", PREFIX.lock().unwrap())
}

fn die(_: u32) {
    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
}

/// A pool of spawned workers: `map`, `imap`, `apply_async`, the names,
/// the initializer, and a worker killed mid-task.
fn a_pool_of_spawned_workers() {
    let pool = get_context(StartMethod::Spawn).pool(2).unwrap();
    let doubled = pool.map(double, 0..10_000u64).unwrap();
    assert_eq!(doubled, (0..10_000u64).map(double).collect::<Vec<_>>());
    let imapped: Vec<u64> = pool
        .imap(double, 0..100u64)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(imapped, (0..100u64).map(double).collect::<Vec<_>>());
    assert_eq!(pool.apply_async(double, (21,)).unwrap().get().unwrap(), 42);
    let names: std::collections::HashSet<String> = pool
        .map_chunked(my_name, 0..200u32, 1)
        .unwrap()
        .into_iter()
        .collect();
    assert!(
        names.iter().all(|n| n.starts_with("SpawnPoolWorker-")),
        "{names:?}"
    );
    // A worker killed in the middle of a task: that call fails with
    // WorkerLost, naming it, and the pool goes on with a replacement.
    let lost = pool.apply(die, (0,)).unwrap_err();
    assert!(matches!(lost, Error::WorkerLost(_)), "{lost}");
    assert!(lost.to_string().contains("SpawnPoolWorker-"), "{lost}");
    assert!(lost.to_string().contains("exitcode=-SIGKILL"), "{lost}");
    assert_eq!(pool.map(double, 0..10u64).unwrap()[9], 18);
    pool.close();
    pool.join().unwrap();

    let pool = shared::Pool::builder()
        .processes(2)
        .start_method(StartMethod::Spawn)
        .initializer(set_prefix, ("spawned ".to_owned(),))
        .maxtasksperchild(2)
        .start()
        .unwrap();
    let out = pool.map_chunked(prefixed, 0..20u32, 1).unwrap();
    assert_eq!(
        out[7], "spawned 7",
        "the initializer ran in each (replaced) worker"
    );
    pool.close();
    pool.join().unwrap();
}

/// Everything a spawned child is handed: its ends of a pipe, a queue, an
/// event, a lock, a value and an array, as CPython pickles them for spawn.
type Handed = (
    shared::Connection,
    shared::Queue<String>,
    shared::Event,
    shared::Lock,
    shared::Value<u32>,
    shared::Array<i32>,
);

fn use_what_was_handed((conn, queue, event, lock, value, array): Handed) -> Result<(), Error> {
    conn.send(&"over the pipe".to_owned())?;
    queue.put(format!("via the queue: {}", conn.recv::<String>()?))?;
    assert!(
        lock.acquire(shared::Block::No),
        "free: the parent released it"
    );
    value.set(value.get() + 41);
    array.set(0, -7);
    lock.release()?;
    event.set();
    Ok(())
}

fn queues_pipes_events_and_locks_reach_a_spawned_child() {
    let (parent_end, child_end) = shared::pipe(true).unwrap();
    let queue: shared::Queue<String> = shared::Queue::new().unwrap();
    let event = shared::Event::new().unwrap();
    let lock = shared::Lock::new().unwrap();
    let value = shared::Value::new(1u32).unwrap();
    let array = shared::Array::new(&[1i32, 2, 3]).unwrap();
    lock.acquire(shared::Block::Forever);
    let handed = (
        child_end,
        queue.clone(),
        event.clone(),
        lock.clone(),
        value.clone(),
        array.clone(),
    );
    let mut p = get_context(StartMethod::Spawn).process(use_what_was_handed, handed);
    p.start().unwrap();
    assert_eq!(parent_end.recv::<String>().unwrap(), "over the pipe");
    lock.release().unwrap();
    parent_end.send(&"and back".to_owned()).unwrap();
    assert_eq!(queue.get().unwrap(), "via the queue: and back");
    assert!(event.wait_timeout(LONG));
    p.join().unwrap();
    assert_eq!(p.exitcode(), Some(0));
    assert_eq!((value.get(), array.to_vec()), (42, vec![-7, 2, 3]));
    // Anywhere but a spawn's argument, such an object cannot be encoded.
    let q: shared::Queue<shared::Lock> = shared::Queue::new().unwrap();
    let e = q.put(lock).unwrap_err();
    assert!(
        e.to_string()
            .contains("should only be shared between processes through inheritance"),
        "{e}"
    );
}

/// What a pool's initializer was handed, kept in each worker.
static COUNTED: Mutex<Option<(shared::Lock, shared::Value<u32>)>> = Mutex::new(None);

fn keep(lock: shared::Lock, counter: shared::Value<u32>) {
    *COUNTED.lock().unwrap() = Some((lock, counter));
}

fn count(_: u32) {
    let kept = COUNTED.lock().unwrap();
    let (lock, counter) = kept.as_ref().expect("the initializer ran");
    let _held = lock.lock();
    counter.set(counter.get() + 1);
}

/// A lock and a value reach a pool's workers through its initializer
/// (Python's `Pool(initializer=init, initargs=(lock, counter))`), forked
/// or spawned, with workers replaced on the way.
fn a_pools_initializer_takes_locks_and_values() {
    for method in [StartMethod::Fork, StartMethod::Spawn] {
        let (lock, counter) = (
            shared::Lock::new().unwrap(),
            shared::Value::new(0u32).unwrap(),
        );
        let pool = shared::Pool::builder()
            .processes(2)
            .start_method(method)
            .initializer(keep, (lock, counter.clone()))
            .maxtasksperchild(10)
            .start()
            .unwrap();
        pool.map_chunked(count, 0..100u32, 1).unwrap();
        assert_eq!(counter.get(), 100, "{method}");
        pool.close();
        pool.join().unwrap();
    }
}

fn sleep_for(seconds: u64) {
    sleep(Duration::from_secs(seconds));
}

/// `lifecycle.rs`'s `sentinels_say_which_child_ended`, spawned.
fn sentinels_say_which_spawned_child_ended() {
    use std::os::fd::AsFd;
    let spawn = get_context(StartMethod::Spawn);
    let mut quick = spawn.process(exit_with, 0);
    let mut slow = spawn.process(sleep_for, 60);
    quick.start().unwrap();
    slow.start().unwrap();
    let sentinels = [quick.sentinel().unwrap(), slow.sentinel().unwrap()];
    let fds = [sentinels[0].as_fd(), sentinels[1].as_fd()];
    assert_eq!(shared::ipc::wait(&fds, LIMIT).unwrap(), [0]);
    quick.join().unwrap();
    assert!(
        shared::ipc::wait(&fds[1..], Duration::from_millis(50))
            .unwrap()
            .is_empty()
    );
    slow.kill().unwrap();
    assert_eq!(shared::ipc::wait(&fds[1..], LIMIT).unwrap(), [0]);
    slow.join().unwrap();
}

/// `lifecycle.rs`'s `active_children_lists_the_live_ones`, spawned.
fn active_children_lists_the_live_spawned_ones() {
    let spawn = get_context(StartMethod::Spawn);
    let mut quick = spawn.process(exit_with, 0);
    let mut slow = spawn.process(sleep_for, 10);
    quick.start().unwrap();
    slow.start().unwrap();
    quick.join().unwrap();
    let names: Vec<String> = shared::active_children()
        .iter()
        .map(Process::name)
        .collect();
    assert_eq!(names, vec![slow.name()]);
    slow.terminate().unwrap();
    slow.join().unwrap();
    assert_eq!(slow.exitcode(), Some(-15));
    assert!(shared::active_children().is_empty());
}

/// A spawned child's own children: forked and spawned grandchildren are
/// named under it (`SpawnProcess-N:1`, …), and see it as their parent.
fn grandchildren_of(_: ()) -> Result<(), String> {
    let me = current_process();
    let check = (me.name().to_owned(), me.pid());
    let mut forked = get_context(StartMethod::Fork).process(check_grandparent, check.clone());
    let mut spawned = get_context(StartMethod::Spawn).process(check_grandparent, check);
    for p in [&mut forked, &mut spawned] {
        p.start().map_err(|e| e.to_string())?;
        p.join().map_err(|e| e.to_string())?;
        if p.exitcode() != Some(0) {
            return Err(format!("{p}"));
        }
    }
    let (f, s) = (forked.name(), spawned.name());
    let prefix = format!("{}:", me.name().replace("SpawnProcess", "ForkProcess"));
    match (
        f.starts_with(&prefix),
        s.starts_with(&format!("{}:", me.name())),
    ) {
        (true, true) => Ok(()),
        _ => Err(format!("names {f} and {s} under {}", me.name())),
    }
}

fn check_grandparent((name, pid): (String, u32)) -> Result<(), String> {
    let parent = parent_process().ok_or("no parent")?;
    match (parent.name() == name, parent.pid() == pid) {
        (true, true) => Ok(()),
        _ => Err(format!(
            "parent {} {}, expected {name} {pid}",
            parent.name(),
            parent.pid()
        )),
    }
}

fn a_spawned_child_starts_children_of_its_own() {
    let mut p = get_context(StartMethod::Spawn).process(grandchildren_of, ());
    p.start().unwrap();
    p.join().unwrap();
    assert_eq!(p.exitcode(), Some(0), "{p}");
}

/// A spawned child waits for its parent to end (`parent_process().join`).
fn outlive_parent((report, ready): (shared::Queue<bool>, shared::Event)) -> Result<(), Error> {
    let parent = parent_process().expect("a parent");
    let alive_before = parent.is_alive();
    ready.set(); // looked: the parent may go now
    parent.join_timeout(LIMIT)?;
    report.put(alive_before && !parent.is_alive())
}

fn middle(handed: (shared::Queue<bool>, shared::Event)) -> Result<(), Error> {
    let report = handed.0.clone();
    let mut grandchild = get_context(StartMethod::Spawn).process(outlive_parent, handed);
    grandchild.start()?;
    // Say when `start` is over: the test kills this process after it.
    report.put(true)?;
    sleep(LIMIT); // until killed
    Ok(())
}

fn a_spawned_child_can_wait_for_its_parent() {
    let report: shared::Queue<bool> = shared::Queue::new().unwrap();
    let ready = shared::Event::new().unwrap();
    let mut m = get_context(StartMethod::Spawn).process(middle, (report.clone(), ready.clone()));
    m.start().unwrap();
    assert!(
        ready.wait_timeout(LIMIT),
        "the grandchild looked at its parent"
    );
    assert!(
        report.get_timeout(LIMIT).unwrap(),
        "the middle's start is over"
    );
    m.kill().unwrap();
    m.join().unwrap();
    assert!(report.get_timeout(LIMIT).unwrap(), "alive, then seen gone");
}

/// CPython's `test_many_processes`, spawned: 20 at once, let go; 20 more,
/// terminated.
fn many_spawned_processes() {
    let twenty = |event: &shared::Event| -> Vec<Process> {
        let mut procs: Vec<Process> = (0..20)
            .map(|_| get_context(StartMethod::Spawn).process(wait_for, event.clone()))
            .collect();
        procs.iter_mut().for_each(|p| p.start().unwrap());
        procs
    };
    let go = shared::Event::new().unwrap();
    let procs = twenty(&go);
    go.set();
    for p in &procs {
        p.join().unwrap();
        assert_eq!(p.exitcode(), Some(0), "{p}");
    }
    let procs = twenty(&shared::Event::new().unwrap()); // never set
    procs.iter().for_each(|p| p.terminate().unwrap());
    for p in &procs {
        p.join().unwrap();
        assert_eq!(p.exitcode(), Some(-15), "{p}");
    }
}

/// A spawned child's own forked grandchildren and its locks: the
/// grandchild is a process of its own (its cached thread id is not its
/// parent's), so it cannot take the `RLock` its parent holds; and a `Lock`
/// a killed grandchild held passes back to the child.
fn locks_in_a_spawned_childs_family(
    (rlock, lock, taken): (RLock, Lock, Event),
) -> Result<(), String> {
    assert!(rlock.acquire(Block::No), "free");
    let r = rlock.clone();
    // Forked: in a spawned child the default method is spawn, as in CPython.
    let mut grandchild = Process::new(move || assert!(!r.acquire(Block::No), "its parent's RLock"))
        .start_method(StartMethod::Fork);
    grandchild.start().map_err(|e| e.to_string())?;
    grandchild.join().map_err(|e| e.to_string())?;
    if grandchild.exitcode() != Some(0) {
        return Err(format!("{grandchild}"));
    }
    let (l, t) = (lock.clone(), taken.clone());
    let mut holder = Process::new(move || {
        l.acquire(Block::Forever);
        t.set();
        sleep(LIMIT);
    })
    .start_method(StartMethod::Fork);
    holder.start().map_err(|e| e.to_string())?;
    assert!(taken.wait_timeout(LIMIT));
    holder.kill().map_err(|e| e.to_string())?;
    match lock.acquire(Block::For(LIMIT)) {
        true => Ok(()),
        false => Err("the killed grandchild's lock never passed on".to_owned()),
    }
}

fn a_spawned_childs_grandchildren_and_its_locks() {
    let handed = (
        RLock::new().unwrap(),
        Lock::new().unwrap(),
        Event::new().unwrap(),
    );
    let mut p = get_context(StartMethod::Spawn).process(locks_in_a_spawned_childs_family, handed);
    p.start().unwrap();
    p.join().unwrap();
    assert_eq!(p.exitcode(), Some(0), "{p}");
}

/// Spawned from a thread that blocks SIGTERM, a child still starts with an
/// empty signal mask, as std's `Command` starts one: `terminate` ends it.
fn a_spawned_child_starts_with_an_empty_signal_mask() {
    let code = std::thread::spawn(|| {
        let mut term = nix::sys::signal::SigSet::empty();
        term.add(Signal::SIGTERM);
        term.thread_block().unwrap();
        let mut p = get_context(StartMethod::Spawn).process(wait_for, Event::new().unwrap());
        p.start().unwrap();
        p.terminate().unwrap();
        p.join_timeout(LIMIT).unwrap();
        if p.is_alive() {
            p.kill().unwrap(); // it ignored SIGTERM: clean up, and fail below
            p.join().unwrap();
        }
        p.exitcode()
    })
    .join()
    .unwrap();
    assert_eq!(code, Some(-15), "SIGTERM was blocked in the child");
}

/// A child reports the method that started it (CPython's
/// `_force_start_method`), whatever the program-wide one: see the scenario.
fn a_child_reports_the_method_that_started_it() {
    let run = scenario("methods", LIMIT);
    assert!(run.status.success(), "{run:?}");
    for want in [
        "forked child: fork",
        "spawned child: spawn",
        "in a child, set_start_method: RuntimeError: context has already been set",
        "forced: spawn",
    ] {
        assert!(run.lines().contains(&want), "{want:?} not in {run:?}");
    }
}

fn report_method(who: String) -> Result<(), Error> {
    println!("{who}: {}", shared::get_start_method());
    if who.starts_with("forked") {
        let e = set_start_method(StartMethod::Spawn, false).unwrap_err();
        println!("in a child, set_start_method: {e}");
        set_start_method(StartMethod::Spawn, true)?;
        println!("forced: {}", shared::get_start_method());
    }
    Ok(())
}

/// With no descriptor free to hand a queue over, `start` says so:
/// CPython's `OSError: [Errno 24] Too many open files`.
fn spawn_at_the_descriptor_limit_is_emfile() {
    let run = scenario("no_descriptor_free", LIMIT);
    assert!(run.status.success(), "{run:?}");
    assert!(
        run.output
            .contains("OSError: [Errno 24] Too many open files"),
        "{run:?}"
    );
}

fn take_a_queue(_: shared::Queue<u32>) {}

/// This executable run by hand with the marker a spawned child carries,
/// and no call at its descriptor 3, is refused with a clear word.
fn the_marker_alone_is_refused() {
    let exe = std::env::current_exe().unwrap();
    let run = testkit::run_with(exe, &["--multiprocessing-fork"], &[], LIMIT);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert!(
        run.output
            .contains("is not a sealed memory file holding a briefing"),
        "{run:?}"
    );
}

/// A child that ends before it takes its call, leaving the pipe it should
/// have answered on open in a child of its own: `start` returns with the
/// child's exit code at once (it watches the child's end), while that
/// grandchild still runs.
fn start_returns_when_the_child_ends_without_a_word() {
    let run = scenario("ends_without_a_word", LIMIT);
    assert!(run.status.success(), "{run:?}");
    assert!(run.output.contains("(it exited with code 3)"), "{run:?}");
    assert!(run.output.contains("the grandchild still ran"), "{run:?}");
}

/// The spawned child of `ends_without_a_word`: before `freeze_support`, it
/// forks a grandchild that keeps every descriptor (the pipe's end among
/// them) and sleeps, writes its pid down, and exits with code 3.
fn hold_the_pipe_and_exit() {
    if std::env::var_os(HOLD_THE_PIPE).is_none()
        || std::env::args().nth(1).as_deref() != Some("--multiprocessing-fork")
    {
        return;
    }
    // SAFETY: a fresh process with one thread; the grandchild only sleeps
    // and leaves with `_exit`.
    match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => {
            sleep(LIMIT * 2);
            // SAFETY: leave at once, running nothing of the parent's.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            let path = std::env::var_os(HOLD_THE_PIPE).unwrap();
            std::fs::write(path, child.as_raw().to_string()).unwrap();
            std::process::exit(3);
        }
    }
}

const HOLD_THE_PIPE: &str = "SPAWN_TEST_HOLD_THE_PIPE";

fn run_scenario(name: &str) -> Result<(), Error> {
    match name {
        "methods" => {
            set_start_method(StartMethod::Spawn, false)?;
            let mut forked =
                get_context(StartMethod::Fork).process(report_method, "forked child".to_owned());
            let mut spawned = Process::with_args(report_method, "spawned child".to_owned());
            for p in [&mut forked, &mut spawned] {
                p.start()?;
                p.join()?;
                assert_eq!(p.exitcode(), Some(0), "{p}");
            }
        }
        "no_descriptor_free" => {
            use nix::sys::resource::{Resource, getrlimit, setrlimit};
            let queue = shared::Queue::new()?;
            let mut p = get_context(StartMethod::Spawn).process(take_a_queue, queue);
            let open = std::fs::read_dir("/proc/self/fd")?.count() as u64 - 1; // less read_dir's own
            let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
            setrlimit(Resource::RLIMIT_NOFILE, open, hard)?;
            let e = p.start().unwrap_err();
            setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
            assert_eq!(e.errno(), Some(nix::errno::Errno::EMFILE), "{e}");
            println!("{e}");
            assert_eq!(p.pid(), None, "nothing started");
        }
        "ends_without_a_word" => {
            let path = marker("grandchild");
            // SAFETY: one thread runs here.
            unsafe { std::env::set_var(HOLD_THE_PIPE, &path) };
            let mut p = get_context(StartMethod::Spawn).process(exit_with, 0);
            let e = p.start().unwrap_err();
            println!("{e}");
            let grandchild: i32 = std::fs::read_to_string(&path)?.parse().unwrap();
            let _ = std::fs::remove_file(&path);
            let pid = Pid::from_raw(grandchild);
            if nix::sys::signal::kill(pid, None).is_ok() {
                println!("the grandchild still ran");
                nix::sys::signal::kill(pid, Signal::SIGKILL)?;
            }
        }
        "default_spawn" => {
            shared::log_to_stderr(LevelFilter::Info);
            set_start_method(StartMethod::Spawn, false)?;
            let again = set_start_method(StartMethod::Fork, false).unwrap_err();
            println!("the second set_start_method: {again}");
            *GREETING.lock().unwrap() = "changed";
            let mut p = Process::with_args(greeting_is, "fresh".to_owned());
            p.start()?;
            p.join()?;
            assert_eq!(p.exitcode(), Some(0));
        }
        "forgotten" => {
            // The child skips `freeze_support` (see `main`), runs this
            // scenario again, and is refused its spawn.
            // SAFETY: one thread runs here.
            unsafe { std::env::set_var("SKIP_FREEZE_SUPPORT", "1") };
            let mut p = get_context(StartMethod::Spawn).process(exit_with, 0);
            let e = p.start().unwrap_err();
            println!("{e}");
            if std::env::args().nth(1).as_deref() == Some("--multiprocessing-fork") {
                return Err(e); // the child: exit code 1
            }
        }
        "never_called" => {
            // This whole run skips `freeze_support` (see `main`).
            let mut p = get_context(StartMethod::Spawn).process(exit_with, 0);
            println!("{}", p.start().unwrap_err());
            // No child was ever made: none to reap, none running.
            assert!(shared::active_children().is_empty());
            let none = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG));
            assert_eq!(none, Err(nix::errno::Errno::ECHILD));
            println!("nothing was started");
        }
        "main_exit" => {
            shared::log_to_stderr(LevelFilter::Debug);
            let started = shared::Event::new()?;
            let spawn = get_context(StartMethod::Spawn);
            let mut sleepy = spawn
                .process(announce_then_sleep, started.clone())
                .named("sleepy")
                .daemon(true);
            let mut busy = spawn.process(nap_then_say, ()).named("busy");
            sleepy.start()?;
            busy.start()?;
            assert!(started.wait_timeout(LIMIT));
            // Return with both alive and never joined.
        }
        "killed_parent" => {
            let path = marker("daemon");
            let mut daemon = get_context(StartMethod::Spawn)
                .process(mark_then_sleep, path.clone())
                .daemon(true);
            daemon.start()?;
            wait_for_file(&path);
            let _ = std::fs::remove_file(&path);
            println!("daemon started");
            nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL)?;
        }
        other => panic!("no scenario {other}"),
    }
    Ok(())
}

fn main() {
    hold_the_pipe_and_exit();
    if std::env::var_os("SKIP_FREEZE_SUPPORT").is_none() {
        shared::freeze_support();
    }
    BEFORE.get_or_init(footprint);
    let checks = testkit::checks![
        states_and_repr,
        fork_right_after_spawn,
        exit_codes,
        names_daemons_and_parents,
        terminate_kill_and_join_timeout,
        spawned_children_see_a_fresh_start,
        spawn_works_beside_eight_threads,
        misuse_is_an_error,
        sentinels_say_which_spawned_child_ended,
        active_children_lists_the_live_spawned_ones,
        a_spawned_child_starts_children_of_its_own,
        a_spawned_child_can_wait_for_its_parent,
        many_spawned_processes,
        a_pool_of_spawned_workers,
        queues_pipes_events_and_locks_reach_a_spawned_child,
        a_pools_initializer_takes_locks_and_values,
        the_default_method_and_its_logging,
        a_program_without_freeze_support_is_refused_at_start,
        a_forgotten_freeze_support_is_an_error,
        main_exit_terminates_spawned_daemons_and_joins_the_rest,
        daemons_die_with_a_killed_parent,
        a_spawned_childs_grandchildren_and_its_locks,
        a_spawned_child_starts_with_an_empty_signal_mask,
        a_child_reports_the_method_that_started_it,
        spawn_at_the_descriptor_limit_is_emfile,
        the_marker_alone_is_refused,
        start_returns_when_the_child_ends_without_a_word,
        nothing_left_behind,
        no_fd_or_temporary_file_left,
    ];
    testkit::test_main(checks, run_scenario);
}
