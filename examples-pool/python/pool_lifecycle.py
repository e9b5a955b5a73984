"""Tutorial 001, close/join/terminate notes: the lifecycle of a Pool."""

import multiprocessing
import time


def slow_square(n, seconds=0.5):
    time.sleep(seconds)
    return n * n


if __name__ == "__main__":
    pool = multiprocessing.Pool(2)
    results = [pool.apply_async(slow_square, (n,)) for n in range(4)]

    # close(): no new work is accepted, but queued work still runs.
    pool.close()
    try:
        pool.apply_async(slow_square, (4,))
    except ValueError as e:
        print(f"apply_async after close: ValueError: {e}")
    print("ready after close:", [r.ready() for r in results])

    # join(): waits until the workers have finished everything queued.
    pool.join()
    print("ready after join:", [r.ready() for r in results])
    print("results:", [r.get() for r in results])

    # terminate(): stops the workers at once; queued and running work is lost.
    pool = multiprocessing.Pool(2)
    results = [pool.apply_async(slow_square, (n, 10)) for n in range(4)]
    start = time.monotonic()
    pool.terminate()
    pool.join()
    print("ready after terminate:", [r.ready() for r in results])
    print("terminate took less than 10 s:", time.monotonic() - start < 10)
    try:
        pool.map(slow_square, range(4))
    except ValueError as e:
        print(f"map after terminate: ValueError: {e}")
