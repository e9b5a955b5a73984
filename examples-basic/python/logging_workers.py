"""Tutorial 004, logging block: five children with multiprocessing's log at DEBUG."""

import logging
import multiprocessing


def worker(count):
    print(f"count: {count}")


def main():
    multiprocessing.log_to_stderr()
    logger = multiprocessing.get_logger()
    logger.setLevel(logging.DEBUG)

    for i in range(5):
        p = multiprocessing.Process(target=worker, args=(i,))
        p.start()
    # No join: at exit main logs "calling join() for process Process-k" for
    # each child still alive then, so how many such lines appear, and how
    # the children's lines interleave, depends on the scheduler.


if __name__ == "__main__":
    main()
