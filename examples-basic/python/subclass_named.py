"""Tutorial 004, class block: a Process subclass that carries its own name and args."""

import multiprocessing
import os


class Worker(multiprocessing.Process):
    def __init__(self, name, args):
        super().__init__(name=name)
        self.args = args

    def run(self):
        print(f"name: {self.name}, argument: {self.args[0]}")
        print(f"parent pid: {os.getppid()}, pid: {os.getpid()}")


def main():
    for i in range(5):
        # The tutorial wrote `name="process %i" % args(i,)`; name and args
        # are two separate arguments.
        p = Worker(name=f"process {i}", args=(i,))
        p.start()
    # Lines of different children can interleave in any order.


if __name__ == "__main__":
    main()
