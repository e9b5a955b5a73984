"""Tutorial 004, prose after the daemon block: the same daemon, joined."""

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
    d.join()  # wait for the daemon; without this, exit would terminate it
    print("Main process terminated")


if __name__ == "__main__":
    main()
