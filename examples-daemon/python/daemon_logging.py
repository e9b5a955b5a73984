"""Tutorial 000, third block: daemon processes that log, joined before main exits."""

import logging
import multiprocessing
import time

logging.basicConfig(level=logging.DEBUG, format="%(processName)s: %(message)s")


def worker1(i):
    logging.debug("start")
    logging.debug(i)
    time.sleep(5)
    logging.debug("end")


def worker2(i):
    logging.debug("start")
    logging.debug(i)
    logging.debug("end")


if __name__ == "__main__":
    i = 10
    p1 = multiprocessing.Process(target=worker1, args=(i,))
    p1.daemon = True

    p2 = multiprocessing.Process(name="renamed worker2", target=worker2, args=(i,))
    p2.daemon = True
    p1.start()
    p2.start()

    # Daemons are terminated when main exits, so wait for them explicitly.
    p1.join()
    p2.join()
    # The first five lines interleave in any order; "Process-1: end" comes
    # last, after its 5 s sleep.
