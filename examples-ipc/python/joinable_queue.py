"""Tutorial 004, "Process Communication" (JoinableQueue, named only): task_done and join."""

import os
import sys

# A sibling file is named queue.py, and Python puts the script's folder first
# on sys.path, where that file would hide the standard library's `queue`
# module that multiprocessing's queues import. Take the folder off the path.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p) != _here]

import multiprocessing  # noqa: E402 (must come after the sys.path fix)


def worker(tasks, results):
    while True:
        n = tasks.get()
        if n is None:  # the sentinel: no more work for this worker
            tasks.task_done()
            break
        results.put((n, n * n))
        tasks.task_done()  # one call for each item taken with get()


if __name__ == "__main__":
    tasks = multiprocessing.JoinableQueue()
    results = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=worker, args=(tasks, results)) for _ in range(2)]
    for w in workers:
        w.start()

    for n in range(5):
        tasks.put(n)
    # join() returns once task_done() has been called for every item put.
    tasks.join()
    print("tasks.join() returned: all 5 items are done")

    # Which worker squared which number is up to the scheduler; sorting
    # prints the results in a fixed order.
    for n, square in sorted(results.get() for _ in range(5)):
        print(f"{n} squared is {square}")

    for _ in workers:
        tasks.put(None)  # one sentinel per worker
    for w in workers:
        w.join()
    print("workers stopped with exit codes", [w.exitcode for w in workers])
