"""Tutorial 003, section 6 "terminate()": killing a process and reading its state."""

import multiprocessing
import time


def slow_worker():
    print("Starting worker")
    time.sleep(1)
    print("Finished worker")


if __name__ == "__main__":
    p = multiprocessing.Process(target=slow_worker)
    print("BEFORE:", p, p.is_alive())

    p.start()
    # The tutorial terminated the child at once, so whether "Starting worker"
    # got printed first was up to the scheduler. A short pause lets the
    # child reach its sleep, which terminate() then cuts short.
    time.sleep(0.2)
    print("DURING:", p, p.is_alive())

    # terminate() only sends SIGTERM and returns: the child usually has not
    # died yet, so it still looks alive and its repr still says "started".
    # (Usually: if it dies within these few microseconds, is_alive() reaps it
    # and this line reads "stopped exitcode=-SIGTERM> False".)
    p.terminate()
    print("TERMINATED:", p, p.is_alive())

    p.join()
    print("JOINED:", p, p.is_alive())
