"""The CPython docs, "Listeners and Clients": a listener with a key accepts a
client, plain data and bytes cross, and a client with the wrong key is
refused on both sides. The docs' listener and client are two programs; here
the client runs in a child so that one program shows both ends."""

import multiprocessing
from array import array
from multiprocessing.connection import Client, Listener

KEY = b"secret password"


def client(address):
    with Client(address, authkey=KEY) as conn:
        print(conn.recv())
        print(conn.recv_bytes())
        arr = array("i", [0, 0, 0, 0, 0])
        print(conn.recv_bytes_into(arr))
        print(arr.tolist())


def impostor(address):
    try:
        Client(address, authkey=b"wrong password")
    except multiprocessing.AuthenticationError as e:
        print(f"client with the wrong key: {type(e).__name__}: {e}")


def main():
    # Port 0: the kernel picks a free one, and `address` says which.
    with Listener(("127.0.0.1", 0), authkey=KEY) as listener:
        p = multiprocessing.Process(target=client, args=(listener.address,))
        p.start()
        with listener.accept() as conn:
            print("connection accepted from", listener.last_accepted[0])
            # The docs also send `float`, the class: a Rust end takes plain data only.
            conn.send((2.25, None, "junk"))
            conn.send_bytes(b"hello")
            conn.send_bytes(array("i", [42, 1729]))
        p.join()

        p = multiprocessing.Process(target=impostor, args=(listener.address,))
        p.start()
        try:
            listener.accept()
        except multiprocessing.AuthenticationError as e:
            refused = e
        p.join()  # the client's line first, then the listener's
        print(f"listener: {type(refused).__name__}: {refused}")


if __name__ == "__main__":
    main()
