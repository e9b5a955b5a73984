"""Beyond the tutorials (003 §2, 004's __main__ remark): the same target under fork, spawn and forkserver."""

import multiprocessing
import threading

GREETING = "set when the program starts"


def show(label):
    me = multiprocessing.current_process()
    parent = multiprocessing.parent_process()
    print(f"{label}: {me.name} (parent {parent.name}) sees GREETING = {GREETING!r}", flush=True)


def start_and_join(method, label):
    p = multiprocessing.get_context(method).Process(target=show, args=(label,))
    try:
        p.start()
    except Exception as e:
        print(f"{label}: refused: {e}")
        return
    p.join()
    print(f"{p.name} exitcode {p.exitcode}")


# A spawned child imports this file as `__mp_main__`: everything above runs
# again there (GREETING gets its first value), the block below does not.
if __name__ == "__main__":
    print("default start method:", multiprocessing.get_start_method(allow_none=False))
    GREETING = "changed by main"
    for method in ["fork", "spawn", "forkserver"]:
        start_and_join(method, method)
    # Python 3.14 made Linux's default `forkserver`: a fork copies only the
    # thread that called it. 3.11 forks anyway (3.12 warns).
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait)
    helper.start()
    print(f"with {threading.active_count()} threads running:")
    for method in ["fork", "spawn", "forkserver"]:
        start_and_join(method, f"{method} beside a thread")
    stop.set()
    helper.join()
