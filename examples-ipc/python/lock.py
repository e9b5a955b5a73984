"""Beyond the tutorials (PyMOTW-3 "Controlling Access to Resources"): a shared counter with and without a lock."""

import multiprocessing

TIMES = 10_000


def add_unlocked(counter, start):
    start.wait()  # all four begin together, so that they overlap
    for _ in range(TIMES):
        counter.value += 1  # a read, then a write: another process may write between them


def add_locked(counter, lock, start):
    start.wait()
    for _ in range(TIMES):
        with lock:
            counter.value += 1


if __name__ == "__main__":
    unlocked = multiprocessing.RawValue("i", 0)
    start = multiprocessing.Barrier(4)
    workers = [multiprocessing.Process(target=add_unlocked, args=(unlocked, start)) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print(f"without the lock: {unlocked.value} (at most 40000)")

    locked = multiprocessing.RawValue("i", 0)
    lock = multiprocessing.Lock()
    workers = [multiprocessing.Process(target=add_locked, args=(locked, lock, start)) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print(f"with the lock: {locked.value}")
