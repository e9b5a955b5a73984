"""Tutorial 003, section 9 "Subclassing Process": run() overridden in a subclass."""

import multiprocessing


class Worker(multiprocessing.Process):
    def run(self):
        # The default name comes from the class: Worker-1 ... Worker-5.
        print(f"In {self.name}")


if __name__ == "__main__":
    jobs = []
    for i in range(5):
        p = Worker()
        jobs.append(p)
        p.start()
    for j in jobs:
        j.join()
    # The five lines come in any order.
