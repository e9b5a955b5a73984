"""Tutorial 002: CPU-bound factorization, sequential vs one process per number vs Pool."""

import multiprocessing
from time import time

NUMBERS = [53541233, 21235343, 11421443, 5423123]


def factorize(number):
    """Yield every divisor of number, by trying them all (slow on purpose)."""
    for i in range(1, number + 1):
        if number % i == 0:
            yield i


class FactorizeProcess(multiprocessing.Process):
    def __init__(self, index, number, results):
        super().__init__()
        self.index = index
        self.number = number
        self.results = results

    def run(self):
        # Attributes set here live in the child and die with it (the
        # tutorial's self.factors never reached the parent): send them back.
        self.results.put((self.index, list(factorize(self.number))))


def call_factorize(number):
    return list(factorize(number))


def sequential():
    return [list(factorize(number)) for number in NUMBERS]


def one_process_per_number():
    results = multiprocessing.Queue()
    procs = [FactorizeProcess(i, number, results) for i, number in enumerate(NUMBERS)]
    for proc in procs:
        proc.start()
    # Read the results before joining: a child that has put data on a Queue
    # does not exit until that data has been taken.
    factors = dict(results.get() for _ in procs)
    for proc in procs:
        proc.join()
    return [factors[i] for i in range(len(NUMBERS))]


def pool():
    with multiprocessing.Pool(len(NUMBERS)) as p:
        return p.map(call_factorize, NUMBERS)


if __name__ == "__main__":
    for title, variant in [
        ("sequential", sequential),
        ("one process per number", one_process_per_number),
        ("pool", pool),
    ]:
        print(f"{title}:")
        start = time()
        results = variant()
        elapsed = time() - start
        for result in results:
            print(result)
        print("Took %.3f seconds" % elapsed)
