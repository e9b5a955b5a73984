"""Tutorial 003, section 5 "join()" (last remark): join with a timeout."""

import multiprocessing
import time


def daemon():
    name = multiprocessing.current_process().name
    print("Starting:", name)
    time.sleep(2)
    print("Exiting :", name)


def non_daemon():
    name = multiprocessing.current_process().name
    print("Starting:", name)
    print("Exiting :", name)


if __name__ == "__main__":
    d = multiprocessing.Process(name="daemon", target=daemon)
    d.daemon = True

    n = multiprocessing.Process(name="non-daemon", target=non_daemon)
    n.daemon = False

    d.start()
    time.sleep(1)
    n.start()

    # The daemon sleeps 2 s; join gives up after 0.5 s (about 1.5 s in) and
    # returns None either way, so ask is_alive() what happened.
    d.join(0.5)
    print("d.is_alive()", d.is_alive())
    n.join()
    # Main exits here and terminates the daemon before it prints Exiting.
