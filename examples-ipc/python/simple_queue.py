"""Tutorial 004, "Process Communication" (SimpleQueue, named only): put, get and empty."""

import os
import sys

# A sibling file is named queue.py, and Python puts the script's folder first
# on sys.path, where that file would hide the standard library's `queue`
# module that multiprocessing's queues import. Take the folder off the path.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p) != _here]

import multiprocessing  # noqa: E402 (must come after the sys.path fix)


def producer(q):
    for word in ["alpha", "beta", "gamma"]:
        q.put(word)
    q.put(None)  # tells the reader there is nothing more


if __name__ == "__main__":
    q = multiprocessing.SimpleQueue()
    print("empty before:", q.empty())

    p = multiprocessing.Process(target=producer, args=(q,))
    p.start()

    # get() blocks until an item arrives; items come out in the order put.
    while (item := q.get()) is not None:
        print("got", item)

    p.join()
    print("empty after:", q.empty())
    q.close()
