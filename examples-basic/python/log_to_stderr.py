"""Tutorial 003, section 8 "Debugging": log_to_stderr at DEBUG shows multiprocessing's own log."""

import logging
import multiprocessing


def worker():
    print("Doing some work")


if __name__ == "__main__":
    # Logs go to stderr as [LEVEL/processName] message.
    multiprocessing.log_to_stderr(logging.DEBUG)
    p = multiprocessing.Process(target=worker)
    p.start()
    p.join()
