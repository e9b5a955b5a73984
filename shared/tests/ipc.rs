//! Queues, pipes and events between processes, checked from a program that
//! owns its only thread.
//!
//! `harness = false`: this file's `main` runs each check in turn on the main
//! thread, because forking from the test harness's worker threads is unsafe.
//! Every wait on another process is bounded, so a bug fails a check instead
//! of hanging the run.

use std::collections::HashSet;
use std::thread::sleep;
use std::time::Duration;

use serde_bytes::ByteBuf;
use shared::ipc::{Bytes, Event, JoinableQueue, Queue, SimpleQueue, pipe};
use shared::{Error, Process};

/// Long enough for any healthy child on a loaded machine; only a hang
/// gets near it.
const PATIENCE: Duration = Duration::from_secs(60);
const MIB: usize = 1 << 20;

/// Start a child running `target`: a daemon, so that a failed check
/// leaving it blocked does not keep this program from exiting.
fn start<R: shared::Outcome>(target: impl FnOnce() -> R + 'static) -> Process {
    let mut p = Process::new(target).daemon(true);
    p.start().expect("start a child");
    p
}

/// Wait (boundedly) for `p` and check it exited with `code`; a child still
/// running after [`PATIENCE`] is killed and fails the check.
fn finish_with(p: &Process, code: i32) {
    p.join_timeout(PATIENCE).expect("join");
    if p.is_alive() {
        let _ = p.kill();
        let _ = p.join();
        panic!("{p} hung");
    }
    assert_eq!(p.exitcode(), Some(code), "{p}");
}

fn finish(p: &Process) {
    finish_with(p, 0);
}

/// A megabyte that is not all one byte, so a shuffled or cut piece shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

// ---------------------------------------------------------------- Queue

fn queue_in_one_process() {
    let q: Queue<i32> = Queue::new().unwrap();
    assert!(q.empty().unwrap());
    assert!(!q.full(), "an unbounded queue is never full");
    for i in 1..=3 {
        q.put(i).unwrap();
    }
    assert_eq!(q.qsize(), 3);
    assert!(!q.empty().unwrap());
    assert_eq!(q.get().unwrap(), 1);
    assert_eq!(q.get_nowait().unwrap(), 2);
    assert_eq!(q.get_timeout(Duration::from_secs(1)).unwrap(), 3);
    assert!(q.empty().unwrap());
    assert!(matches!(q.get_nowait(), Err(Error::Empty)));
    assert!(matches!(
        q.get_timeout(Duration::from_millis(50)),
        Err(Error::Empty)
    ));
    assert_eq!(Error::Empty.to_string(), "queue is empty");
}

fn bounded_queue_is_full() {
    let q: Queue<String> = Queue::with_maxsize(2).unwrap();
    q.put("a".into()).unwrap();
    q.put_nowait("b".into()).unwrap();
    assert!(q.full());
    assert!(matches!(q.put_nowait("c".into()), Err(Error::Full)));
    assert!(matches!(
        q.put_timeout("c".into(), Duration::from_millis(50)),
        Err(Error::Full)
    ));
    assert_eq!(Error::Full.to_string(), "queue is full");
    assert_eq!(q.get().unwrap(), "a");
    q.put_nowait("c".into()).unwrap(); // room again
    assert_eq!(q.get().unwrap(), "b");
    assert_eq!(q.get().unwrap(), "c");
}

fn full_queue_put_waits_for_a_get_in_another_process() {
    let q: Queue<u32> = Queue::with_maxsize(1).unwrap();
    let child_q = q.clone();
    // The child's second put waits until the parent's get makes room.
    let p = start(move || (0..20).try_for_each(|i| child_q.put(i)));
    let got: Vec<u32> = (0..20).map(|_| q.get_timeout(PATIENCE).unwrap()).collect();
    assert_eq!(got, (0..20).collect::<Vec<_>>());
    finish(&p);
    assert!(q.empty().unwrap());
}

fn closed_queue_refuses_put_and_get() {
    let q: Queue<i32> = Queue::new().unwrap();
    let go = Event::new().unwrap();
    let (child_q, child_go) = (q.clone(), go.clone());
    // Started before the close: its handle stays open.
    let p = start(move || {
        child_go.wait();
        child_q.put(7)?;
        assert_eq!(child_q.get()?, 7);
        Ok::<(), Error>(())
    });
    q.close();
    let put = q.put(1).unwrap_err();
    assert!(matches!(put, Error::Closed("put")), "{put}");
    assert_eq!(put.to_string(), "Queue is closed: cannot put");
    let get = q.get_nowait().unwrap_err();
    assert!(matches!(get, Error::Closed("get")), "{get}");
    // CPython's Queue.empty() raises once its feeder has closed the
    // reader (`close(); join_thread()`), the state this port's close is.
    assert!(matches!(q.empty(), Err(Error::Closed("check empty"))));
    let clone = q.clone();
    assert!(
        matches!(clone.put(1), Err(Error::Closed(_))),
        "clones share it"
    );
    go.set();
    finish(&p); // closing here did not close it there
}

fn one_producer_keeps_its_order_across_processes() {
    let q: Queue<(String, u32)> = Queue::new().unwrap();
    let child_q = q.clone();
    let p = start(move || (0..1000).try_for_each(|i| child_q.put((format!("item {i}"), i))));
    for i in 0..1000 {
        assert_eq!(q.get_timeout(PATIENCE).unwrap(), (format!("item {i}"), i));
    }
    finish(&p);
}

/// 4 producers × 10 000 messages each, 4 consumers: every message arrives
/// exactly once, and each consumer sees each producer's messages in order.
fn four_producers_four_consumers_exactly_once() {
    const PRODUCERS: u8 = 4;
    const CONSUMERS: usize = 4;
    const EACH: u32 = 10_000;
    let q: Queue<Option<(u8, u32)>> = Queue::new().unwrap();
    let results: Queue<Vec<(u8, u32)>> = Queue::new().unwrap();

    let consumers: Vec<Process> = (0..CONSUMERS)
        .map(|_| {
            let (q, results) = (q.clone(), results.clone());
            start(move || {
                let mut got = Vec::new();
                while let Some(item) = q.get()? {
                    got.push(item);
                }
                results.put(got)
            })
        })
        .collect();
    let producers: Vec<Process> = (0..PRODUCERS)
        .map(|id| {
            let q = q.clone();
            start(move || (0..EACH).try_for_each(|seq| q.put(Some((id, seq)))))
        })
        .collect();
    producers.iter().for_each(finish);
    for _ in 0..CONSUMERS {
        q.put(None).unwrap(); // one sentinel per consumer
    }
    // Read the reports before joining: a big message waits for its reader.
    let reports: Vec<Vec<(u8, u32)>> = (0..CONSUMERS)
        .map(|_| results.get_timeout(PATIENCE).unwrap())
        .collect();
    consumers.iter().for_each(finish);

    let mut seen = HashSet::new();
    for report in &reports {
        let mut last = [None; PRODUCERS as usize];
        for &(id, seq) in report {
            assert!(seen.insert((id, seq)), "({id}, {seq}) received twice");
            let previous = last[id as usize].replace(seq);
            assert!(
                previous < Some(seq),
                "producer {id}: {previous:?} before {seq}"
            );
        }
    }
    assert_eq!(seen.len(), PRODUCERS as usize * EACH as usize);
    assert!(q.empty().unwrap(), "{q:?}");
}

fn one_mib_items_round_trip() {
    let to_child: Queue<ByteBuf> = Queue::new().unwrap();
    let to_parent: Queue<ByteBuf> = Queue::new().unwrap();
    let (rx, tx) = (to_child.clone(), to_parent.clone());
    let p = start(move || (0..3).try_for_each(|_| tx.put(rx.get()?)));
    let big = pattern(1 << 20);
    for _ in 0..3 {
        to_child.put(ByteBuf::from(big.clone())).unwrap();
        let back = to_parent.get_timeout(PATIENCE).unwrap();
        assert!(back.as_slice() == big.as_slice(), "1 MiB came back changed");
    }
    finish(&p);
}

/// A consumer killed while it waits in `get` on an empty queue must not
/// disturb the others. (CPython's consumers share a read lock, and one
/// killed holding it blocks the rest; ours need none.)
fn consumer_killed_while_waiting() {
    let q: Queue<u32> = Queue::new().unwrap();
    let victim_q = q.clone();
    let victim = start(move || victim_q.get()); // waits for ever
    wait_for_recvmsg(victim.pid().unwrap());
    victim.kill().unwrap();
    finish_with(&victim, -9);

    let other_q = q.clone();
    let other = start(move || {
        let got = other_q.get_timeout(PATIENCE)?;
        other_q.put(got + 1)
    });
    q.put(41).unwrap();
    finish(&other);
    assert_eq!(q.get_timeout(PATIENCE).unwrap(), 42);
}

/// Wait (boundedly) until process `pid` sleeps in `recvmsg`.
fn wait_for_recvmsg(pid: u32) {
    wait_in_syscall(pid, &[libc::SYS_recvmsg]);
}

/// Wait (boundedly) until process `pid` is inside one of `calls`, as the
/// kernel reports in `/proc/<pid>/syscall` (the number of the call it is
/// in), with no signal pending (`/proc/<pid>/status`): an event a test can
/// observe, where a sleep would only hope.
fn wait_in_syscall(pid: u32, calls: &[libc::c_long]) {
    let read = |file| std::fs::read_to_string(format!("/proc/{pid}/{file}")).unwrap_or_default();
    let started = std::time::Instant::now();
    loop {
        let (call, status) = (read("syscall"), read("status"));
        let number = call.split_whitespace().next().and_then(|n| n.parse().ok());
        let pending = status.lines().any(|line| {
            let mask = line
                .strip_prefix("SigPnd:")
                .or(line.strip_prefix("ShdPnd:"));
            mask.is_some_and(|mask| u64::from_str_radix(mask.trim(), 16) != Ok(0))
        });
        if number.is_some_and(|n| calls.contains(&n)) && !pending {
            return;
        }
        let gone = status.is_empty() || status.contains("State:\tZ");
        assert!(!gone, "{pid} exited before it reached {calls:?}");
        assert!(
            started.elapsed() < PATIENCE,
            "{pid} never reached {calls:?}: {call}"
        );
        sleep(Duration::from_millis(1));
    }
}

/// A consumer killed in the middle of a stream: the producer, the other
/// consumers and the parent all finish, and nothing arrives twice.
fn consumer_killed_mid_stream() {
    const ITEMS: u32 = 20_000;
    let q: Queue<Option<u32>> = Queue::new().unwrap();
    let results: Queue<Vec<u32>> = Queue::new().unwrap();
    let busy = Event::new().unwrap();

    let (victim_q, victim_busy) = (q.clone(), busy.clone());
    let victim = start(move || {
        let mut n = 0;
        while victim_q.get()?.is_some() {
            n += 1;
            if n == 100 {
                victim_busy.set(); // well into the stream: kill me now
            }
        }
        Ok::<(), Error>(())
    });
    let survivors: Vec<Process> = (0..2)
        .map(|_| {
            let (q, results) = (q.clone(), results.clone());
            start(move || {
                let mut got = Vec::new();
                while let Some(i) = q.get()? {
                    got.push(i);
                }
                results.put(got)
            })
        })
        .collect();
    let producer_q = q.clone();
    let producer = start(move || (0..ITEMS).try_for_each(|i| producer_q.put(Some(i))));

    assert!(busy.wait_timeout(PATIENCE), "the victim never got going");
    victim.kill().unwrap();
    finish_with(&victim, -9);
    finish(&producer);
    for _ in &survivors {
        q.put(None).unwrap();
    }
    let mut seen = HashSet::new();
    for _ in &survivors {
        for i in results.get_timeout(PATIENCE).unwrap() {
            assert!(seen.insert(i), "{i} received twice");
        }
    }
    survivors.iter().for_each(finish);
    assert!(seen.len() < ITEMS as usize, "the victim took some");
    assert!(matches!(q.get_nowait(), Err(Error::Empty)));
}

/// A producer killed at any moment of putting a 64 MiB item (while it
/// writes the item's memory file, say): the consumer gets the whole item
/// or nothing, never a torn one, and the queue goes on working.
fn producer_killed_mid_message() {
    let q: Queue<ByteBuf> = Queue::new().unwrap();
    // Made before the forks, and shared by reference: a child only sends.
    let big: &'static ByteBuf = Box::leak(Box::new(ByteBuf::from(pattern(64 << 20))));
    for delay_ms in [0, 2, 10, 30] {
        let producer_q = q.clone();
        let producer = start(move || producer_q.put(big.clone()));
        sleep(Duration::from_millis(delay_ms)); // any moment will do: none may tear an item
        let _ = producer.kill();
        producer.join_timeout(PATIENCE).unwrap();
        match q.get_timeout(Duration::from_millis(200)) {
            Ok(got) => assert!(got == *big, "a torn item"),
            Err(Error::Empty) => {}
            Err(e) => panic!("{e}"),
        }
    }
    q.put(ByteBuf::from(vec![1, 2, 3])).unwrap();
    assert_eq!(q.get_timeout(PATIENCE).unwrap().as_slice(), [1, 2, 3]);
}

// ------------------------------------------------- SimpleQueue, JoinableQueue

fn simple_queue_basics() {
    let q: SimpleQueue<Option<String>> = SimpleQueue::new().unwrap();
    assert!(q.empty().unwrap());
    let child_q = q.clone();
    let p = start(move || {
        ["alpha", "beta"]
            .into_iter()
            .try_for_each(|w| child_q.put(Some(w.to_owned())))?;
        child_q.put(None)
    });
    assert_eq!(q.get().unwrap().as_deref(), Some("alpha"));
    assert_eq!(q.get().unwrap().as_deref(), Some("beta"));
    assert_eq!(q.get().unwrap(), None);
    finish(&p);
    assert!(q.empty().unwrap());
    q.close();
    assert!(matches!(q.put(None), Err(Error::Closed("put"))));
    assert!(matches!(q.get(), Err(Error::Closed("get"))));
    // CPython's SimpleQueue.empty() raises once closed.
    assert!(matches!(q.empty(), Err(Error::Closed("check empty"))));
}

fn task_done_too_many_times() {
    let q: JoinableQueue<i32> = JoinableQueue::new().unwrap();
    q.join(); // nothing put: returns at once
    let err = q.task_done().unwrap_err();
    assert!(matches!(err, Error::TaskDoneTooManyTimes), "{err}");
    assert_eq!(err.to_string(), "task_done() called too many times");
    q.put(1).unwrap();
    assert_eq!(q.get().unwrap(), 1);
    q.task_done().unwrap();
    q.join();
    assert!(q.task_done().is_err());
}

fn join_waits_for_every_task_done() {
    let tasks: JoinableQueue<Option<u32>> = JoinableQueue::new().unwrap();
    let done: Queue<u32> = Queue::new().unwrap();
    let workers: Vec<Process> = (0..2)
        .map(|_| {
            let (tasks, done) = (tasks.clone(), done.clone());
            start(move || {
                while let Some(n) = tasks.get()? {
                    sleep(Duration::from_millis(5));
                    done.put(n)?; // before task_done: join then implies it is there
                    tasks.task_done()?;
                }
                tasks.task_done()
            })
        })
        .collect();
    for n in 0..20 {
        tasks.put(Some(n)).unwrap();
    }
    tasks.join();
    // Every item is done, so every result is already in `done`.
    assert_eq!(done.qsize(), 20);
    let mut got: Vec<u32> = (0..20).map(|_| done.get_nowait().unwrap()).collect();
    got.sort();
    assert_eq!(got, (0..20).collect::<Vec<_>>());
    for _ in &workers {
        tasks.put(None).unwrap();
    }
    workers.iter().for_each(finish);
    tasks.join();
}

// ----------------------------------------------------------------- Pipe

/// A producer killed while its `put` waits for room in a full
/// `JoinableQueue` leaves no task behind that will never be done: once
/// every real item is done, `join` returns (in a child, under a limit).
fn a_producer_killed_waiting_for_room_leaves_no_task() {
    let q: JoinableQueue<u32> = JoinableQueue::with_maxsize(1).unwrap();
    q.put(1).unwrap();
    let pq = q.clone();
    let producer = start(move || pq.put(2)); // waits for room
    wait_in_syscall(producer.pid().unwrap(), &[libc::SYS_futex]);
    producer.kill().unwrap();
    finish_with(&producer, -9);
    assert_eq!(q.get().unwrap(), 1);
    q.task_done().unwrap();
    let jq = q.clone();
    let joiner = start(move || jq.join());
    finish(&joiner); // it would hang, and be killed, were the task still counted
}

fn duplex_pipe_both_ways() {
    let (parent, child) = pipe(true).unwrap();
    let p = start(move || {
        let n: u64 = child.recv()?;
        child.send(&(n * 2))?;
        let bytes = child.recv_bytes()?;
        child.send_bytes(&bytes.iter().rev().copied().collect::<Vec<_>>())
    });
    parent.send(&21u64).unwrap();
    assert_eq!(parent.recv::<u64>().unwrap(), 42);
    parent.send_bytes(b"abc").unwrap();
    assert_eq!(parent.recv_bytes().unwrap(), b"cba");
    finish(&p);
}

/// A value whose encoding always fails, as a lock cannot be pickled.
#[derive(Debug, serde::Deserialize)]
enum Item {
    Fine(u32),
    Lock,
}

impl serde::Serialize for Item {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Item::Fine(n) => s.serialize_newtype_variant("Item", 0, "Fine", n),
            Item::Lock => Err(serde::ser::Error::custom("a lock cannot travel")),
        }
    }
}

fn a_put_that_cannot_encode_fails_alone() {
    // CPython's test_queue_feeder_donot_stop_onexc: its feeder thread
    // survives an item it cannot pickle. Here `put` itself says so, gives
    // back the place it took, and the queue goes on.
    let q: Queue<Item> = Queue::with_maxsize(1).unwrap();
    let failed = q.put(Item::Lock).unwrap_err();
    assert!(matches!(failed, Error::Encoding(_)), "{failed}");
    assert!(
        q.empty().unwrap() && !q.full(),
        "the failed put took no place"
    );
    q.put(Item::Fine(7)).unwrap();
    assert!(matches!(q.get_nowait(), Ok(Item::Fine(7))));
    let jq: JoinableQueue<Item> = JoinableQueue::new().unwrap();
    assert!(jq.put(Item::Lock).is_err());
    jq.join(); // counts no unfinished task for it: returns at once
}

fn a_signal_does_not_break_a_wait() {
    // CPython's TestIgnoreEINTR: a signal whose handler returns, arriving
    // while a process sleeps in `recv` or `get`, leaves the wait going on.
    // Without SA_RESTART the kernel ends the sleeping call with EINTR, and
    // the message layer must call again.
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, kill, sigaction};
    use std::sync::atomic::{AtomicU32, Ordering};
    static HANDLED: AtomicU32 = AtomicU32::new(0);
    extern "C" fn count(_: i32) {
        HANDLED.fetch_add(1, Ordering::Relaxed);
    }
    let action = SigAction::new(
        SigHandler::Handler(count),
        SaFlags::empty(),
        SigSet::empty(),
    );
    let (parent, child) = pipe(true).unwrap();
    let q: Queue<u32> = Queue::new().unwrap();
    let child_q = q.clone();
    let p = start(move || -> Result<(), Error> {
        // SAFETY: the handler only adds to an atomic.
        unsafe { sigaction(Signal::SIGUSR1, &action) }.map_err(std::io::Error::from)?;
        child.send(&"ready")?;
        let from_pipe: u32 = child.recv()?; // signalled while it waits here
        let from_queue = child_q.get()?; // and here
        child.send(&(from_pipe, from_queue, HANDLED.load(Ordering::Relaxed)))
    });
    let pid = nix::unistd::Pid::from_raw(p.pid().unwrap() as i32);
    assert_eq!(parent.recv::<String>().unwrap(), "ready");
    // Each signal lands while the child sleeps, and the message goes only
    // once the handler has run and the child sleeps again: so the wait had
    // to survive the signal (sent together, the message could wake it
    // first).
    let in_recvmsg = || wait_in_syscall(p.pid().unwrap(), &[libc::SYS_recvmsg]);
    in_recvmsg();
    kill(pid, Signal::SIGUSR1).unwrap();
    in_recvmsg();
    parent.send(&1u32).unwrap();
    in_recvmsg();
    kill(pid, Signal::SIGUSR1).unwrap();
    in_recvmsg();
    q.put(2).unwrap();
    let (from_pipe, from_queue, handled): (u32, u32, u32) = parent.recv().unwrap();
    assert_eq!((from_pipe, from_queue), (1, 2));
    assert_eq!(handled, 2, "both signals arrived, and were handled");
    finish_with(&p, 0);
}

fn one_way_pipe_has_a_reader_and_a_writer() {
    let (reader, writer) = pipe(false).unwrap();
    assert!(reader.readable() && !reader.writable());
    assert!(writer.writable() && !writer.readable());
    let (a, _b) = pipe(true).unwrap();
    assert!(a.readable() && a.writable());
    drop((reader, writer));

    let (reader, writer) = pipe(false).unwrap();
    writer.send("hi").unwrap();
    assert_eq!(reader.recv::<String>().unwrap(), "hi");
    let err = reader.send("no").unwrap_err();
    assert!(err.to_string().contains("connection is read-only"), "{err}");
    let err = writer.recv::<String>().unwrap_err();
    assert!(
        err.to_string().contains("connection is write-only"),
        "{err}"
    );
    assert!(writer.poll(Duration::ZERO).is_err());
}

fn poll_waits_at_most_its_timeout() {
    let (a, b) = pipe(true).unwrap();
    assert!(!a.poll(Duration::ZERO).unwrap());
    assert!(!a.poll(Duration::from_millis(50)).unwrap());
    b.send_bytes(b"x").unwrap();
    assert!(a.poll(Duration::ZERO).unwrap());
    assert!(a.poll(Duration::ZERO).unwrap(), "poll does not consume");
    assert_eq!(a.recv_bytes().unwrap(), b"x");
    assert!(!a.poll(Duration::ZERO).unwrap());

    // A message sent later, from another process, wakes a long poll: the
    // child sends once it sees this process asleep in poll(2).
    let parent = std::process::id();
    let p = start(move || {
        wait_in_syscall(parent, &[libc::SYS_poll, libc::SYS_ppoll]);
        b.send_bytes(b"later")
    });
    assert!(a.poll(PATIENCE).unwrap());
    assert_eq!(a.recv_bytes().unwrap(), b"later");
    finish(&p);
}

fn recv_reports_eof_once_the_other_end_is_closed_everywhere() {
    let (parent, child) = pipe(true).unwrap();
    // `child` moves into the closure: the parent's copy is gone once the
    // child has started, so the child's exit closes the last one.
    let p = start(move || {
        child.send("one")?;
        child.send("two")
    });
    assert_eq!(parent.recv::<String>().unwrap(), "one");
    assert_eq!(parent.recv::<String>().unwrap(), "two");
    let err = parent.recv::<String>().unwrap_err();
    assert!(matches!(err, Error::Eof), "{err}");
    assert!(
        parent.poll(Duration::ZERO).unwrap(),
        "poll says EOF is there"
    );
    assert!(matches!(parent.recv_bytes(), Err(Error::Eof)));
    finish(&p);

    // Closed by a child that is still running.
    let (parent, child) = pipe(true).unwrap();
    let go = Event::new().unwrap();
    let child_go = go.clone();
    let p = start(move || {
        child.close();
        child_go.wait();
    });
    assert!(matches!(parent.recv_bytes(), Err(Error::Eof)));
    go.set();
    finish(&p);

    // Sending to an end closed everywhere is a broken pipe.
    let (a, b) = pipe(true).unwrap();
    drop(b);
    let err = a.send_bytes(b"anyone?").unwrap_err();
    assert!(
        matches!(&err, Error::Io(e) if e.kind() == std::io::ErrorKind::BrokenPipe),
        "{err}"
    );
}

/// 1 MiB and 16 MiB messages (memory files, past 64 KiB) and a 60 KiB one
/// (still one packet) go to a child and back intact, as bytes and as a
/// serde value.
fn big_messages_through_a_pipe() {
    let sizes = [60 << 10, 1 << 20, 16 << 20];
    let (parent, child) = pipe(true).unwrap();
    let p = start(move || {
        for _ in 0..sizes.len() {
            let bytes = child.recv_bytes()?;
            child.send_bytes(&bytes)?;
        }
        let value: ByteBuf = child.recv()?;
        child.send(&value)
    });
    for size in sizes {
        let big = pattern(size);
        parent.send_bytes(&big).unwrap();
        assert!(
            parent.recv_bytes().unwrap() == big,
            "{size} bytes came back changed"
        );
    }
    let big = pattern(16 << 20);
    parent.send(&ByteBuf::from(big.clone())).unwrap();
    let back: ByteBuf = parent.recv().unwrap();
    assert!(back.as_slice() == big.as_slice());
    finish(&p);
}

/// A big message arrives mapped, not copied: its sender's memory file shows
/// in `/proc/self/maps` while the `Bytes` lives, and goes with it.
fn a_big_message_is_mapped_not_copied() {
    let mapped = || {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        maps.matches("memfd:shared-ipc-message").count()
    };
    let (a, b) = pipe(true).unwrap();
    a.send_bytes(&pattern(MIB)).unwrap();
    let before = mapped();
    let message = b.recv_bytes().unwrap();
    assert_eq!(mapped(), before + 1, "a big message comes as a mapping");
    assert_eq!(message, pattern(MIB));
    drop(message);
    assert_eq!(mapped(), before, "dropped, it is unmapped");
}

/// A big message arrives as its sender's memory file, mapped only if the
/// file is sealed against every change (a file that shrinks under a
/// mapping kills its reader with SIGBUS, and bytes that change under a
/// `&[u8]` break Rust's promise). A file its sender could still write or
/// shrink is copied, and stays as it was received whatever the sender does
/// next; one shorter than its packet says, or not a file at all, is
/// refused with an error (and the pipe goes on). The packets here are
/// made by hand, in the layout `socket.rs` gives a big message: the byte 1,
/// the length as 8 little-endian bytes, and the file's descriptor.
fn a_memory_file_its_sender_could_change_is_copied() {
    use nix::fcntl::{FcntlArg, SealFlag, fcntl};
    use nix::sys::memfd::{MFdFlags, memfd_create};
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    use std::io::IoSlice;
    use std::os::fd::{AsRawFd, OwnedFd};
    use std::os::unix::fs::FileExt;

    let mapped = || {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        maps.matches("memfd:").count()
    };
    let (r, w) = pipe(false).unwrap();
    let send_file = |file: &OwnedFd, claimed: u64| {
        let head: Vec<u8> = [1].into_iter().chain(claimed.to_le_bytes()).collect();
        let fds = [file.as_raw_fd()];
        let cmsgs = [ControlMessage::ScmRights(&fds)];
        sendmsg::<()>(
            w.as_raw_fd(),
            &[IoSlice::new(&head)],
            &cmsgs,
            MsgFlags::empty(),
            None,
        )
        .unwrap();
    };
    let file = |seals: SealFlag| {
        let file = memfd_create("test", MFdFlags::MFD_ALLOW_SEALING).unwrap();
        let written = std::fs::File::from(file.try_clone().unwrap());
        written.write_all_at(&pattern(MIB), 0).unwrap();
        fcntl(&file, FcntlArg::F_ADD_SEALS(seals)).unwrap();
        (file, written)
    };
    for seals in [
        SealFlag::empty(),
        SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW,
    ] {
        let (file, kept) = file(seals);
        send_file(&file, MIB as u64);
        let before = mapped();
        let message = r.recv_bytes().unwrap();
        assert_eq!(
            mapped(),
            before,
            "a file its sender can write is not mapped"
        );
        kept.write_all_at(&vec![0; MIB], 0).unwrap(); // the sender changes it
        assert_eq!(message, pattern(MIB), "as received, whatever came after");
    }
    let (short, _) = file(SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_WRITE);
    send_file(&short, 2 * MIB as u64); // sealed, but short of its length
    let (not_a_file, _writer) = std::io::pipe().unwrap();
    send_file(&OwnedFd::from(not_a_file), MIB as u64);
    for _ in 0..2 {
        match r.recv_bytes() {
            Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::InvalidData => {}
            other => panic!("{other:?}"),
        }
    }
    w.send_bytes(&pattern(MIB)).unwrap();
    assert_eq!(r.recv_bytes().unwrap(), pattern(MIB));
}

/// `Bytes` prints as CPython 3.11 prints `repr(b)`, quotes and escapes alike.
fn bytes_print_as_python_prints_them() {
    let cases: [(&[u8], &str); 5] = [
        (b"hello", r"b'hello'"),
        (b"it's", r#"b"it's""#),
        (b"say \"hi\"", r#"b'say "hi"'"#),
        (b"both ' and \"", r#"b'both \' and "'"#),
        (b"\x00\t\n\r\\\x7f\xff", r"b'\x00\t\n\r\\\x7f\xff'"),
    ];
    for (bytes, repr) in cases {
        assert_eq!(format!("{:?}", Bytes::from(bytes.to_vec())), repr);
    }
}

fn recv_bytes_into_a_buffer() {
    let (a, b) = pipe(true).unwrap();
    a.send_bytes(b"hello").unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(b.recv_bytes_into(&mut buf).unwrap(), 5);
    assert_eq!(&buf[..5], b"hello");
    a.send_bytes(b"far too long").unwrap();
    match b.recv_bytes_into(&mut buf) {
        Err(Error::BufferTooShort(message)) => assert_eq!(message, b"far too long"),
        other => panic!("{other:?}"),
    }
    // A big message (in a memory file) into a buffer with room, from a
    // child, then one into a buffer too small: handed back whole.
    let p = start(move || {
        a.send_bytes(&pattern(MIB))
            .and_then(|()| a.send_bytes(&pattern(MIB)))
    });
    let mut big = vec![0u8; 2 * MIB];
    assert_eq!(b.recv_bytes_into(&mut big).unwrap(), MIB);
    assert_eq!(big[..MIB], pattern(MIB));
    match b.recv_bytes_into(&mut buf) {
        Err(Error::BufferTooShort(message)) => assert_eq!(message, pattern(MIB)),
        other => panic!("{other:?}"),
    }
    finish(&p);
    assert!(matches!(b.recv_bytes_into(&mut buf), Err(Error::Eof)));
}

/// CPython's `_TestPoll`: an empty message is a message, and messages keep
/// their edges (never merged, never split), whatever their sizes.
fn empty_messages_and_edges() {
    let (a, b) = pipe(true).unwrap();
    let sizes = [0, 1, 0, 70_000, 3];
    let p = start(move || {
        sizes
            .into_iter()
            .try_for_each(|n| b.send_bytes(&pattern(n)))
    });
    for n in sizes {
        assert!(
            a.poll(PATIENCE).unwrap(),
            "a message of {n} bytes is waiting"
        );
        assert_eq!(a.recv_bytes().unwrap(), pattern(n));
    }
    finish(&p);
    assert!(matches!(a.recv_bytes(), Err(Error::Eof)));
}

fn wait_serves_whichever_connection_is_ready() {
    // CPython's TestWait.test_wait and test_wait_slow: children write to
    // their own pipes, each at its own pace, and exit; the parent waits on
    // all the pipes at once, reads whichever is ready, and drops each at
    // end-of-file, until every child's messages are in.
    use std::os::fd::AsFd;
    let mut readers = Vec::new();
    let mut children = Vec::new();
    for id in 0..4u32 {
        let (reader, writer) = pipe(false).unwrap();
        children.push(start(move || -> Result<(), Error> {
            for n in 0..3u32 {
                writer.send(&(id, n))?;
                sleep(Duration::from_millis(u64::from(id) * 5)); // each its own pace
            }
            Ok(())
        }));
        readers.push(reader);
    }
    let mut got = Vec::new();
    while !readers.is_empty() {
        let fds: Vec<_> = readers.iter().map(|r| r.as_fd()).collect();
        let ready = shared::ipc::wait(&fds, PATIENCE).unwrap();
        assert!(!ready.is_empty(), "nothing came within {PATIENCE:?}");
        for &i in ready.iter().rev() {
            match readers[i].recv::<(u32, u32)>() {
                Ok(message) => got.push(message),
                Err(Error::Eof) => drop(readers.remove(i)),
                Err(e) => panic!("{e}"),
            }
        }
    }
    got.sort();
    let all: Vec<(u32, u32)> = (0..4).flat_map(|id| (0..3).map(move |n| (id, n))).collect();
    assert_eq!(got, all);
    children.iter().for_each(finish);
}

fn recv_of_the_wrong_type_is_an_error() {
    let (a, b) = pipe(true).unwrap();
    b.send_bytes(&[0xff; 3]).unwrap();
    let err = a.recv::<String>().unwrap_err();
    assert!(matches!(err, Error::Encoding(_)), "{err}");
}

// ---------------------------------------------------------------- Event

fn event_in_one_process() {
    let shown = format!("{:?}", Event::new().unwrap());
    assert!(
        shown.starts_with("<Event at 0x") && shown.ends_with(" unset>"),
        "{shown}"
    );

    let e = Event::new().unwrap();
    assert!(!e.is_set());
    assert!(!e.wait_timeout(Duration::from_millis(50)));
    e.set();
    assert!(e.is_set());
    e.wait(); // set: returns at once
    assert!(e.wait_timeout(Duration::ZERO));
    e.clear();
    assert!(!e.is_set());
    assert!(!e.wait_timeout(Duration::ZERO));
}

fn event_across_processes() {
    // Parent sets, children wait; one of them starts a grandchild that waits too.
    let e = Event::new().unwrap();
    let (e1, e2) = (e.clone(), e.clone());
    let waiter = start(move || e1.wait());
    // Not a daemon: daemons may not have children.
    let mut with_grandchild = Process::new(move || {
        let e3 = e2.clone();
        let mut grandchild = Process::new(move || assert!(e3.wait_timeout(PATIENCE)));
        grandchild.start().unwrap();
        assert!(e2.wait_timeout(PATIENCE));
        grandchild.join().unwrap();
        assert_eq!(grandchild.exitcode(), Some(0));
    });
    with_grandchild.start().unwrap();
    // Set it only once both are asleep on it, so `set` must wake them.
    wait_in_syscall(waiter.pid().unwrap(), &[libc::SYS_futex]);
    wait_in_syscall(with_grandchild.pid().unwrap(), &[libc::SYS_futex]);
    e.set();
    finish(&waiter);
    finish(&with_grandchild);

    // A child sets, the parent waits; a child clears, the parent sees it.
    let e = Event::new().unwrap();
    let child_e = e.clone();
    let setter = start(move || child_e.set());
    assert!(e.wait_timeout(PATIENCE));
    finish(&setter);
    let child_e = e.clone();
    let clearer = start(move || child_e.clear());
    finish(&clearer);
    assert!(!e.is_set());
}

// ------------------------------------------------------------ Resources

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

fn one_cycle() {
    let q: Queue<u32> = Queue::new().unwrap();
    q.put(1).unwrap();
    assert_eq!(q.get().unwrap(), 1);
    let jq: JoinableQueue<u32> = JoinableQueue::with_maxsize(1).unwrap();
    jq.put(2).unwrap();
    assert_eq!(jq.get().unwrap(), 2);
    jq.task_done().unwrap();
    let (a, b) = pipe(true).unwrap();
    a.send(&3u32).unwrap();
    assert_eq!(b.recv::<u32>().unwrap(), 3);
    a.send_bytes(&[5; 100 << 10]).unwrap(); // in a memory file, mapped on receipt
    assert_eq!(b.recv_bytes().unwrap().len(), 100 << 10);
    let (r, w) = pipe(false).unwrap();
    w.send_bytes(b"4").unwrap();
    assert!(r.poll(Duration::ZERO).unwrap());
    let e = Event::new().unwrap();
    e.set();
}

/// 1 000 create-use-drop cycles leave no descriptor and no mapping behind.
fn no_leak_after_a_thousand_cycles() {
    one_cycle(); // let the first use set up whatever it keeps for good
    let (fds, maps) = (open_fds(), mappings());
    for _ in 0..1000 {
        one_cycle();
    }
    assert_eq!(open_fds(), fds, "file descriptors leaked");
    assert!(
        mappings() <= maps + 2,
        "shared memory leaked: {} > {maps}",
        mappings()
    );
}

/// Whether this process's children may read its `/proc/<pid>/syscall`,
/// as [`wait_in_syscall`] does (it takes ptrace rights: root has them, an
/// ordinary user under Yama's `ptrace_scope` 1 does not for a parent).
fn syscalls_readable() -> bool {
    let parent = std::process::id();
    let mut child = Process::new(move || {
        if std::fs::read_to_string(format!("/proc/{parent}/syscall")).is_err() {
            shared::exit(1);
        }
    });
    child.start().is_ok() && child.join().is_ok() && child.exitcode() == Some(0)
}

fn main() {
    let mut checks = testkit::checks![
        queue_in_one_process,
        a_put_that_cannot_encode_fails_alone,
        bounded_queue_is_full,
        full_queue_put_waits_for_a_get_in_another_process,
        closed_queue_refuses_put_and_get,
        one_producer_keeps_its_order_across_processes,
        four_producers_four_consumers_exactly_once,
        one_mib_items_round_trip,
        consumer_killed_mid_stream,
        producer_killed_mid_message,
        simple_queue_basics,
        task_done_too_many_times,
        join_waits_for_every_task_done,
        duplex_pipe_both_ways,
        one_way_pipe_has_a_reader_and_a_writer,
        recv_reports_eof_once_the_other_end_is_closed_everywhere,
        big_messages_through_a_pipe,
        a_big_message_is_mapped_not_copied,
        a_memory_file_its_sender_could_change_is_copied,
        bytes_print_as_python_prints_them,
        recv_bytes_into_a_buffer,
        empty_messages_and_edges,
        wait_serves_whichever_connection_is_ready,
        recv_of_the_wrong_type_is_an_error,
        event_in_one_process,
        no_leak_after_a_thousand_cycles,
    ];
    // These wait until another process sleeps in a given system call, seen
    // in /proc/<pid>/syscall: without the rights to read it, they are
    // reported ignored, never passed without their point.
    let watching = testkit::checks![
        a_signal_does_not_break_a_wait,
        consumer_killed_while_waiting,
        poll_waits_at_most_its_timeout,
        event_across_processes,
        a_producer_killed_waiting_for_room_leaves_no_task,
    ];
    let unreadable = !syscalls_readable();
    checks.extend(
        watching
            .into_iter()
            .map(|c| c.with_ignored_flag(unreadable)),
    );
    testkit::run_checks(checks);
}
