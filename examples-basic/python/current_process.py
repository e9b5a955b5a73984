"""Tutorial 003, section 3 "Determining the current process": process names."""

import multiprocessing
import time


def worker():
    name = multiprocessing.current_process().name
    print(name, "Starting")
    time.sleep(2)
    print(name, "Exiting")


def my_service():
    name = multiprocessing.current_process().name
    print(name, "Starting")
    time.sleep(3)
    print(name, "Exiting")


if __name__ == "__main__":
    # Every Process object takes the next number, named or not: service is
    # number 1, worker_1 number 2, so the unnamed worker_2 is Process-3.
    service = multiprocessing.Process(name="my_service", target=my_service)
    worker_1 = multiprocessing.Process(name="worker 1", target=worker)
    worker_2 = multiprocessing.Process(target=worker)  # default name

    worker_1.start()
    worker_2.start()
    service.start()
    # The three Starting lines come in any order, as do the two workers'
    # Exiting lines; my_service sleeps longest, so it exits last.
