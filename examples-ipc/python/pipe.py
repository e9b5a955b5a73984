"""Tutorial 004, "Process Communication": sending a message through a Pipe."""

import multiprocessing


def child(pipe):
    p = multiprocessing.current_process()

    msg = "Hello World"
    pipe.send(msg)

    print(f"[{p.name}] send a message to pipe : {msg}")


def main():
    parent_pipe, child_pipe = multiprocessing.Pipe()

    p = multiprocessing.Process(name="child", target=child, args=(child_pipe,))
    p.start()

    # recv() returns as soon as the child has sent, so the two lines can come
    # in either order.
    print(f"Received message : {parent_pipe.recv()}")
    p.join()


if __name__ == "__main__":
    main()
