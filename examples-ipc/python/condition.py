"""Beyond the tutorials (PyMOTW-3 "Synchronizing Operations"): stage 2 waits until stage 1 notifies it."""

import multiprocessing


def stage_1(cond):
    """Do the first stage of the work, then notify stage 2."""
    name = multiprocessing.current_process().name
    print(f"Starting {name}", flush=True)
    with cond:
        print(f"{name} done and ready for stage 2", flush=True)
        cond.notify_all()


def stage_2(cond, ready):
    """Wait for stage 1 to say it is done."""
    name = multiprocessing.current_process().name
    print(f"Starting {name}", flush=True)
    with cond:
        ready.release()  # "I am waiting": main starts stage 1 only then
        cond.wait()
        print(f"{name} running", flush=True)


if __name__ == "__main__":
    condition = multiprocessing.Condition()
    ready = multiprocessing.Semaphore(0)
    s1 = multiprocessing.Process(name="s1", target=stage_1, args=(condition,))
    s2_clients = [
        multiprocessing.Process(name=f"stage_2[{i}]", target=stage_2, args=(condition, ready))
        for i in range(1, 3)
    ]
    for c in s2_clients:
        c.start()
    for _ in s2_clients:
        ready.acquire()  # PyMOTW sleeps 1 s here instead
    s1.start()
    s1.join()
    for c in s2_clients:
        c.join()
