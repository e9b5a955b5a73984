"""Beyond the tutorials (PyMOTW-3 "Controlling Concurrent Access to Resources"): at most 2 of 6 workers at once."""

import multiprocessing
import time


def worker(sem, inside):
    name = multiprocessing.current_process().name
    with sem:
        with inside.get_lock():
            inside.value += 1
            print(f"{name} enters ({inside.value} inside)", flush=True)
        time.sleep(0.1)
        with inside.get_lock():
            inside.value -= 1
            print(f"{name} leaves ({inside.value} inside)", flush=True)


if __name__ == "__main__":
    sem = multiprocessing.Semaphore(2)
    inside = multiprocessing.Value("i", 0)
    jobs = [multiprocessing.Process(target=worker, name=str(i), args=(sem, inside)) for i in range(6)]
    for j in jobs:
        j.start()
    for j in jobs:
        j.join()
