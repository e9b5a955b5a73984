"""The Rust section `ipc_channel` meets the `ipc-channel` crate: a spawned
child finds its parent by a name and typed messages go both ways, then the
same over a pipe. Python's counterpart of the name is a listener's address:
the spawned child connects to it with `Client`."""

import multiprocessing
from multiprocessing.connection import Client, Listener


def connection_child(address):
    with Client(address) as conn:
        got = 0
        while (n := conn.recv()) is not None:
            got += 1
            conn.send(("square", n * n))
        conn.send(("got", got))


def pipe_child(conn):
    got = 0
    while (n := conn.recv()) is not None:
        got += 1
        conn.send(("square", n * n))
    conn.send(("got", got))


def report(label, answer, asked):
    kind, value = answer
    if kind == "square":
        print(f"{label}: asked {asked}, got {value}")
    else:
        print(f"{label}: the child got {value} questions")


def main():
    with Listener() as listener:
        spawn = multiprocessing.get_context("spawn")
        child = spawn.Process(target=connection_child, args=(listener.address,))
        child.start()
        with listener.accept() as conn:
            for n in [3, 4, None]:
                conn.send(n)
                report("connection", conn.recv(), n)
        child.join()

    mine, theirs = multiprocessing.Pipe()
    child = multiprocessing.Process(target=pipe_child, args=(theirs,))
    child.start()
    for n in [3, 4, None]:
        mine.send(n)
        report("pipe", mine.recv(), n)
    child.join()


if __name__ == "__main__":
    main()
