//! Tutorial 002's question, measured: what do processes, a pool, pipes and
//! queues cost here, and in CPython, beside what the OS itself needs?
//!
//! Python twin: `python/benchmark.py` (tutorial 002's race, widened).
//!
//! ```console
//! $ cargo run --release -p examples-pool --bin benchmark
//! parallel_capacity 1.625 cores
//! floor_fork_join 98.2 us
//! process_start_join 104 us
//! …
//! child_uss 44.0 KiB
//! $ cargo run --release -p examples-pool --bin benchmark -- --compare
//! | figure | Rust | CPython | unit | Rust is | vs floor | target |
//! |---|---|---|---|---|---|---|
//! | parallel_capacity | 1.625 | 1.490 | cores |  |  |  |
//! | floor_fork_join | 98.2 | — | us |  |  |  |
//! | process_start_join | 104 | 3635 | us | 35.0× better | 1.06× | ≤ 1.5× floor: met |
//! …
//! ```
//! Each line is `name value unit`, the twin's too. Round trips are timed
//! in three conditions: `quiet` (no suffix), pinned to one CPU (`_1cpu`),
//! and while one busy-looping process per CPU competes (`_loaded`). The
//! `floor_` figures are what the OS alone needs (a bare `fork`, a bare
//! socketpair), measured in the same run; `ipc_channel_roundtrip` (the
//! `ipc-channel` crate's channels) is Rust's alone too, a figure to set
//! beside `pipe_roundtrip`. `process_start_join_timeline`
//! is `process_start_join` recording a timeline (`shared::timeline`), its
//! "vs floor" the cost against the same with recording off, which is how
//! every other figure is measured. With `--compare`, the two
//! programs take turns (`--rounds N`, default 3), so both see the same
//! machine; the table shows the medians. `--quick` measures small sizes
//! (the CI smoke run) and judges no target. Figures vary from run to run.
//! Longer than a section: it is a measuring tool, not a lesson.

use std::hint::black_box;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use examples_pool::{NUMBERS, factorize};
use shared::connection::{Listener, PyConnection};
use shared::pool::Pool;
use shared::shared_memory::SharedMemory;
use shared::sync::Block;
use shared::{
    Barrier, Error, Lock, Process, Queue, RawArray, StartMethod, Value, cpu_count, get_context,
    pipe,
};

/// Small numbers for `--quick`.
const QUICK_NUMBERS: [u64; 4] = [53541, 21235, 11421, 5423];

/// A figure not measured (printed as `pending`).
const PENDING: f64 = f64::NAN;

/// The small message of the round trips (the twin's `("ping", 42)`);
/// `None` tells the echoing child to stop.
type Ping = Option<(String, u32)>;

/// `name value unit`, one figure.
type Figure = (&'static str, f64, &'static str);

fn double(n: u64) -> u64 {
    n * 2
}

fn spin(iterations: u64) -> u64 {
    (0..iterations).fold(0, |total, i| black_box(total + i))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn seconds(f: impl FnOnce() -> Result<(), Error>) -> Result<f64, Error> {
    let start = Instant::now();
    f()?;
    Ok(start.elapsed().as_secs_f64())
}

/// How many cores' worth of work `cpu_count()` busy processes get done at
/// once: 2 shared cores are not always 2 (other programs, a busy host).
fn parallel_capacity(iterations: u64) -> Result<f64, Error> {
    let spinners = |count: usize| {
        seconds(|| {
            let mut procs: Vec<Process> = (0..count)
                .map(|_| Process::new(move || spin(iterations) as i32))
                .collect();
            procs.iter_mut().try_for_each(Process::start)?;
            procs.iter().try_for_each(Process::join)
        })
    };
    // The best of three: a busy moment elsewhere only ever slows a run down.
    let best = |count| -> Result<f64, Error> {
        let runs = [spinners(count)?, spinners(count)?, spinners(count)?];
        Ok(runs.into_iter().fold(f64::INFINITY, f64::min))
    };
    Ok(cpu_count() as f64 * best(1)? / best(cpu_count())?)
}

/// Microseconds for `Process::new(..)`, `start` and `join`; for the same
/// while recording a timeline (into a temporary directory, removed after),
/// what recording costs (every other figure is measured with it off, as a
/// program runs unless asked); and for the floor under them, a bare
/// `fork`, `_exit` and `waitpid`. Taken in turns, so that all three see
/// the same machine (a fork's cost drifts as the machine does): medians
/// of the first two, and the floor's times.
fn start_join_and_floor(repeats: usize) -> Result<([f64; 2], Vec<f64>), Error> {
    let dir = std::env::temp_dir().join(format!("benchmark-timeline-{}", std::process::id()));
    // SAFETY: the benchmark's one thread; nothing reads the environment now.
    unsafe { std::env::set_var("TIMELINE_DIR", &dir) };
    let start_join = || {
        seconds(|| {
            let mut p = Process::new(|| ());
            p.start()?;
            p.join()
        })
    };
    let (mut ours, mut recorded, mut floor) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..repeats {
        floor.push(seconds(bare_fork_join)?);
        ours.push(start_join()?);
        shared::timeline::record()?;
        recorded.push(start_join());
        shared::timeline::stop();
    }
    let _ = std::fs::remove_dir_all(&dir);
    let recorded: Vec<f64> = recorded.into_iter().collect::<Result<_, _>>()?;
    Ok(([ours, recorded].map(|times| median(times) * 1e6), floor))
}

/// Nanoseconds for one uncontended `acquire` and `release` of a `Lock`,
/// in one process.
fn lock_acquire_release(repeats: u32) -> f64 {
    let lock = Lock::new().expect("a lock");
    let began = std::time::Instant::now();
    for _ in 0..repeats {
        std::hint::black_box(&lock).acquire(Block::Forever);
        let _ = lock.release();
    }
    began.elapsed().as_secs_f64() / f64::from(repeats) * 1e9
}

/// Start `n` children that wait at a barrier and then run `work`; the
/// seconds from the first child's start of `work` to the last one's end.
/// Each child notes both times itself (the wall clock, the same in every
/// process), so how soon the parent is woken at the barrier does not count.
fn race(n: u32, work: impl Fn() + Clone + 'static) -> Result<f64, Error> {
    let now = || {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        since.map_or(0, |t| t.as_nanos() as u64)
    };
    let start = Barrier::new(n, None)?;
    let times = RawArray::new(&vec![0u64; 2 * n as usize])?;
    let mut children = Vec::new();
    for i in 0..n as usize {
        let (start, work, times) = (start.clone(), work.clone(), times.clone());
        let mut p = Process::new(move || -> Result<(), Error> {
            start.wait(None)?;
            times.set(2 * i, now());
            work();
            times.set(2 * i + 1, now());
            Ok(())
        })
        .daemon(true);
        p.start()?;
        children.push(p);
    }
    for p in &children {
        p.join()?;
    }
    let times = times.to_vec();
    let first = times.iter().step_by(2).min().copied().unwrap_or(0);
    let last = times.iter().skip(1).step_by(2).max().copied().unwrap_or(0);
    Ok(last.saturating_sub(first) as f64 / 1e9)
}

/// Microseconds per acquisition while two processes contend for one lock.
fn lock_handoff(repeats: u32) -> Result<f64, Error> {
    let lock = Lock::new()?;
    let seconds = race(2, move || {
        for _ in 0..repeats {
            lock.acquire(Block::Forever);
            let _ = lock.release();
        }
    })?;
    Ok(seconds / f64::from(2 * repeats) * 1e6)
}

/// Milliseconds for 4 processes to add 1 to a `Value` `repeats` times
/// each, holding its lock (Python: `with v.get_lock(): v.value += 1`).
fn value_add_locked(repeats: u32) -> Result<f64, Error> {
    let value = Value::new(0u32)?;
    let shared = value.clone();
    let seconds = race(4, move || {
        for _ in 0..repeats {
            let _held = shared.get_lock().lock();
            shared.set(shared.get() + 1);
        }
    })?;
    assert_eq!(value.get(), 4 * repeats, "every addition counted");
    Ok(seconds * 1e3)
}

/// Microseconds to spawn a child that does nothing and join it, and the
/// floor measured in turn with it: a bare `posix_spawn` of this program,
/// which leaves at the top of `main`, and `waitpid` (`Command::status`).
fn spawn_start_join_and_floor(repeats: usize) -> Result<(f64, f64), Error> {
    let (mut ours, mut floor) = (Vec::new(), Vec::new());
    let spawn = get_context(StartMethod::Spawn);
    for _ in 0..repeats {
        floor.push(seconds(|| {
            let status = Command::new("/proc/self/exe")
                .env(EXIT_AT_ONCE, "1")
                .status()?;
            match status.success() {
                true => Ok(()),
                false => Err(Error::from(std::io::Error::other(format!(
                    "the floor's child: {status}"
                )))),
            }
        })?);
        ours.push(seconds(|| {
            let mut p = spawn.process(nothing, ());
            p.start()?;
            p.join()
        })?);
    }
    Ok((median(ours) * 1e6, median(floor) * 1e6))
}

fn nothing(_: ()) {}

/// Microseconds to start a child through the fork server and join it
/// (the server started beforehand, untimed, as CPython's is), and more
/// of the floor's times. The starts follow one another in blocks of
/// [`BLOCK`], so that the server's fork of each replacement meets the
/// next start, as in a program that starts children in a loop; each
/// block comes after as many bare forks, so that the two see the same
/// machine, as the floor and `process_start_join` do.
fn forkserver_start_join(repeats: usize) -> Result<(f64, Vec<f64>), Error> {
    let forkserver = get_context(StartMethod::Forkserver);
    let start_join = || {
        let mut p = forkserver.process(nothing, ());
        p.start()?;
        p.join()
    };
    start_join()?;
    let (mut times, mut floor) = (Vec::new(), Vec::new());
    for _ in 0..repeats.div_ceil(BLOCK) {
        for _ in 0..BLOCK {
            floor.push(seconds(bare_fork_join)?);
        }
        for _ in 0..BLOCK {
            times.push(seconds(start_join)?);
        }
    }
    Ok((median(times) * 1e6, floor))
}

/// How many fork-server starts follow one another (and bare forks come
/// before them) in [`forkserver_start_join`].
const BLOCK: usize = 20;

/// Set for the floor's child, which then leaves before anything else.
const EXIT_AT_ONCE: &str = "BENCHMARK_EXIT_AT_ONCE";

/// Items per second of `Pool(2).map` of a doubler, after one untimed call
/// of the same size (on both sides), so that no figure pays for first
/// touching the memory its buffers need.
fn pool_map(items: u64, chunksize: Option<usize>, repeats: usize) -> Result<f64, Error> {
    pool_map_by(StartMethod::Fork, items, chunksize, repeats)
}

/// [`pool_map`] with workers started by `method`.
fn pool_map_by(
    method: StartMethod,
    items: u64,
    chunksize: Option<usize>,
    repeats: usize,
) -> Result<f64, Error> {
    let pool = get_context(method).pool(2)?;
    let run = || match chunksize {
        None => pool.map(double, 0..items).map(drop),
        Some(chunksize) => pool.map_chunked(double, 0..items, chunksize).map(drop),
    };
    run()?; // warm up
    let times = (0..repeats)
        .map(|_| seconds(run))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(items as f64 / median(times))
}

/// Milliseconds for `calls` `apply_async` of a tiny function, every handle
/// held, then `get` on each (a program that hands out work as it finds
/// it), and how many times longer twice the calls take: 2 where the pool
/// keeps up, 4 where each call costs as much as the calls before it.
/// Medians of three, on one pool of two workers.
fn apply_async_many(calls: u64) -> Result<(f64, f64), Error> {
    let pool = Pool::new(2)?;
    let run = |calls: u64| {
        seconds(|| {
            let results = (0..calls)
                .map(|n| pool.apply_async(double, (n,)))
                .collect::<Result<Vec<_>, _>>()?;
            for (n, result) in (0..calls).zip(&results) {
                assert_eq!(result.get()?, 2 * n);
            }
            Ok(())
        })
    };
    let median_of_three =
        |calls| -> Result<f64, Error> { Ok(median(vec![run(calls)?, run(calls)?, run(calls)?])) };
    let (once, twice) = (median_of_three(calls)?, median_of_three(2 * calls)?);
    Ok((once * 1e3, twice / once))
}

/// Microseconds for a small pickled message to go to a client and back
/// over a `Listener`'s connection (a Unix socket, with a key), in CPython's
/// wire format.
fn connection_roundtrip(repeats: usize) -> Result<f64, Error> {
    let mut listener = Listener::bind(None, Some(b"benchmark"))?;
    let address = listener.address().clone();
    let mut echo = Process::new(move || -> Result<(), Error> {
        let mut conn = PyConnection::connect(&address, Some(b"benchmark"))?;
        while let Some(message) = conn.recv::<Ping>()? {
            conn.send(&Some(message))?;
        }
        Ok(())
    })
    .daemon(true);
    echo.start()?;
    let mut conn = listener.accept()?;
    let message: Ping = Some(("ping".to_owned(), 42));
    conn.send(&message)?;
    conn.recv::<Ping>()?;
    let elapsed = seconds(|| {
        for _ in 0..repeats {
            conn.send(&message)?;
            conn.recv::<Ping>()?;
        }
        Ok(())
    })?;
    conn.send(&None::<(String, u32)>)?;
    echo.join()?;
    Ok(elapsed / repeats as f64 * 1e6)
}

/// Microseconds for the same message to go to a child and back over two
/// `ipc-channel` channels (Rust only, like the floors: a figure for the
/// ipc guide's advice on which to pick).
fn ipc_channel_roundtrip(repeats: usize) -> Result<f64, Error> {
    let ipc_error = |e: ipc_channel::ipc::IpcError| Error::Ipc(format!("{e:?}"));
    let send_error = |e: ipc_channel::Error| Error::Ipc(e.to_string());
    let (to_child, from_parent) = ipc_channel::ipc::channel::<Ping>()?;
    let (to_parent, from_child) = ipc_channel::ipc::channel::<Ping>()?;
    let mut echo = Process::new(move || -> Result<(), Error> {
        while let Some(message) = from_parent.recv().map_err(ipc_error)? {
            to_parent.send(Some(message)).map_err(send_error)?;
        }
        Ok(())
    })
    .daemon(true);
    echo.start()?;
    let message: Ping = Some(("ping".to_owned(), 42));
    to_child.send(message.clone()).map_err(send_error)?;
    from_child.recv().map_err(ipc_error)?;
    let elapsed = seconds(|| {
        for _ in 0..repeats {
            to_child.send(message.clone()).map_err(send_error)?;
            from_child.recv().map_err(ipc_error)?;
        }
        Ok(())
    })?;
    to_child.send(None).map_err(send_error)?;
    echo.join()?;
    Ok(elapsed / repeats as f64 * 1e6)
}

/// Microseconds to attach to a 1 MiB named block by its name, copy it
/// all out, and close it again (what a process that finds data by name
/// pays each time).
fn shm_attach_read(repeats: usize) -> Result<f64, Error> {
    let block = SharedMemory::create(1 << 20)?;
    block.write(0, &vec![7; 1 << 20]);
    let elapsed = seconds(|| {
        for _ in 0..repeats {
            let shm = SharedMemory::attach(block.name())?;
            black_box(shm.to_vec());
        }
        Ok(())
    })?;
    block.unlink()?;
    Ok(elapsed / repeats as f64 * 1e6)
}

/// Microseconds for a small message to go to a child and back over a pipe.
fn pipe_roundtrip(repeats: usize) -> Result<f64, Error> {
    let (parent, child) = pipe(true)?;
    // A daemon, as every helper child here: should this side fail, the
    // exit stops it instead of waiting for it (it holds both ends of the
    // pipe, so it would never see end-of-file).
    let mut echo = Process::new(move || -> Result<(), Error> {
        while let Some(message) = child.recv::<Ping>()? {
            child.send(&Some(message))?;
        }
        Ok(())
    })
    .daemon(true);
    echo.start()?;
    let message: Ping = Some(("ping".to_owned(), 42));
    parent.send(&message)?;
    parent.recv::<Ping>()?;
    let elapsed = seconds(|| {
        for _ in 0..repeats {
            parent.send(&message)?;
            parent.recv::<Ping>()?;
        }
        Ok(())
    })?;
    parent.send(&None::<(String, u32)>)?;
    echo.join()?;
    Ok(elapsed / repeats as f64 * 1e6)
}

/// The same round trip through two queues.
fn queue_roundtrip(repeats: usize) -> Result<f64, Error> {
    let (inbox, outbox) = (Queue::<Ping>::new()?, Queue::<Ping>::new()?);
    let (child_inbox, child_outbox) = (inbox.clone(), outbox.clone());
    let mut echo = Process::new(move || -> Result<(), Error> {
        while let Some(message) = child_inbox.get()? {
            child_outbox.put(Some(message))?;
        }
        Ok(())
    })
    .daemon(true);
    echo.start()?;
    let message: Ping = Some(("ping".to_owned(), 42));
    inbox.put(message.clone())?;
    outbox.get()?;
    let elapsed = seconds(|| {
        for _ in 0..repeats {
            inbox.put(message.clone())?;
            outbox.get()?;
        }
        Ok(())
    })?;
    inbox.put(None)?;
    echo.join()?;
    Ok(elapsed / repeats as f64 * 1e6)
}

/// Run `f` with this process, and the children it starts, on one CPU.
///
/// This VM halts an idle virtual CPU at once (its kernel runs with
/// `haltpoll.guest_halt_poll_ns=0`), and waking one costs about 100 us, so
/// a round trip between two CPUs mostly measures the hypervisor. On one
/// CPU it measures the pipe and the queue.
fn on_one_cpu<T>(f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    let size = size_of::<libc::cpu_set_t>();
    // SAFETY: `cpu_set_t` is a plain bit array: all zeros is the empty set.
    let (mut all, mut one): (libc::cpu_set_t, libc::cpu_set_t) =
        unsafe { (std::mem::zeroed(), std::mem::zeroed()) };
    // SAFETY: the kernel fills `all`, which is `size` bytes long.
    if unsafe { libc::sched_getaffinity(0, size, &mut all) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    // SAFETY: CPU_ISSET reads bit `cpu` of the set, and `cpu` < CPU_SETSIZE.
    let first = (0..libc::CPU_SETSIZE as usize).find(|&cpu| unsafe { libc::CPU_ISSET(cpu, &all) });
    // SAFETY: CPU_SET sets one bit, and the cpu is < CPU_SETSIZE (or 0).
    unsafe { libc::CPU_SET(first.unwrap_or(0), &mut one) };
    // SAFETY: `one` and `all` are valid sets of `size` bytes.
    unsafe { libc::sched_setaffinity(0, size, &one) };
    let result = f();
    // SAFETY: as above; this restores the affinity we started with.
    unsafe { libc::sched_setaffinity(0, size, &all) };
    result
}

/// MiB/s of `send_bytes` to `recv_bytes`, one way, `total` bytes in all.
fn throughput(size: usize, total: usize) -> Result<f64, Error> {
    throughput_with(size, total, false)
}

/// [`throughput`] to `recv_bytes_into` one buffer, reused.
fn throughput_into(size: usize, total: usize) -> Result<f64, Error> {
    throughput_with(size, total, true)
}

fn throughput_with(size: usize, total: usize, into: bool) -> Result<f64, Error> {
    let count = (total / size).max(1);
    let (parent, child) = pipe(true)?;
    let mut drain = Process::new(move || -> Result<(), Error> {
        let mut buffer = vec![0; if into { size } else { 0 }];
        for _ in 0..count {
            match into {
                true => drop(child.recv_bytes_into(&mut buffer)?),
                false => drop(child.recv_bytes()?),
            }
        }
        child.send(&true) // everything has been read
    })
    .daemon(true);
    drain.start()?;
    let payload = vec![b'x'; size];
    let elapsed = seconds(|| {
        for _ in 0..count {
            parent.send_bytes(&payload)?;
        }
        parent.recv::<bool>().map(drop)
    })?;
    drain.join()?;
    Ok((count * size) as f64 / elapsed / (1 << 20) as f64)
}

/// Sequential, pool and ideal times for tutorial 002's race, each the
/// best of `repeats` runs: these runs take a tenth of a second, and a
/// moment's load elsewhere would otherwise decide the figure.
fn factorize_figures(numbers: [u64; 4], repeats: usize) -> Result<(f64, f64, f64), Error> {
    let pool = Pool::new(cpu_count())?;
    let (mut sequential, mut in_pool, mut largest) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..repeats {
        // black_box: the results are unused, and must not be optimised away.
        sequential.push(seconds(|| {
            numbers.iter().for_each(|&n| drop(black_box(factorize(n))));
            Ok(())
        })?);
        largest.push(seconds(|| {
            black_box(factorize(numbers[0]));
            Ok(())
        })?);
        in_pool.push(seconds(|| pool.map(factorize, numbers).map(drop))?);
    }
    let best = |runs: Vec<f64>| runs.into_iter().fold(f64::INFINITY, f64::min);
    let (sequential, largest) = (best(sequential), best(largest));
    let ideal = largest.max(sequential / cpu_count() as f64);
    Ok((sequential, best(in_pool), ideal))
}

/// KiB of private memory (USS) of a forked child that only sleeps.
fn child_uss() -> Result<f64, Error> {
    let mut p = Process::new(|| sleep(Duration::from_secs(2)));
    p.start()?;
    sleep(Duration::from_millis(300));
    let rollup = std::fs::read_to_string(format!("/proc/{}/smaps_rollup", p.pid().unwrap_or(0)))?;
    p.terminate()?;
    p.join()?;
    let private = rollup
        .lines()
        .filter(|l| l.starts_with("Private_Clean:") || l.starts_with("Private_Dirty:"));
    Ok(private
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .sum())
}

/// A bare `fork`, `_exit` and `waitpid`: what the OS alone needs.
fn bare_fork_join() -> Result<(), Error> {
    // SAFETY: this program has one thread; the child only calls the
    // async-signal-safe `_exit`.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error().into()),
        // SAFETY: in the child, leave at once, running nothing of ours.
        0 => unsafe { libc::_exit(0) },
        // SAFETY: waiting for the child just forked.
        child => match unsafe { libc::waitpid(child, std::ptr::null_mut(), 0) } {
            -1 => Err(std::io::Error::last_os_error().into()),
            _ => Ok(()),
        },
    }
}

/// Microseconds for 16 bytes to go to a forked child and back over a bare
/// `socketpair` with `write` and `read`: the floor under the round trips.
fn floor_socketpair_roundtrip(repeats: usize) -> Result<f64, Error> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fds.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    let [ours, theirs] = fds;
    let mut buf = [0u8; 16];
    // SAFETY: one thread; the child only reads, writes and `_exit`s.
    let child = unsafe { libc::fork() };
    if child == 0 {
        // SAFETY: `buf` is 16 bytes; the child echoes until end-of-file.
        unsafe {
            libc::close(ours);
            while libc::read(theirs, buf.as_mut_ptr().cast(), 16) == 16 {
                libc::write(theirs, buf.as_ptr().cast(), 16);
            }
            libc::_exit(0);
        }
    }
    // SAFETY: closing our copy of the child's end, then echoing with it.
    unsafe { libc::close(theirs) };
    let round_trip = |buf: &mut [u8; 16]| unsafe {
        // SAFETY: `buf` is 16 bytes.
        libc::write(ours, buf.as_ptr().cast(), 16);
        libc::read(ours, buf.as_mut_ptr().cast(), 16);
    };
    round_trip(&mut buf);
    let elapsed = seconds(|| {
        (0..repeats).for_each(|_| round_trip(&mut buf));
        Ok(())
    })?;
    // SAFETY: closing our end ends the child's loop; then we reap it.
    unsafe {
        libc::close(ours);
        libc::waitpid(child, std::ptr::null_mut(), 0);
    }
    Ok(elapsed / repeats as f64 * 1e6)
}

/// What each competing process does in the `_loaded` condition.
fn busy_loop() {
    loop {
        black_box(spin(1_000_000));
    }
}

/// Run `f` while one busy-looping process per CPU competes for them.
fn loaded<T>(f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    let mut busy: Vec<Process> = (0..cpu_count())
        .map(|_| Process::new(busy_loop).daemon(true))
        .collect();
    busy.iter_mut().try_for_each(Process::start)?;
    let result = f();
    busy.iter().try_for_each(Process::terminate)?;
    busy.iter().try_for_each(Process::join)?;
    result
}

/// Every figure, in the twin's order. Rust repeats the factorize race
/// (a fraction of a second here) where the twin runs it once a round.
fn measure(quick: bool) -> Result<Vec<Figure>, Error> {
    let items = if quick { 2_000 } else { 100_000 };
    let repeats = if quick { 1 } else { 5 };
    let starts = if quick { 20 } else { 200 };
    let trips = if quick { 200 } else { 10_000 };
    let mib = 1 << 20;
    let (kib_total, mib_total, big) = if quick {
        (mib, 4 * mib, 16 * mib)
    } else {
        (64 * mib, 512 * mib, 100 * mib)
    };
    let capacity = parallel_capacity(if quick { 3_000_000 } else { 100_000_000 })?;
    let ([start_join, start_join_recorded], mut floor) = start_join_and_floor(starts)?;
    let (spawn_start_join, exec_floor) = spawn_start_join_and_floor(starts)?;
    let (forkserver_start_join, beside) = forkserver_start_join(starts)?;
    floor.extend(beside);
    let floor = median(floor) * 1e6;
    let mut figures = vec![
        ("parallel_capacity", capacity, "cores"),
        ("floor_fork_join", floor, "us"),
        ("process_start_join", start_join, "us"),
        ("process_start_join_timeline", start_join_recorded, "us"),
        ("floor_exec_wait", exec_floor, "us"),
        ("spawn_start_join", spawn_start_join, "us"),
        ("forkserver_start_join", forkserver_start_join, "us"),
        (
            "pool_map_default",
            pool_map(items, None, 2 * repeats + 1)?,
            "items/s",
        ),
        (
            "spawn_pool_map_default",
            pool_map_by(StartMethod::Spawn, items, None, 2 * repeats + 1)?,
            "items/s",
        ),
        (
            "pool_map_chunksize1",
            pool_map(items, Some(1), repeats)?,
            "items/s",
        ),
        ("pipe_roundtrip", pipe_roundtrip(trips)?, "us"),
        ("queue_roundtrip", queue_roundtrip(trips)?, "us"),
        ("connection_roundtrip", connection_roundtrip(trips)?, "us"),
        ("ipc_channel_roundtrip", ipc_channel_roundtrip(trips)?, "us"),
        ("shm_attach_read", shm_attach_read(trips / 10)?, "us"),
        (
            "floor_socketpair_roundtrip_1cpu",
            on_one_cpu(|| floor_socketpair_roundtrip(trips))?,
            "us",
        ),
        (
            "pipe_roundtrip_1cpu",
            on_one_cpu(|| pipe_roundtrip(trips))?,
            "us",
        ),
        (
            "queue_roundtrip_1cpu",
            on_one_cpu(|| queue_roundtrip(trips))?,
            "us",
        ),
        (
            "pipe_roundtrip_loaded",
            loaded(|| pipe_roundtrip(trips / 10))?,
            "us",
        ),
        (
            "queue_roundtrip_loaded",
            loaded(|| queue_roundtrip(trips / 10))?,
            "us",
        ),
        ("throughput_1kib", throughput(1024, kib_total)?, "MiB/s"),
        ("throughput_1mib", throughput(mib, mib_total)?, "MiB/s"),
        ("throughput_100mib", throughput(big, 3 * big)?, "MiB/s"),
        (
            "throughput_100mib_into",
            throughput_into(big, 3 * big)?,
            "MiB/s",
        ),
    ];
    let (many, doubling) = apply_async_many(if quick { 500 } else { 10_000 })?;
    figures.extend([
        ("apply_async_many", many, "ms"),
        ("apply_async_doubling", doubling, "×"),
    ]);
    let numbers = if quick { QUICK_NUMBERS } else { NUMBERS };
    let (sequential, in_pool, ideal) = factorize_figures(numbers, repeats)?;
    figures.extend([
        ("factorize_sequential", sequential, "s"),
        ("factorize_pool", in_pool, "s"),
        ("factorize_ideal", ideal, "s"),
        ("child_uss", child_uss()?, "KiB"),
        (
            "lock_acquire_release",
            lock_acquire_release(if quick { 10_000 } else { 1_000_000 }),
            "ns",
        ),
        (
            "lock_handoff",
            lock_handoff(if quick { 1_000 } else { 100_000 })?,
            "us",
        ),
        (
            "value_add_locked",
            value_add_locked(if quick { 1_000 } else { 10_000 })?,
            "ms",
        ),
    ]);
    Ok(figures)
}

/// A program's figures, from its `name value unit` lines.
fn figures_of(command: &mut Command) -> Result<Vec<(String, f64, String)>, Error> {
    let output = command.output()?;
    if !output.status.success() {
        let why = String::from_utf8_lossy(&output.stderr).into_owned();
        return Err(Error::from(std::io::Error::other(why)));
    }
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let parse = |line: &str| {
        let words: Vec<&str> = line.split_whitespace().collect();
        let value = words.get(1)?.parse().unwrap_or(PENDING);
        Some((words.first()?.to_string(), value, words.get(2)?.to_string()))
    };
    Ok(text.lines().filter_map(parse).collect())
}

fn show(value: f64) -> String {
    match value {
        v if v.is_nan() => "—".to_owned(),
        v if v >= 100.0 => format!("{v:.0}"),
        v if v >= 10.0 => format!("{v:.1}"),
        v if v >= 0.1 || v == 0.0 => format!("{v:.3}"),
        v => format!("{v:.2e}"),
    }
}

/// How a figure compares with CPython's: "N× better" or "N× slower" (N
/// times the items/s or MiB/s, or 1/N of the time or memory).
fn against(unit: &str, rust: f64, python: f64) -> (f64, String) {
    let factor = if unit.ends_with("/s") {
        rust / python
    } else {
        python / rust
    };
    let words = match factor {
        f if f.is_nan() => String::new(),
        f if f >= 1.0 => format!("{f:.1}× better"),
        f => format!("{:.1}× slower", 1.0 / f),
    };
    (factor, words)
}

/// The floor a figure is bounded by, if any.
fn floor_of(name: &str) -> Option<&'static str> {
    match name {
        "process_start_join" => Some("floor_fork_join"),
        // what recording a timeline adds to a start and join
        "process_start_join_timeline" => Some("process_start_join"),
        "spawn_start_join" => Some("floor_exec_wait"),
        "forkserver_start_join" => Some("floor_fork_join"),
        n if n.ends_with("_roundtrip_1cpu") && !n.starts_with("floor") => {
            Some("floor_socketpair_roundtrip_1cpu")
        }
        _ => None,
    }
}

/// The target for a figure: at least this many times better than CPython,
/// or at most this many times its floor.
fn target(name: &str) -> (Option<f64>, Option<f64>) {
    match name {
        "pipe_roundtrip" | "queue_roundtrip" => (Some(1.0), None),
        "connection_roundtrip" => (Some(5.0), None),
        "shm_attach_read" => (Some(1.0), None),
        "pipe_roundtrip_1cpu" => (Some(2.0), Some(2.0)),
        "queue_roundtrip_1cpu" | "pipe_roundtrip_loaded" | "queue_roundtrip_loaded" => {
            (Some(2.0), None)
        }
        "process_start_join" => (None, Some(1.5)),
        "spawn_start_join" => (Some(30.0), Some(1.25)),
        "forkserver_start_join" => (Some(20.0), Some(1.5)),
        "throughput_1mib" | "throughput_100mib" => (Some(2.0), None),
        "pool_map_default" | "spawn_pool_map_default" => (Some(8.0), None),
        "pool_map_chunksize1" => (Some(20.0), None),
        "apply_async_many" => (Some(3.0), None),
        "child_uss" => (Some(4.0), None),
        "lock_acquire_release" => (Some(10.0), None),
        "lock_handoff" => (Some(2.0), None),
        "value_add_locked" => (Some(5.0), None),
        _ => (None, None),
    }
}

/// Run this program and its twin in turns, each round in fresh processes
/// (a process's history, such as a heap grown by an earlier figure, would
/// slow its later forks), and print the medians side by side.
fn compare(quick: bool, rounds: usize) -> Result<(), Error> {
    let flag = quick.then_some("--quick");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/benchmark.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    if Command::new(&python).arg("--version").output().is_err() {
        eprintln!("benchmark: --compare runs the twin with `{python}`, which is not here");
        eprintln!("(install CPython 3.11, or name an interpreter with PYTHON=...)");
        std::process::exit(2);
    }
    let (mut rust, mut cpython) = (Vec::new(), Vec::new());
    let started = std::time::Instant::now();
    for round in 1..=rounds {
        // What is measured, and how much is left (from the rounds so far).
        let left = match round {
            1 => "the first round says how long a round takes".to_owned(),
            _ => {
                let per_round = started.elapsed().as_secs_f64() / (round - 1) as f64;
                let left = per_round * (rounds - round + 1) as f64;
                format!("about {:.0} s left", left.ceil())
            }
        };
        eprintln!("round {round} of {rounds}: Rust's figures, then CPython's ({left})");
        rust.push(figures_of(
            Command::new(std::env::current_exe()?).args(flag),
        )?);
        cpython.push(figures_of(Command::new(&python).arg(script).args(flag))?);
    }
    let median_of = |runs: &[Vec<(String, f64, String)>], name: &str| {
        let values: Vec<f64> = runs
            .iter()
            .flatten()
            .filter(|f| f.0 == name)
            .map(|f| f.1)
            .collect();
        if values.is_empty() {
            PENDING
        } else {
            median(values)
        }
    };
    println!("| figure | Rust | CPython | unit | Rust is | vs floor | target |");
    println!("|---|---|---|---|---|---|---|");
    for (name, _, unit) in &rust[0] {
        let (ours, theirs) = (median_of(&rust, name), median_of(&cpython, name));
        let (factor, mut better) = against(unit, ours, theirs);
        let to_floor = floor_of(name).map(|floor| ours / median_of(&rust, floor));
        let (times_python, times_floor) = target(name);
        let mut goals = Vec::new();
        if let Some(t) = times_python {
            goals.push((format!("≥ {t}× CPython"), factor >= t));
        }
        if let (Some(t), Some(ratio)) = (times_floor, to_floor) {
            goals.push((format!("≤ {t}× floor"), ratio <= t));
        }
        if name == "factorize_pool" {
            // Against this machine's ideal, not against CPython, and only
            // when two busy processes really get two cores' worth.
            let ratio = ours / median_of(&rust, "factorize_ideal");
            let capacity = median_of(&rust, "parallel_capacity");
            if capacity >= 1.8 || quick {
                goals.push((format!("≤ 1.10 × ideal ({ratio:.2})"), ratio <= 1.1));
            } else {
                let why = format!("{ratio:.2} × ideal, not judged: capacity {capacity:.2} < 1.8");
                goals.push((why, true));
            }
        }
        if name == "parallel_capacity" || name.starts_with("floor_") {
            better = String::new();
        }
        let goal = goals
            .iter()
            .map(|(what, met)| match () {
                _ if what.contains("not judged") => what.clone(),
                _ if quick => format!("{what}: not judged (quick run)"),
                _ => format!("{what}: {}", if *met { "met" } else { "missed" }),
            })
            .collect::<Vec<_>>()
            .join("; ");
        let floor = to_floor.map_or(String::new(), |r| format!("{r:.2}×"));
        println!(
            "| {name} | {} | {} | {unit} | {better} | {floor} | {goal} |",
            show(ours),
            show(theirs)
        );
    }
    println!();
    println!(
        "target: what the project holds itself to, judged on this run's medians \
         (\"met\" or \"missed\"); {}",
        if quick {
            "a --quick run judges nothing: its sizes are too small to compare"
        } else {
            "\"not judged\" where the machine could not give a fair measure"
        }
    );
    Ok(())
}

/// Tutorial 002's question, measured: processes, a pool, pipes and queues,
/// here and in CPython, beside what the OS itself needs.
#[derive(clap::Parser)]
#[command(name = "benchmark")]
struct Args {
    /// Small sizes, a few seconds: to see that it works (figures not comparable)
    #[arg(long)]
    quick: bool,
    /// Run this program and python/benchmark.py in turns and print a table of
    /// medians (PYTHON=... picks the interpreter)
    #[arg(long)]
    compare: bool,
    /// How many turns each (with --compare)
    #[arg(long, requires = "compare", value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    rounds: Option<u16>,
}

fn main() -> Result<(), Error> {
    if std::env::var_os(EXIT_AT_ONCE).is_some() {
        return Ok(()); // the floor's child: an exec, and nothing else
    }
    shared::freeze_support(); // a spawned child runs its task here
    let Args {
        quick,
        compare: wanted,
        rounds,
    } = clap::Parser::parse();
    let rounds = wanted.then(|| usize::from(rounds.unwrap_or(3)));
    if cfg!(debug_assertions) && !quick {
        eprintln!(
            "benchmark: this is a debug build, whose figures mean nothing (several times slower, \
             and not evenly): run it with `cargo run --release`"
        );
    }
    if quick {
        eprintln!(
            "benchmark: --quick measures small sizes, to see that it works; it judges nothing"
        );
    }
    if let Some(rounds) = rounds {
        return compare(quick, rounds);
    }
    for (name, value, unit) in measure(quick)? {
        println!("{name} {} {unit}", show(value));
    }
    Ok(())
}
