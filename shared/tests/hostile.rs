//! Faults a careful user or a hostile peer brings on, beyond `faults.rs`:
//! sends that must not block past their time, a pool that one failure must
//! not break for good, resource limits that must not kill, and packets
//! that must not be taken on trust.
//!
//! `harness = false`, and every check re-runs this executable as a
//! scenario (`FAULT_SCENARIO=<name>`) under a time limit, so a bug that
//! comes back as a hang fails the check instead of stalling the suite.
//! Where a promise is "returns within its time", the bound is on that
//! call alone, never on work around it.

use std::fs::File;
use std::io::IoSlice;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::{SigHandler, Signal, kill, signal};
use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
use nix::unistd::Pid;
use serde_bytes::ByteBuf;
use shared::pool::Pool;
use shared::{Error, Process, Queue, pipe};
use testkit::{assert_clean, scenario};

/// How long a scenario may take before it counts as hung.
const LIMIT: Duration = Duration::from_secs(60);
/// How long a call whose answer is due at once may take on a loaded machine.
const PROMPT: Duration = Duration::from_secs(2);
const MIB: usize = 1 << 20;

fn doubler(n: u64) -> u64 {
    n * 2
}

fn len(bytes: ByteBuf) -> usize {
    bytes.len()
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// Wait until `pid`, killed, is a zombie: dead, its descriptors closed,
/// not yet reaped by its parent (us).
fn wait_zombie(pid: u32) {
    let started = Instant::now();
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The state follows the name, which is in parentheses.
        if stat
            .rsplit(')')
            .next()
            .is_some_and(|s| s.trim_start().starts_with('Z'))
        {
            return;
        }
        assert!(started.elapsed() < PROMPT * 5, "{pid} never died: {stat}");
        std::thread::yield_now();
    }
}

/// How many descriptors this process has open.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

// ------------------------------------------------- sends that must not block

/// With nobody reading, `put_nowait` fills the socket, then says `Full` at
/// once (nothing sent, its place given back); `put_timeout` says `Full`
/// after its time; and every item put is there, whole, for a consumer.
fn puts_never_outstay() -> Result<(), Error> {
    for maxsize in [0, 100_000] {
        let q: Queue<u32> = Queue::with_maxsize(maxsize)?;
        let mut put = 0;
        loop {
            let started = Instant::now();
            let got = q.put_nowait(put);
            assert!(started.elapsed() < PROMPT, "put_nowait blocked");
            match got {
                Ok(()) => put += 1,
                Err(Error::Full) => break,
                Err(e) => return Err(e),
            }
            assert!(put < 1_000_000, "the socket never filled");
        }
        assert_eq!(q.qsize(), put as usize, "a refused put kept its place");
        let timeout = Duration::from_millis(50);
        let started = Instant::now();
        assert!(matches!(q.put_timeout(put, timeout), Err(Error::Full)));
        let took = started.elapsed();
        assert!(took >= timeout && took < timeout + PROMPT, "{took:?}");
        assert_eq!(q.qsize(), put as usize);
        // A consumer takes them all, in order; then there is room again.
        let consumer_q = q.clone();
        let mut consumer = Process::new(move || -> Result<(), Error> {
            for n in 0..put {
                assert_eq!(consumer_q.get()?, n);
            }
            Ok(())
        });
        consumer.start()?;
        consumer.join()?;
        assert_eq!(consumer.exitcode(), Some(0));
        assert!(matches!(q.get_nowait(), Err(Error::Empty)));
        assert_eq!(q.qsize(), 0);
        q.put_nowait(7)?;
        assert_eq!(q.get()?, 7);
        println!("maxsize {maxsize}: Full at once after {put} items, none lost");
    }
    Ok(())
}

/// Producers SIGKILLed at random points of `put` (blocked for room in the
/// socket, mid-way through writing a big item, or in between) leave the
/// count right: once what they sent is drained, `qsize` is 0 again, and a
/// bounded queue has all its room.
fn producers_killed_mid_put() -> Result<(), Error> {
    const MAXSIZE: usize = 60;
    let q: Queue<ByteBuf> = Queue::with_maxsize(MAXSIZE)?;
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64 ^ u64::from(std::process::id());
    let mut random = move |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    let mut drained = 0;
    for round in 0..20 {
        let mut producers = Vec::new();
        for i in 0..10 {
            let producer_q = q.clone();
            // Small items, and big ones that go through a memory file.
            let size = if i % 3 == 0 { 2 * MIB } else { 3000 };
            let mut p = Process::new(move || -> Result<(), Error> {
                loop {
                    producer_q.put(ByteBuf::from(vec![7u8; size]))?;
                }
            })
            .daemon(true);
            p.start()?;
            producers.push(p);
        }
        for p in &producers {
            std::thread::sleep(Duration::from_micros(random(3000)));
            p.kill()?;
        }
        producers.iter().try_for_each(Process::join)?;
        // Take what they sent; every item is whole.
        while let Ok(item) = q.get_nowait() {
            assert!(item.iter().all(|&b| b == 7), "a torn item");
            drained += 1;
        }
        assert!(
            q.qsize() <= 2,
            "round {round}: qsize {} when drained",
            q.qsize()
        );
    }
    assert!(drained > 0, "the producers never put anything");
    // A producer killed between taking its place and sending holds it for
    // good (a window of a few instructions): at most a couple in 200.
    let lost = q.qsize();
    assert!(lost <= 2, "{lost} places lost");
    let fitted = (0..=MAXSIZE)
        .take_while(|_| q.put_nowait(ByteBuf::from(vec![1u8])).is_ok())
        .count();
    assert_eq!(fitted + lost, MAXSIZE, "the bounded queue lost room");
    println!("200 producers killed mid-put: count right, room kept");
    Ok(())
}

// ------------------------------------------- a pool that one failure breaks

/// A task whose batch cannot be sent (no descriptor free for its memory
/// file; past the file-size limit) fails with that error, and the worker
/// is free for the next call, which works once the resource is back.
fn failed_send_frees_the_worker() -> Result<(), Error> {
    let pool = Pool::new(1)?;
    let arg = || (ByteBuf::from(vec![7u8; MIB]),);
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    setrlimit(Resource::RLIMIT_NOFILE, 256, hard)?;
    let mut hoard = Vec::new();
    while let Ok(f) = File::open("/dev/null") {
        hoard.push(f);
    }
    let result = pool.apply_async(len, arg())?;
    match result.get_timeout(PROMPT) {
        Err(e) => assert_eq!(e.errno(), Some(Errno::EMFILE), "{e}"),
        Ok(n) => panic!("sent with no descriptor free: {n}"),
    }
    drop(hoard);
    setrlimit(Resource::RLIMIT_NOFILE, soft, hard)?;
    assert_eq!(pool.apply(len, arg())?, MIB);
    println!("EMFILE: the task failed, the worker is free");

    // SIGXFSZ ignored, as the issue found it; with its default action a
    // write past the limit would kill this process instead.
    // SAFETY: SIG_IGN runs no code of ours.
    unsafe { signal(Signal::SIGXFSZ, SigHandler::SigIgn) }?;
    let (soft, hard) = getrlimit(Resource::RLIMIT_FSIZE)?;
    setrlimit(Resource::RLIMIT_FSIZE, 512 * 1024, hard)?;
    match pool.apply(len, arg()) {
        Err(e) => assert_eq!(e.errno(), Some(Errno::EFBIG), "{e}"),
        Ok(n) => panic!("sent past the file-size limit: {n}"),
    }
    setrlimit(Resource::RLIMIT_FSIZE, soft, hard)?;
    assert_eq!(pool.apply(len, arg())?, MIB);
    assert_eq!(pool.map(doubler, 0..4)?, [0, 2, 4, 6]);
    println!("EFBIG: the task failed, the worker is free");
    Ok(())
}

/// A big answer for 1 (it travels in a memory file); for 2, after a nap,
/// a small one; otherwise a small one at once.
fn answer_of(n: u8) -> ByteBuf {
    match n {
        1 => ByteBuf::from(vec![1u8; 100 * 1024]),
        2 => {
            std::thread::sleep(Duration::from_millis(300));
            ByteBuf::from(vec![2])
        }
        n => ByteBuf::from(vec![n]),
    }
}

/// Another function's small answer: `n + 100`.
fn other_answer(n: u8) -> ByteBuf {
    ByteBuf::from(vec![n + 100])
}

/// An answer the parent cannot read (no descriptor free for its memory
/// file) fails its call; the worker, which goes on answering the rest of
/// its batch, is killed, so no later answer lands on another call: every
/// call gets its own value or an error, never another's, and the pool
/// works once descriptors are free.
fn unreadable_answer_goes_to_no_other_call() -> Result<(), Error> {
    let pool = Pool::new(1)?;
    // Batches of several calls, learned from quick ones.
    let warm: Vec<_> = (0..3000)
        .map(|_| pool.apply_async(answer_of, (5,)))
        .collect::<Result<_, _>>()?;
    for call in &warm {
        call.get()?;
    }
    let busy = pool.apply_async(nap, (300,))?;
    let big = pool.apply_async(answer_of, (1,))?; // unreadable: no descriptor free
    let after = pool.apply_async(answer_of, (2,))?; // in the same batch
    let others = [
        pool.apply_async(other_answer, (7,))?,
        pool.apply_async(other_answer, (8,))?,
    ];
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    setrlimit(Resource::RLIMIT_NOFILE, 256, hard)?;
    let mut hoard = Vec::new();
    while let Ok(f) = File::open("/dev/null") {
        hoard.push(f);
    }
    assert_eq!(busy.get_timeout(LIMIT)?, 300);
    match big.get_timeout(LIMIT) {
        Err(e) => assert_eq!(e.errno(), Some(Errno::EMFILE), "{e}"),
        Ok(bytes) => panic!("read with no descriptor free: {} bytes", bytes.len()),
    }
    let first_other = others[0].get_timeout(PROMPT);
    drop(hoard);
    setrlimit(Resource::RLIMIT_NOFILE, soft, hard)?;
    // Its own value, or an error: never another call's.
    if let Ok(bytes) = after.get_timeout(LIMIT) {
        assert_eq!(bytes.into_vec(), [2]);
    }
    for (call, want) in [first_other, others[1].get_timeout(LIMIT)]
        .into_iter()
        .zip([107, 108])
    {
        if let Ok(bytes) = call {
            assert_eq!(bytes.into_vec(), [want]);
        }
    }
    assert_eq!(pool.apply(other_answer, (9,))?.into_vec(), [109]);
    assert_eq!(pool.map(doubler, 0..4)?, [0, 2, 4, 6]);
    println!("an unreadable answer: its call failed, no other got a wrong value");
    Ok(())
}

/// A call whose chunks all fail before they can be sent (its input panics)
/// leaves the worker it was meant for free: the call behind it goes to
/// that worker, and does not wait for ever on a pool with nothing under way.
fn empty_batch_leaves_no_call_waiting() -> Result<(), Error> {
    std::panic::set_hook(Box::new(|_| {})); // the input's panic is the point
    let pool = Pool::new(1)?;
    let busy = pool.apply_async(nap, (300,))?;
    let input = (0..2u64).map(|n| if n == 0 { panic!("the input fails") } else { n });
    let failing = pool.imap(doubler, input)?;
    let after = pool.apply_async(doubler, (21,))?;
    assert_eq!(after.get_timeout(LIMIT)?, 42);
    assert_eq!(busy.get()?, 300);
    let failed = failing.into_iter().next().expect("an outcome");
    assert!(matches!(failed, Err(Error::Input(_))), "{failed:?}");
    println!("an empty batch: the call behind it ran");
    Ok(())
}

/// A worker killed mid-task while SIGCHLD is ignored (the kernel reaps it,
/// and its exit status is lost): its task still fails, once and for all,
/// and the pool runs on.
fn worker_killed_with_sigchld_ignored() -> Result<(), Error> {
    let pool = Pool::new(1)?;
    // SAFETY: SIG_IGN runs no code of ours.
    unsafe { signal(Signal::SIGCHLD, SigHandler::SigIgn) }?;
    let call = pool.apply_async(nap, (60_000,))?;
    kill(Pid::from_raw(pool.pids()[0] as i32), Signal::SIGKILL)?;
    let first = call.get_timeout(LIMIT).expect_err("its worker was killed");
    let again = call.get_timeout(PROMPT).expect_err("settled: the same end");
    assert!(
        matches!(again, Error::WorkerLost(_)),
        "{first}; then {again}"
    );
    assert_eq!(pool.apply(doubler, (21,))?, 42);
    println!("SIGCHLD ignored: the task failed, the pool runs on");
    Ok(())
}

/// A value that never encodes (its `Serialize` always fails).
struct Unencodable;

impl serde::Serialize for Unencodable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("this value never encodes"))
    }
}

impl<'de> serde::Deserialize<'de> for Unencodable {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <()>::deserialize(d).map(|()| Unencodable)
    }
}

fn takes(_: Unencodable) -> u32 {
    0
}

/// An endless input whose every item fails to encode: `imap` returns, having
/// cut a bounded part of it (a batch's worth a worker), and its first
/// result is the encoding error.
fn unencodable_input_is_cut_a_batch_at_a_time() -> Result<(), Error> {
    let pool = Pool::new(2)?;
    let cut = std::rc::Rc::new(std::cell::Cell::new(0usize));
    let counted = cut.clone();
    let input = std::iter::repeat_with(move || {
        counted.set(counted.get() + 1);
        Unencodable
    });
    let mut results = pool.imap(takes, input)?;
    assert!(cut.get() < 10_000, "{} items cut inside imap", cut.get());
    let first = results.next().expect("an outcome");
    assert!(first.is_err(), "{first:?}");
    println!("an endless unencodable input: imap returned, its first result an error");
    Ok(())
}

/// A worker killed while idle never received the next task: the task goes
/// to its replacement and runs, and never fails with `WorkerLost`.
fn idle_worker_killed() -> Result<(), Error> {
    let pool = Pool::new(1)?;
    for round in 0..5 {
        let worker = pool.pids()[0];
        kill(Pid::from_raw(worker as i32), Signal::SIGKILL)?;
        wait_zombie(worker);
        match pool.apply(doubler, (21,)) {
            Ok(n) => assert_eq!(n, 42),
            Err(e) => panic!("round {round}: a task that never ran failed: {e}"),
        }
        assert!(!pool.pids().contains(&worker));
    }
    println!("idle worker killed: the task ran in its replacement");
    Ok(())
}

/// Every worker killed while no replacement can be forked (the process
/// limit reached): calls fail with the fork's error (EAGAIN), not "Pool not
/// running"; once the limit allows, the pool is back to its size and works.
fn pool_cannot_refork() -> Result<(), Error> {
    // Root is exempt from RLIMIT_NPROC: become an ordinary user (nobody).
    // SAFETY: getuid, setgid and setuid take and return plain numbers; this
    // scenario process has one thread.
    if unsafe { libc::getuid() } == 0 {
        // SAFETY: as above.
        assert_eq!(unsafe { libc::setgid(65534) }, 0, "setgid");
        // SAFETY: as above.
        assert_eq!(unsafe { libc::setuid(65534) }, 0, "setuid");
    }
    let (_, hard) = getrlimit(Resource::RLIMIT_NPROC)?;
    let pool = Pool::new(2)?;
    setrlimit(Resource::RLIMIT_NPROC, 1, hard)?; // this process alone
    for worker in pool.pids() {
        kill(Pid::from_raw(worker as i32), Signal::SIGKILL)?;
        wait_zombie(worker);
    }
    for _ in 0..3 {
        match pool.apply(doubler, (1,)) {
            Err(e) => assert_eq!(e.errno(), Some(Errno::EAGAIN), "{e}"),
            Ok(n) => panic!("ran with no worker: {n}"),
        }
    }
    match pool.map(doubler, 0..100) {
        Err(e) => assert_eq!(e.errno(), Some(Errno::EAGAIN), "{e}"),
        Ok(v) => panic!("ran with no worker: {v:?}"),
    }
    assert_eq!(pool.pids(), [] as [u32; 0]);
    println!("no fork: calls fail with EAGAIN");
    setrlimit(Resource::RLIMIT_NPROC, hard.min(4096), hard)?;
    assert_eq!(pool.apply(doubler, (21,))?, 42);
    assert_eq!(pool.pids().len(), 2, "the pool is not back to its size");
    assert_eq!(pool.map(doubler, 0..4)?, [0, 2, 4, 6]);
    println!("limit raised: two workers again, calls work");
    Ok(())
}

/// Leaves as a program's own SIGTERM handler might, tidying up first.
extern "C" fn leave_on_sigterm(_: libc::c_int) {
    // SAFETY: `_exit` is async-signal-safe.
    unsafe { libc::_exit(143) }
}

/// `terminate` of a pool whose workers are stopped (SIGSTOP) and handle
/// SIGTERM (a handler the program set before making the pool; the kernel
/// runs it only once they are continued) returns after its grace, having
/// SIGKILLed them.
fn terminate_stopped_workers() -> Result<(), Error> {
    // SAFETY: the handler only calls `_exit`, which is async-signal-safe.
    unsafe { signal(Signal::SIGTERM, SigHandler::Handler(leave_on_sigterm)) }?;
    let pool = Pool::new(2)?;
    let busy = pool.apply_async(nap, (10_000,))?; // one worker mid-task
    let workers = pool.pids();
    for &worker in &workers {
        kill(Pid::from_raw(worker as i32), Signal::SIGSTOP)?;
    }
    let started = Instant::now();
    pool.terminate()?;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1) + PROMPT, "{took:?}");
    for worker in workers {
        // Reaped: the pid is gone (or, rarely, somebody else's by now).
        let gone = kill(Pid::from_raw(worker as i32), None).is_err();
        let ours = std::fs::read_to_string(format!("/proc/{worker}/status"))
            .is_ok_and(|s| s.contains(&format!("PPid:\t{}", std::process::id())));
        assert!(gone || !ours, "worker {worker} is still there");
    }
    assert!(matches!(busy.get(), Err(Error::PoolNotRunning)));
    println!("stopped workers: terminate returned, SIGKILLed them");
    Ok(())
}

// ----------------------------------------------------- limits that must not kill

/// Under a file-size limit (`ulimit -f`), with SIGXFSZ at its default
/// action (which kills), a big send is an `EFBIG` error, not a death; a
/// small one still goes.
fn file_size_limit_is_an_error() -> Result<(), Error> {
    let (ours, theirs) = pipe(true)?;
    let mut child = Process::new(move || -> Result<(), Error> {
        let (_, hard) = getrlimit(Resource::RLIMIT_FSIZE)?;
        setrlimit(Resource::RLIMIT_FSIZE, MIB as u64, hard)?;
        match theirs.send_bytes(&vec![1u8; 4 * MIB]) {
            Err(e) => assert_eq!(e.errno(), Some(Errno::EFBIG), "{e}"),
            Ok(()) => panic!("a big send past the file-size limit went"),
        }
        theirs.send(&"still here")
    });
    child.start()?;
    assert_eq!(ours.recv::<String>()?, "still here");
    child.join()?;
    assert_eq!(child.exitcode(), Some(0), "killed by SIGXFSZ?");
    println!("file-size limit: EFBIG, the sender lives");
    Ok(())
}

// --------------------------------------------- packets not taken on trust

/// Send one raw packet on `fd`, with `fds` riding along.
fn raw_packet(fd: i32, bytes: &[u8], fds: &[i32]) {
    let rights = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage<'_>] = if fds.is_empty() { &[] } else { &rights };
    sendmsg::<()>(fd, &[IoSlice::new(bytes)], cmsgs, MsgFlags::empty(), None)
        .expect("a raw packet");
}

/// `recv` of a packet this crate did not frame is an `InvalidData` error,
/// never a wrong message; it leaks no descriptor; and the next message,
/// ours, arrives whole.
fn packets_checked() -> Result<(), Error> {
    let (a, b) = pipe(true)?;
    let invalid = |got: Result<shared::Bytes, Error>| match got {
        Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "{e}"),
        other => panic!("a foreign packet accepted: {other:?}"),
    };
    // An inline packet longer than any message: it was cut.
    let mut long = vec![0u8; 100_000]; // 0: "the message follows"
    long[1..].fill(5);
    raw_packet(a.as_raw_fd(), &long, &[]);
    invalid(b.recv_bytes());
    // Packets carrying descriptors they should not, or too many.
    let before = open_fds();
    let null = [File::open("/dev/null")?, File::open("/dev/null")?];
    let two = [null[0].as_raw_fd(), null[1].as_raw_fd()];
    let mut memfd_head = vec![1u8]; // 1: "in a memory file", then its length
    memfd_head.extend(8u64.to_le_bytes());
    for i in 0..60 {
        match i % 3 {
            0 => raw_packet(a.as_raw_fd(), &[0, 1, 2], &two[..1]),
            1 => raw_packet(a.as_raw_fd(), &[0, 1, 2], &two),
            _ => raw_packet(a.as_raw_fd(), &memfd_head, &two),
        }
        invalid(b.recv_bytes());
    }
    drop(null);
    assert_eq!(open_fds(), before, "descriptors leaked");
    // Not a packet of ours at all.
    raw_packet(a.as_raw_fd(), &[9, 9], &[]);
    invalid(b.recv_bytes());
    // The connection is still good.
    a.send(&"ours")?;
    assert_eq!(b.recv::<String>()?, "ours");
    println!("foreign packets: refused, no descriptor leaked");

    // A message of another type, where the bytes tell: an Encoding error.
    a.send(&"hello")?;
    match b.recv::<u64>() {
        Err(e @ Error::Encoding(_)) => assert!(e.to_string().contains("left over"), "{e}"),
        other => panic!("\"hello\" received as a u64: {other:?}"),
    }
    a.send(&7u8)?;
    assert!(matches!(b.recv::<(u8, u8)>(), Err(Error::Encoding(_))));
    println!("wrong type: Encoding error");
    Ok(())
}

fn run_scenario(name: &str) -> Result<(), Error> {
    match name {
        "puts" => puts_never_outstay(),
        "producers_killed" => producers_killed_mid_put(),
        "failed_send" => failed_send_frees_the_worker(),
        "idle_worker" => idle_worker_killed(),
        "refork" => pool_cannot_refork(),
        "terminate_stopped" => terminate_stopped_workers(),
        "fsize" => file_size_limit_is_an_error(),
        "packets" => packets_checked(),
        "unreadable_answer" => unreadable_answer_goes_to_no_other_call(),
        "empty_batch" => empty_batch_leaves_no_call_waiting(),
        "sigchld_ignored" => worker_killed_with_sigchld_ignored(),
        "unencodable" => unencodable_input_is_cut_a_batch_at_a_time(),
        other => panic!("unknown scenario {other}"),
    }
}

/// Scenario `name` exits cleanly, having printed `lines` lines.
fn passes(name: &str, lines: usize) {
    let run = scenario(name, LIMIT);
    assert_clean(&run);
    assert_eq!(run.lines().len(), lines, "{run:?}");
}

fn put_nowait_and_put_timeout_never_outstay_their_time() {
    passes("puts", 2);
}

fn producers_killed_mid_put_leave_the_count_right() {
    passes("producers_killed", 1);
}

fn a_failed_send_fails_its_task_and_frees_the_worker() {
    passes("failed_send", 2);
}

fn a_task_for_a_dead_idle_worker_runs_in_its_replacement() {
    passes("idle_worker", 1);
}

fn a_pool_that_cannot_fork_fails_its_calls_then_heals() {
    passes("refork", 2);
}

fn terminate_kills_stopped_workers_after_a_grace() {
    passes("terminate_stopped", 1);
}

fn a_big_send_past_the_file_size_limit_is_an_error() {
    passes("fsize", 1);
}

fn foreign_packets_and_wrong_types_are_refused() {
    passes("packets", 2);
}

fn a_worker_killed_with_sigchld_ignored_fails_its_task() {
    passes("sigchld_ignored", 1);
}

fn an_unencodable_input_is_cut_a_batch_at_a_time() {
    passes("unencodable", 1);
}

fn a_call_behind_an_empty_batch_runs() {
    passes("empty_batch", 1);
}

fn an_unreadable_answer_fails_its_call_and_no_other() {
    passes("unreadable_answer", 1);
}

fn main() {
    testkit::test_main(
        testkit::checks![
            an_unreadable_answer_fails_its_call_and_no_other,
            a_call_behind_an_empty_batch_runs,
            an_unencodable_input_is_cut_a_batch_at_a_time,
            a_worker_killed_with_sigchld_ignored_fails_its_task,
            put_nowait_and_put_timeout_never_outstay_their_time,
            producers_killed_mid_put_leave_the_count_right,
            a_failed_send_fails_its_task_and_frees_the_worker,
            a_task_for_a_dead_idle_worker_runs_in_its_replacement,
            a_pool_that_cannot_fork_fails_its_calls_then_heals,
            terminate_kills_stopped_workers_after_a_grace,
            a_big_send_past_the_file_size_limit_is_an_error,
            foreign_packets_and_wrong_types_are_refused,
        ],
        run_scenario,
    );
}
