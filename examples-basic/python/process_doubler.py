"""Tutorial 001, "Process": one process per number doubles it."""

import os
from multiprocessing import Process


def doubler(number):
    result = number * 2
    proc = os.getpid()
    print(f"{number} doubled to {result} by process id: {proc}")


if __name__ == "__main__":
    numbers = [0, 1, 2]
    procs = []

    for number in numbers:
        proc = Process(target=doubler, args=(number,))
        procs.append(proc)
        proc.start()

    for proc in procs:
        proc.join()
    # Three different pids; the lines come in any order.
