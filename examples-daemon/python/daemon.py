"""Tutorial 003, section 4 "Daemon": daemon vs non-daemon processes."""

import multiprocessing
import time


def daemon():
    p = multiprocessing.current_process()
    # flush=True, as the tutorial's sys.stdout.flush(): a daemon is killed at
    # exit, and a line still sitting in a pipe's buffer would die with it.
    print("Starting:", p.name, p.pid, flush=True)
    time.sleep(2)
    print("Exiting :", p.name, p.pid, flush=True)


def non_daemon():
    p = multiprocessing.current_process()
    print("Starting:", p.name, p.pid, flush=True)
    print("Exiting :", p.name, p.pid, flush=True)


if __name__ == "__main__":
    d = multiprocessing.Process(name="daemon", target=daemon)
    d.daemon = True

    n = multiprocessing.Process(name="non-daemon", target=non_daemon)
    n.daemon = False

    d.start()
    time.sleep(1)
    n.start()
    # At exit main terminates the daemon (still sleeping) and joins the
    # non-daemon, so "Exiting : daemon" never appears.
