//! Faults a careful user meets sooner or later: a receiver killed in the
//! middle of a big message, file descriptors running out, and a `poll` in
//! one process on an end another process also reads.
//!
//! `harness = false`, and every check re-runs this executable as a
//! scenario (`FAULT_SCENARIO=<name>`) under a time limit: if a bug comes
//! back and something hangs, the check fails instead of stalling the suite.
//! Inside, a promise of an answer "at once" (a send to a peer known to be
//! dead) is measured against 2 s; one whose span includes writing 100 MiB
//! or forking is bounded by the scenario's limit, not by the machine's speed.

use std::fs::File;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_bytes::ByteBuf;
use shared::pool::Pool;
use shared::{Error, Event, Process, Queue, pipe};
use testkit::{assert_clean, scenario};

/// How long a scenario may take before it counts as hung.
const LIMIT: Duration = Duration::from_secs(60);

/// How soon the other side must hear of a dead peer.
const PROMPT: Duration = Duration::from_secs(2);
const MIB: usize = 1 << 20;
/// How long a pool task here naps.
const TASK_TIME: Duration = Duration::from_millis(500);

/// Takes its time after the argument has arrived, so that a kill at any
/// of [`DELAYS_MS`] lands before it answers.
fn slow_len(bytes: ByteBuf) -> usize {
    if let Some(started) = TASK_STARTED.get() {
        started.set();
    }
    std::thread::sleep(TASK_TIME);
    bytes.len()
}

fn doubler(n: u64) -> u64 {
    n * 2
}

/// A daemon that SIGKILLs `pid` after `delay` (SIGSTOPs it first if asked),
/// so the kill lands while this process is busy sending.
fn killer(pid: u32, delay: Duration, stop_first: bool) -> Process {
    let pid = Pid::from_raw(pid as i32);
    if stop_first {
        kill(pid, Signal::SIGSTOP).expect("stop the receiver");
    }
    let mut k = Process::new(move || {
        std::thread::sleep(delay);
        let _ = kill(pid, Signal::SIGKILL); // it may have finished already
    })
    .daemon(true);
    k.start().expect("start the killer");
    k
}

/// The kill delays tried: before the send, early in it, later in it.
const DELAYS_MS: [u64; 3] = [0, 5, 40];

/// Start a child that runs `target`, and return once it is running.
fn start_ready(target: impl FnOnce() -> Result<(), Error> + 'static) -> Result<Process, Error> {
    let ready = Event::new()?;
    let child_ready = ready.clone();
    let mut child = Process::new(move || {
        child_ready.set();
        target()
    });
    child.start()?;
    assert!(ready.wait_timeout(PROMPT * 10), "the child never started");
    Ok(child)
}

fn pipe_receiver_killed(size: usize, stop_first: bool) -> Result<(), Error> {
    for delay in DELAYS_MS {
        let (ours, theirs) = pipe(true)?;
        let receiver = start_ready(move || theirs.recv_bytes().map(drop))?;
        let k = killer(
            receiver.pid().unwrap_or(0),
            Duration::from_millis(delay),
            stop_first,
        );
        // Whenever the kill lands, the big send ends (a hang would run the
        // scenario over its limit): sent, or BrokenPipe.
        let first = ours.send_bytes(&vec![7u8; size]);
        receiver.join()?;
        k.join()?;
        // Now the only receiver is gone: the next send must say so at once.
        let started = Instant::now();
        let second = ours.send_bytes(b"x");
        let took = started.elapsed();
        assert!(took < PROMPT, "{size} bytes, kill at {delay} ms: {took:?}");
        assert!(first.is_ok() || is_broken_pipe(&first), "{first:?}");
        assert!(is_broken_pipe(&second), "{second:?}");
    }
    println!("pipe {} MiB stop={stop_first}: ok", size / MIB);
    Ok(())
}

fn is_broken_pipe(result: &Result<(), Error>) -> bool {
    matches!(result, Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe)
}

fn queue_consumer_killed(size: usize, stop_first: bool) -> Result<(), Error> {
    for delay in DELAYS_MS {
        let q: Queue<ByteBuf> = Queue::new()?;
        let child_q = q.clone();
        let consumer = start_ready(move || child_q.get().map(drop))?;
        let k = killer(
            consumer.pid().unwrap_or(0),
            Duration::from_millis(delay),
            stop_first,
        );
        // Whenever the kill lands, the put returns (a hang would run the
        // scenario over its limit): it never waits for a reader.
        q.put(ByteBuf::from(vec![7u8; size]))?;
        consumer.join()?;
        k.join()?;
        // Whatever the dead consumer took or left, the next item is whole.
        let _ = q.get_timeout(Duration::ZERO);
        q.put(ByteBuf::from(vec![1, 2, 3]))?;
        assert_eq!(q.get_timeout(PROMPT)?.as_slice(), [1, 2, 3]);
    }
    println!("queue {} MiB stop={stop_first}: ok", size / MIB);
    Ok(())
}

fn pool_worker_killed(size: usize, stop_first: bool) -> Result<(), Error> {
    let pool = Pool::new(1)?;
    // Killed before the task reached it, the worker is replaced and the task
    // runs in the new one; killed after, the task is lost. The last round
    // waits for the task to start, so the second case is always tried.
    let when = DELAYS_MS.map(|ms| Some(Duration::from_millis(ms)));
    for (round, delay) in when.into_iter().chain([None]).enumerate() {
        let worker = pool.pids()[0];
        let k = match delay {
            Some(delay) => killer(worker, delay, stop_first),
            None => killer_once_started(worker),
        };
        // Whenever the kill lands, `get` answers (a hang would run the
        // scenario over its limit): the value, or WorkerLost.
        let result = pool.apply_async(slow_len, (ByteBuf::from(vec![7u8; size]),))?;
        let got = result.get();
        k.join()?;
        match got {
            Ok(len) if delay.is_some() => assert_eq!(len, size),
            Err(Error::WorkerLost(_)) => {}
            other => panic!("round {round}: {other:?}"),
        }
        assert_eq!(pool.apply(doubler, (21,))?, 42);
        assert!(
            !pool.pids().contains(&worker),
            "the dead worker was not replaced"
        );
    }
    println!("pool {} MiB stop={stop_first}: ok", size / MIB);
    Ok(())
}

/// Set by [`slow_len`] in the worker once it has its argument; made before
/// the pool, so the workers share it.
static TASK_STARTED: OnceLock<Event> = OnceLock::new();

/// A daemon that SIGKILLs `pid` once a [`slow_len`] task has started.
fn killer_once_started(pid: u32) -> Process {
    let started = TASK_STARTED.get().expect("made first").clone();
    started.clear();
    let mut k = Process::new(move || {
        assert!(started.wait_timeout(PROMPT * 10), "the task never started");
        kill(Pid::from_raw(pid as i32), Signal::SIGKILL)
    })
    .daemon(true);
    k.start().expect("start the killer");
    k
}

/// Take every free descriptor, check that IPC says EMFILE (an `Err`, not a
/// panic), give them back, and check that everything works again.
fn fd_exhaustion() -> Result<(), Error> {
    let limit = libc::rlimit {
        rlim_cur: 128,
        rlim_max: 128,
    };
    // SAFETY: setrlimit only reads the struct we pass.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    let (a, b) = pipe(true)?; // made while descriptors were free
    // A bounded queue holding a big item: its memory file needs a descriptor
    // to be received.
    let full = Queue::<ByteBuf>::with_maxsize(1)?;
    full.put(ByteBuf::from(vec![7u8; MIB]))?;
    let mut hoard = Vec::new();
    while let Ok(f) = File::open("/dev/null") {
        hoard.push(f);
    }
    let emfile = |e: &Error| e.errno() == Some(nix::errno::Errno::EMFILE);
    match pipe(true) {
        Err(e) => assert!(emfile(&e), "pipe: {e}"),
        Ok(_) => panic!("a pipe with no descriptor free"),
    }
    match Queue::<u32>::new() {
        Err(e) => assert!(emfile(&e), "queue: {e}"),
        Ok(_) => panic!("a queue with no descriptor free"),
    }
    match a.send_bytes(&vec![1u8; 4 * MIB]) {
        Err(e) => assert!(emfile(&e), "big send: {e}"),
        Ok(()) => panic!("a big send needs a descriptor"),
    }
    a.send(&"small")?; // a small message needs none
    assert_eq!(b.recv::<String>()?, "small");
    match full.get() {
        Err(e) => assert!(emfile(&e), "big get: {e}"),
        Ok(_) => panic!("a big get needs a descriptor"),
    }
    // The item is lost, and counted gone: the queue has room again.
    assert_eq!(full.qsize(), 0);
    full.put_nowait(ByteBuf::from(vec![8u8]))?;
    assert_eq!(full.get()?.as_slice(), [8]);
    println!("exhausted: Err(EMFILE), small messages still go");

    drop(hoard);
    let big = vec![9u8; 4 * MIB];
    a.send_bytes(&big)?;
    assert_eq!(b.recv_bytes()?, big);
    let q = Queue::<u32>::new()?;
    q.put(5)?;
    assert_eq!(q.get()?, 5);
    let pool = Pool::new(2)?;
    assert_eq!(pool.map(doubler, 0..4)?, [0, 2, 4, 6]);
    println!("freed: pipes, queues and pools work again");
    Ok(())
}

/// Fork refused by the kernel (the user's process limit reached): `start`
/// and `Pool::new` return the `Err` (EAGAIN) instead of panicking, a pool
/// half started takes its workers with it, and all works again once the
/// limit allows.
fn process_exhaustion() -> Result<(), Error> {
    // Root is exempt from RLIMIT_NPROC: become an ordinary user (nobody).
    // SAFETY: getuid, setgid and setuid take and return plain numbers.
    let root = unsafe { libc::getuid() } == 0;
    if root {
        // SAFETY: as above; this scenario process has one thread.
        assert_eq!(unsafe { libc::setgid(65534) }, 0, "setgid");
        // SAFETY: as above.
        assert_eq!(unsafe { libc::setuid(65534) }, 0, "setuid");
    }
    let mut was = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct we pass, and only that.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NPROC, &mut was) }, 0);
    let limit = |n: libc::rlim_t| {
        // The soft limit only: an ordinary user may raise it up to the hard one.
        let limit = libc::rlimit {
            rlim_cur: n.min(was.rlim_max),
            rlim_max: was.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct we pass.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NPROC, &limit) }, 0);
    };
    let eagain = |e: &Error| e.errno() == Some(nix::errno::Errno::EAGAIN);
    limit(1); // this process alone
    match Process::new(|| ()).start() {
        Err(e) => assert!(eagain(&e), "start: {e}"),
        Ok(()) => panic!("a fork past the limit"),
    }
    limit(2); // room for one worker, not two
    match Pool::new(2) {
        Err(e) => assert!(eagain(&e), "pool: {e}"),
        Ok(_) => panic!("a pool past the limit"),
    }
    assert!(
        shared::active_children().is_empty(),
        "the half-started pool left a worker"
    );
    println!("exhausted: Err(EAGAIN), nothing left behind");

    limit(4096);
    let mut p = Process::new(|| ());
    p.start()?;
    p.join()?;
    let pool = Pool::new(2)?;
    assert_eq!(pool.map(doubler, 0..4)?, [0, 2, 4, 6]);
    println!("limit raised: processes and pools start again");
    Ok(())
}

/// A child that polls a shared pipe end, then exits, leaves the message
/// for whoever reads next.
fn poll_consumes_nothing() -> Result<(), Error> {
    let (a, b) = pipe(true)?;
    a.send(&"hello")?;
    let child_b = b.try_clone()?;
    let mut child = Process::new(move || {
        assert!(child_b.poll(PROMPT).expect("poll"));
    });
    child.start()?;
    child.join()?;
    assert_eq!(child.exitcode(), Some(0));
    assert!(b.poll(PROMPT)?, "the child's poll took the message");
    assert_eq!(b.recv::<String>()?, "hello");
    println!("poll: nothing consumed");
    Ok(())
}

/// `Duration::MAX` (or any timeout too big to add to the clock) means
/// "for ever", everywhere, not a panic: each of these returns as soon as
/// what it waits for is there.
fn huge_timeouts() -> Result<(), Error> {
    let mut p = Process::new(|| ());
    p.start()?;
    p.join_timeout(Duration::MAX)?;
    assert_eq!(p.exitcode(), Some(0));
    let q: Queue<u32> = Queue::new()?;
    q.put_timeout(7, Duration::MAX)?;
    assert_eq!(q.get_timeout(Duration::MAX)?, 7);
    let e = Event::new()?;
    e.set();
    assert!(e.wait_timeout(Duration::MAX));
    let (a, b) = pipe(true)?;
    a.send(&1u8)?;
    assert!(b.poll(Duration::MAX)?);
    let pool = Pool::new(1)?;
    assert_eq!(
        pool.apply_async(doubler, (4,))?
            .get_timeout(Duration::MAX)?,
        8
    );
    println!("huge timeouts: ok");
    Ok(())
}

fn run_scenario(name: &str) -> Result<(), Error> {
    match name {
        "pipe" => [false, true].into_iter().try_for_each(|stop| {
            pipe_receiver_killed(10 * MIB, stop)?;
            pipe_receiver_killed(100 * MIB, stop)
        }),
        "queue" => [false, true].into_iter().try_for_each(|stop| {
            queue_consumer_killed(10 * MIB, stop)?;
            queue_consumer_killed(100 * MIB, stop)
        }),
        "pool" => [false, true].into_iter().try_for_each(|stop| {
            TASK_STARTED.get_or_init(|| Event::new().expect("an event"));
            pool_worker_killed(10 * MIB, stop)?;
            pool_worker_killed(100 * MIB, stop)
        }),
        "fd_exhaustion" => fd_exhaustion(),
        "process_exhaustion" => process_exhaustion(),
        "poll" => poll_consumes_nothing(),
        "huge_timeouts" => huge_timeouts(),
        other => panic!("unknown scenario {other}"),
    }
}

/// Scenario `name` exits cleanly, reporting its four kills (two sizes,
/// with and without SIGSTOP first).
fn four_kills_reported(name: &str) {
    let run = scenario(name, LIMIT);
    assert_clean(&run);
    assert_eq!(run.lines().len(), 4, "{run:?}");
}

fn receiver_killed_mid_message_pipe() {
    four_kills_reported("pipe");
}

fn receiver_killed_mid_message_queue() {
    four_kills_reported("queue");
}

fn worker_killed_mid_message_pool() {
    four_kills_reported("pool");
}

fn process_exhaustion_is_an_error_then_heals() {
    let run = scenario("process_exhaustion", LIMIT);
    assert_clean(&run);
    assert!(run.output.contains("exhausted: Err(EAGAIN)"), "{run:?}");
    assert!(run.output.contains("start again"), "{run:?}");
}

fn fd_exhaustion_is_an_error_then_heals() {
    let run = scenario("fd_exhaustion", LIMIT);
    assert_clean(&run);
    assert!(run.output.contains("freed: pipes, queues"), "{run:?}");
}

fn poll_on_a_shared_end_consumes_nothing() {
    let run = scenario("poll", LIMIT);
    assert_clean(&run);
    assert_eq!(run.output, "poll: nothing consumed\n");
}

fn huge_timeouts_mean_for_ever() {
    let run = scenario("huge_timeouts", LIMIT);
    assert_clean(&run);
    assert_eq!(run.output, "huge timeouts: ok\n");
}

fn main() {
    testkit::test_main(
        testkit::checks![
            receiver_killed_mid_message_pipe,
            receiver_killed_mid_message_queue,
            worker_killed_mid_message_pool,
            fd_exhaustion_is_an_error_then_heals,
            process_exhaustion_is_an_error_then_heals,
            poll_on_a_shared_end_consumes_nothing,
            huge_timeouts_mean_for_ever,
        ],
        run_scenario,
    );
}
