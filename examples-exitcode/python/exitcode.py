"""Tutorial 003, section 7 "Process exit status": exitcode for each way a child can end."""

import multiprocessing
import sys
import time


def exit_error():
    sys.exit(1)


def exit_ok():
    return


def return_value():
    return 1  # a target's return value is ignored: exit code 0


def raises():
    raise RuntimeError("There was an error!")


def terminated():
    time.sleep(3)


if __name__ == "__main__":
    jobs = []
    funcs = [exit_error, exit_ok, return_value, raises, terminated]
    for f in funcs:
        print("Starting process for", f.__name__)
        j = multiprocessing.Process(target=f, name=f.__name__)
        jobs.append(j)
        j.start()

    jobs[-1].terminate()

    for j in jobs:
        j.join()
        print(f"{j.name:>15}.exitcode = {j.exitcode}")
    # The raises child writes "Process raises:" and its traceback to stderr
    # whenever it gets to run, so those lines land at a point in the output
    # that the scheduler decides.
