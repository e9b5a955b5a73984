"""Tutorial 004, "Process Communication": passing a message through a Queue."""

import os
import sys

# This file is named queue.py, and Python puts the script's folder first on
# sys.path, where it would hide the standard library's `queue` module that
# multiprocessing imports. Take that folder off the path first.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p) != _here]

import multiprocessing  # noqa: E402 (must come after the sys.path fix)
import time  # noqa: E402


def set_data(q):
    p = multiprocessing.current_process()
    msg = "Hello world"
    q.put(msg)
    print(f"[{p.name}] set queue data : {msg}")


def get_data(q):
    time.sleep(1)
    p = multiprocessing.current_process()
    print(f"[{p.name}] get queue data : {q.get()}")


def main():
    queue = multiprocessing.Queue()

    p1 = multiprocessing.Process(name="set_data", target=set_data, args=(queue,))
    p1.start()

    p2 = multiprocessing.Process(name="get_data", target=get_data, args=(queue,))
    p2.start()

    p1.join()
    p2.join()


if __name__ == "__main__":
    main()
