"""Tutorial 004, "Process Event" (example omitted there): waiting on an Event."""

import multiprocessing
import time


def wait_for_event(e):
    name = multiprocessing.current_process().name
    print(f"{name}: waiting")
    e.wait()  # no timeout: blocks until the event is set
    print(f"{name}: e.is_set() -> {e.is_set()}")


def wait_for_event_timeout(e, t):
    name = multiprocessing.current_process().name
    print(f"{name}: waiting at most {t} s at a time")
    # wait(t) returns False when it gives up, True once the event is set.
    while not e.wait(t):
        print(f"{name}: wait({t}) timed out")
    print(f"{name}: e.is_set() -> {e.is_set()}")


if __name__ == "__main__":
    e = multiprocessing.Event()
    w1 = multiprocessing.Process(name="block", target=wait_for_event, args=(e,))
    w1.start()
    w2 = multiprocessing.Process(name="nonblock", target=wait_for_event_timeout, args=(e, 1.0))
    w2.start()

    # nonblock times out once (at 1 s) before main sets the event at 1.5 s.
    time.sleep(1.5)
    print("main: setting the event")
    e.set()
    w1.join()
    w2.join()
    # The two "waiting" lines, and the two "is_set" lines, come in either
    # order: both children run at once.
