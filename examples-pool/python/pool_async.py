"""Beyond the tutorials: apply_async with a timeout, imap_unordered, and a worker's exception."""

import multiprocessing
import time


def nap(seconds):
    time.sleep(seconds)
    return seconds


def fail(n):
    raise ValueError(f"bad input {n}")


if __name__ == "__main__":
    with multiprocessing.Pool(3) as pool:
        # get(timeout) gives up waiting; the task itself keeps running.
        result = pool.apply_async(nap, (1.0,))
        try:
            result.get(timeout=0.1)
        except multiprocessing.TimeoutError:
            print("get(timeout=0.1) timed out; the task is still running")
        print("get() ->", result.get())

        # imap_unordered yields each result as soon as it is ready; the naps
        # are 0.3 s apart so the finishing order is not left to chance.
        for seconds in pool.imap_unordered(nap, [0.9, 0.3, 0.6]):
            print("imap_unordered yielded", seconds)

        # The worker's exception is pickled and raised again here, in get().
        result = pool.apply_async(fail, (3,))
        try:
            result.get()
        except Exception as e:
            print(f"{type(e).__name__}: {e}")
        print("successful() ->", result.successful())

        # The pool is still usable after a task failed.
        print("apply(nap, (0,)) ->", pool.apply(nap, (0,)))
    # Leaving the with block calls terminate(), not close() and join().
