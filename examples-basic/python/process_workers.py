"""Tutorial 000, second block: the same two workers as processes."""

import logging
import multiprocessing

# Only two things change from the threading version: processName in the
# format, and multiprocessing.Process in place of threading.Thread.
logging.basicConfig(level=logging.DEBUG, format="%(processName)s: %(message)s")


def worker1(i):
    logging.debug("start")
    logging.debug(i)
    logging.debug("end")


def worker2(i):
    logging.debug("start")
    logging.debug(i)
    logging.debug("end")


if __name__ == "__main__":
    i = 10
    p1 = multiprocessing.Process(target=worker1, args=(i,))
    p2 = multiprocessing.Process(name="renamed worker2", target=worker2, args=(i,))
    p1.start()
    p2.start()
    # No join, yet all six lines appear: at exit the main process joins every
    # non-daemon child. The two children's lines interleave in any order.
