"""Tutorial 003, section 2 "Importable target functions": the target lives in another module."""

import multiprocessing

import importable_worker  # python/importable_worker.py, beside this file

if __name__ == "__main__":
    jobs = []
    for i in range(5):
        p = multiprocessing.Process(target=importable_worker.worker)
        jobs.append(p)
        p.start()
