"""Tutorial 004, first block: each child prints its name, argument, parent pid and pid."""

import multiprocessing
import os


def worker(count):
    print(f"name: {multiprocessing.current_process().name}, argument : {count}")
    print(f"parent pid:{os.getppid()}  pid:{os.getpid()}")
    print("")


def main():
    for i in range(5):
        p = multiprocessing.Process(target=worker, name=f"process {i}", args=(i,))
        p.start()
    # Each print is one line of its own, so lines of different children can
    # interleave; the order is up to the scheduler.


if __name__ == "__main__":
    main()
