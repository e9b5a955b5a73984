"""The CPython docs, multiprocessing.shared_memory: a block made by the
parent, written by a child that attaches to it by name, read back; a
ShareableList changed by a child; and the block attached by its name from
another Python program."""

import multiprocessing
import subprocess
import sys
from multiprocessing import shared_memory

# Python 3.11 attaches, prints, and forgets the block: its resource tracker
# would otherwise unlink it when that program exits (3.13 adds track=False).
OTHER = """
import sys
from multiprocessing import resource_tracker, shared_memory
shm = shared_memory.SharedMemory(sys.argv[1])
resource_tracker.unregister(shm._name, 'shared_memory')
print('python, attached by name, sees', bytes(shm.buf[:5]))
"""


def child_writes(name):
    shm = shared_memory.SharedMemory(name)  # by name: nothing inherited
    print("the child sees", list(shm.buf[:5]))
    shm.buf[:5] = b"howdy"
    shm.close()


def child_changes_the_list(name):
    sl = shared_memory.ShareableList(name=name)
    sl[0] = "HOWDY"
    sl[1] = 43
    sl.shm.close()


def main():
    shm = shared_memory.SharedMemory(create=True, size=10)
    shm.buf[:5] = bytearray([22, 33, 44, 55, 100])
    p = multiprocessing.Process(target=child_writes, args=(shm.name,))
    p.start()
    p.join()
    print("the parent reads", bytes(shm.buf[:5]), flush=True)

    subprocess.run([sys.executable, "-c", OTHER, shm.name], check=True)
    shm.close()
    shm.unlink()  # once, by one process

    sl = shared_memory.ShareableList(["howdy", 42, 0.5, True, None])
    p = multiprocessing.Process(target=child_changes_the_list, args=(sl.shm.name,))
    p.start()
    p.join()
    print("the list after the child:", list(sl))
    sl.shm.close()
    sl.shm.unlink()


if __name__ == "__main__":
    main()
