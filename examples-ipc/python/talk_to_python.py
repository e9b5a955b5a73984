"""Beyond the tutorials, CPython's wire format: a listener and a client that
authenticate with a key and exchange a pickled list and raw bytes both ways.

Run alone, this program is both ends: it listens, and starts itself again as
the client. Given an address, it is the client only: the Rust section
`talk_to_python` listens and runs it so, and the two languages talk."""

import subprocess
import sys
from multiprocessing.connection import Client, Listener

KEY = b"shared key"


def client(address):
    with Client(address, authkey=KEY) as conn:
        fruit = conn.recv()
        print("client got:", fruit, flush=True)
        print("client got:", conn.recv_bytes(), flush=True)
        conn.send(dict(fruit, total=sum(n for _, n in fruit)))
        conn.send_bytes(b"bytes from the client")


def listener():
    # No address: a Unix socket in a fresh folder, removed on close.
    with Listener(authkey=KEY) as listening:
        other_end = subprocess.Popen([sys.executable, __file__, listening.address])
        with listening.accept() as conn:
            conn.send([("apples", 3), ("pears", 5)])
            conn.send_bytes(b"bytes from the listener")
            print("listener got:", conn.recv())
            print("listener got:", conn.recv_bytes())
        other_end.wait()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        client(sys.argv[1])
    else:
        listener()
