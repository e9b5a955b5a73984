"""Tutorial 002's question, measured: what processes, pools, pipes and queues cost in CPython.

The OS floors (a bare fork, a bare socketpair) are measured by the Rust side only,
as is process_start_join_timeline (what recording a timeline costs the Rust side).
"""

import multiprocessing
import os
import statistics
import sys
import time
from multiprocessing import shared_memory
from multiprocessing.connection import Client, Listener

# Tutorial 002's numbers; --quick uses small ones.
NUMBERS = [53541233, 21235343, 11421443, 5423123]
QUICK_NUMBERS = [53541, 21235, 11421, 5423]


def factorize(number):
    """Every divisor of number, by trying them all (tutorial 002's loop)."""
    return [i for i in range(1, number + 1) if number % i == 0]


def empty():
    pass


def double(n):
    return n * 2


def spin(iterations):
    total = 0
    for i in range(iterations):
        total += i
    return total


def timed(function, *args):
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def parallel_capacity():
    """How many cores' worth of work two busy processes get done at once."""
    iterations = 1_000_000
    # The best of three: a busy moment elsewhere only ever slows a run down.
    alone = min(timed(run_spinners, 1, iterations) for _ in range(3))
    together = min(timed(run_spinners, os.cpu_count(), iterations) for _ in range(3))
    return os.cpu_count() * alone / together


def run_spinners(count, iterations):
    procs = [multiprocessing.Process(target=spin, args=(iterations,)) for _ in range(count)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()


def start_join(repeats, method="fork"):
    ctx = multiprocessing.get_context(method)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        p = ctx.Process(target=empty)
        p.start()
        p.join()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def pool_map(items, chunksize, repeats, method="fork"):
    with multiprocessing.get_context(method).Pool(2) as pool:
        pool.map(double, range(items), chunksize)  # warm up, as the Rust side does
        times = [timed(pool.map, double, range(items), chunksize) for _ in range(repeats)]
    return items / statistics.median(times)


def apply_async_many(calls):
    """Milliseconds for `calls` apply_async of a tiny function, then get on each; and the ratio for twice as many."""
    with multiprocessing.Pool(2) as pool:
        def run(calls):
            start = time.perf_counter()
            results = [pool.apply_async(double, (n,)) for n in range(calls)]
            for n, result in enumerate(results):
                assert result.get() == 2 * n
            return time.perf_counter() - start
        once = statistics.median(run(calls) for _ in range(3))
        twice = statistics.median(run(2 * calls) for _ in range(3))
    return once * 1e3, twice / once


def echo_pipe(conn):
    while (message := conn.recv()) is not None:
        conn.send(message)


def pipe_roundtrip(repeats):
    parent, child = multiprocessing.Pipe()
    p = multiprocessing.Process(target=echo_pipe, args=(child,))
    p.start()
    message = ("ping", 42)
    parent.send(message)
    parent.recv()
    start = time.perf_counter()
    for _ in range(repeats):
        parent.send(message)
        parent.recv()
    elapsed = time.perf_counter() - start
    parent.send(None)
    p.join()
    return elapsed / repeats * 1e6


def echo_connection(address):
    with Client(address, authkey=b"benchmark") as conn:
        while (message := conn.recv()) is not None:
            conn.send(message)


def connection_roundtrip(repeats):
    with Listener(authkey=b"benchmark") as listener:
        p = multiprocessing.Process(target=echo_connection, args=(listener.address,))
        p.start()
        with listener.accept() as conn:
            message = ("ping", 42)
            conn.send(message)
            conn.recv()
            start = time.perf_counter()
            for _ in range(repeats):
                conn.send(message)
                conn.recv()
            elapsed = time.perf_counter() - start
            conn.send(None)
        p.join()
    return elapsed / repeats * 1e6


def shm_attach_read(repeats):
    block = shared_memory.SharedMemory(create=True, size=1 << 20)
    block.buf[:] = b"\x07" * (1 << 20)
    start = time.perf_counter()
    for _ in range(repeats):
        shm = shared_memory.SharedMemory(block.name)
        bytes(shm.buf)
        shm.close()
    elapsed = time.perf_counter() - start
    block.close()
    block.unlink()
    return elapsed / repeats * 1e6


def echo_queue(inbox, outbox):
    while (message := inbox.get()) is not None:
        outbox.put(message)


def queue_roundtrip(repeats):
    inbox, outbox = multiprocessing.Queue(), multiprocessing.Queue()
    p = multiprocessing.Process(target=echo_queue, args=(inbox, outbox))
    p.start()
    message = ("ping", 42)
    inbox.put(message)
    outbox.get()
    start = time.perf_counter()
    for _ in range(repeats):
        inbox.put(message)
        outbox.get()
    elapsed = time.perf_counter() - start
    inbox.put(None)
    p.join()
    return elapsed / repeats * 1e6


def on_one_cpu(function, *args):
    """Run function, and the children it starts, on one CPU (see benchmark.rs)."""
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})
    try:
        return function(*args)
    finally:
        os.sched_setaffinity(0, cpus)


def busy_loop():
    while True:
        spin(1_000_000)


def loaded(function, *args):
    """Run function while one busy-looping process per CPU competes for them."""
    busy = [multiprocessing.Process(target=busy_loop, daemon=True) for _ in range(os.cpu_count())]
    for p in busy:
        p.start()
    try:
        return function(*args)
    finally:
        for p in busy:
            p.terminate()
        for p in busy:
            p.join()


def drain(conn, count, size, into):
    buffer = bytearray(size if into else 0)
    for _ in range(count):
        if into:
            conn.recv_bytes_into(buffer)
        else:
            conn.recv_bytes()
    conn.send(True)


def throughput(size, total, into=False):
    """MiB/s of send_bytes -> recv_bytes, one way, `total` bytes in all;
    with `into`, to recv_bytes_into one buffer, reused."""
    count = max(1, total // size)
    reader, writer = multiprocessing.Pipe()
    p = multiprocessing.Process(target=drain, args=(writer, count, size, into))
    p.start()
    payload = b"x" * size
    start = time.perf_counter()
    for _ in range(count):
        reader.send_bytes(payload)
    reader.recv()  # the child has read everything
    elapsed = time.perf_counter() - start
    p.join()
    return count * size / elapsed / (1 << 20)


def call_factorize(number):
    return factorize(number)


def factorize_figures(numbers):
    sequential = timed(lambda: [factorize(n) for n in numbers])
    largest = timed(factorize, max(numbers))
    with multiprocessing.Pool(os.cpu_count()) as pool:
        in_pool = timed(pool.map, call_factorize, numbers)
    ideal = max(largest, sequential / os.cpu_count())
    return sequential, in_pool, ideal


def lock_acquire_release(repeats):
    """Nanoseconds for one uncontended acquire and release, in one process."""
    lock = multiprocessing.Lock()
    start = time.perf_counter()
    for _ in range(repeats):
        lock.acquire()
        lock.release()
    return (time.perf_counter() - start) / repeats * 1e9


def take_turns(lock, repeats):
    for _ in range(repeats):
        lock.acquire()
        lock.release()


def add_locked(value, repeats):
    for _ in range(repeats):
        with value.get_lock():
            value.value += 1


def timed_work(start, times, i, work, *args):
    start.wait()
    times[2 * i] = time.time_ns()
    work(*args)
    times[2 * i + 1] = time.time_ns()


def race(n, work, *args):
    """Seconds from the first child's start of `work` to the last one's end, as the Rust side measures."""
    start, times = multiprocessing.Barrier(n), multiprocessing.RawArray("Q", 2 * n)
    procs = [multiprocessing.Process(target=timed_work, args=(start, times, i, work) + args) for i in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return (max(times[1::2]) - min(times[0::2])) / 1e9


def lock_handoff(repeats):
    """Microseconds per acquisition while two processes contend for one lock."""
    return race(2, take_turns, multiprocessing.Lock(), repeats) / (2 * repeats) * 1e6


def value_add_locked(repeats):
    """Milliseconds for 4 processes to add 1 to a Value `repeats` times each, under its lock."""
    value = multiprocessing.Value("i", 0)
    seconds = race(4, add_locked, value, repeats)
    assert value.value == 4 * repeats, value.value
    return seconds * 1e3


def sleeper(seconds):
    time.sleep(seconds)


def child_uss():
    """KiB of private memory in a forked child that only sleeps."""
    p = multiprocessing.Process(target=sleeper, args=(2,))
    p.start()
    time.sleep(0.3)
    kib = 0
    with open(f"/proc/{p.pid}/smaps_rollup") as rollup:
        for line in rollup:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                kib += int(line.split()[1])
    p.terminate()
    p.join()
    return kib


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    items = 2_000 if quick else 100_000
    repeats = 1 if quick else 5
    mib = 1 << 20
    print(f"parallel_capacity {parallel_capacity():.2f} cores")
    print(f"process_start_join {start_join(20 if quick else 200):.0f} us")
    # An interpreter starts for each: 20 (not 200) keep a round near a minute.
    print(f"spawn_start_join {start_join(3 if quick else 20, 'spawn'):.0f} us")
    print(f"forkserver_start_join {start_join(20 if quick else 200, 'forkserver'):.0f} us")
    print(f"pool_map_default {pool_map(items, None, 2 * repeats + 1):.0f} items/s")
    print(f"spawn_pool_map_default {pool_map(items, None, 2 * repeats + 1, 'spawn'):.0f} items/s")
    print(f"pool_map_chunksize1 {pool_map(items, 1, repeats):.0f} items/s")
    print(f"pipe_roundtrip {pipe_roundtrip(200 if quick else 10_000):.1f} us")
    print(f"queue_roundtrip {queue_roundtrip(200 if quick else 10_000):.1f} us")
    print(f"connection_roundtrip {connection_roundtrip(200 if quick else 10_000):.1f} us")
    print(f"shm_attach_read {shm_attach_read(20 if quick else 1_000):.1f} us")
    print(f"pipe_roundtrip_1cpu {on_one_cpu(pipe_roundtrip, 200 if quick else 10_000):.1f} us")
    print(f"queue_roundtrip_1cpu {on_one_cpu(queue_roundtrip, 200 if quick else 10_000):.1f} us")
    print(f"pipe_roundtrip_loaded {loaded(pipe_roundtrip, 20 if quick else 1_000):.1f} us")
    print(f"queue_roundtrip_loaded {loaded(queue_roundtrip, 20 if quick else 1_000):.1f} us")
    print(f"throughput_1kib {throughput(1024, (1 if quick else 64) * mib):.0f} MiB/s")
    print(f"throughput_1mib {throughput(mib, (4 if quick else 512) * mib):.0f} MiB/s")
    big = (16 if quick else 100) * mib
    print(f"throughput_100mib {throughput(big, 3 * big):.0f} MiB/s")
    print(f"throughput_100mib_into {throughput(big, 3 * big, into=True):.0f} MiB/s")
    many, doubling = apply_async_many(500 if quick else 10_000)
    print(f"apply_async_many {many:.1f} ms")
    print(f"apply_async_doubling {doubling:.2f} ×")
    sequential, in_pool, ideal = factorize_figures(QUICK_NUMBERS if quick else NUMBERS)
    print(f"factorize_sequential {sequential:.3f} s")
    print(f"factorize_pool {in_pool:.3f} s")
    print(f"factorize_ideal {ideal:.3f} s")
    print(f"child_uss {child_uss()} KiB")
    print(f"lock_acquire_release {lock_acquire_release(10_000 if quick else 1_000_000):.1f} ns")
    print(f"lock_handoff {lock_handoff(1_000 if quick else 100_000):.2f} us")
    print(f"value_add_locked {value_add_locked(1_000 if quick else 10_000):.2f} ms")
