"""Tutorial 003, section 2 "Importable target functions": the worker module."""


def worker():
    print("Worker")
