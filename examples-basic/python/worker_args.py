"""Tutorial 003, section 1 "multiprocessing basics": passing an argument to each worker."""

import multiprocessing


def worker(num):
    print("Worker:", num)


if __name__ == "__main__":
    jobs = []
    for i in range(5):
        # args must be a tuple: (i,) with the comma.
        p = multiprocessing.Process(target=worker, args=(i,))
        jobs.append(p)
        p.start()
    # The scheduler decides the order of the five lines.
