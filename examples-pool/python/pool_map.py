"""Tutorial 001, "Pool": a pool of three processes doubles ten numbers with map."""

import os
from multiprocessing import Pool


def doubler(number):
    result = number * 2
    proc = os.getpid()
    print(f"{number} doubled to {result} by process id: {proc}")
    return result


if __name__ == "__main__":
    with Pool(3) as p:
        results = p.map(doubler, range(0, 10))
    # Workers print in any order, but map returns results in input order.
    print("map returned", results)
