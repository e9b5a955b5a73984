"""Tutorial 004, daemon block: main exits while its daemon child still sleeps."""

# The tutorial says "Exit" is printed after "Main process terminated", as if
# the daemon outlived main. In CPython it never is: when main finishes, it
# terminates its daemon children before exiting.

import multiprocessing
import time


def daemon():
    print("Start")
    time.sleep(5)
    print("Exit")


def main():
    d = multiprocessing.Process(name="daemon", target=daemon)
    d.daemon = True

    d.start()
    time.sleep(3)
    print("Main process terminated")


if __name__ == "__main__":
    main()
