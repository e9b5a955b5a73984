"""Tutorial 003, section 8 "Debugging": get_logger() to set the level (INFO) yourself."""

import logging
import multiprocessing


def worker():
    print("Doing some work")


if __name__ == "__main__":
    multiprocessing.log_to_stderr()
    logger = multiprocessing.get_logger()
    logger.setLevel(logging.INFO)  # the DEBUG lines of log_to_stderr.py vanish
    p = multiprocessing.Process(target=worker)
    p.start()
    p.join()
