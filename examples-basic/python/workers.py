"""Tutorial 003, section 1 "multiprocessing basics": five processes print Worker."""

import multiprocessing


def worker():
    print("Worker")


if __name__ == "__main__":
    jobs = []
    for i in range(5):
        p = multiprocessing.Process(target=worker)
        jobs.append(p)
        p.start()
    # Main does not join; it still waits for the children when it exits.
