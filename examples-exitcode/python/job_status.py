"""Tutorial 004, "Process Exit": is_alive, repr and exitcode of good, failing and killed jobs."""

import multiprocessing
import sys
import time


def good_job():
    p = multiprocessing.current_process()
    print(f"Start name: {p.name}, pid: {p.pid}")
    time.sleep(5)
    print(f"Exit name: {p.name}, pid: {p.pid}")
    return 0


def fail_job():
    p = multiprocessing.current_process()
    print(f"Start name: {p.name}, pid: {p.pid}")
    time.sleep(5)
    print(f"Exit name: {p.name}, pid: {p.pid}")
    sys.exit(1)


def kill_job():
    p = multiprocessing.current_process()
    print(f"Start name: {p.name}, pid: {p.pid}")
    time.sleep(10)
    print(f"Exit name: {p.name}, pid: {p.pid}")
    return 0


def main():
    process_list = []
    for func in [good_job, fail_job, kill_job]:
        p = multiprocessing.Process(name=func.__name__, target=func)
        process_list.append(p)

        print(f"Process check : {p} {p.is_alive()}")
        p.start()
        time.sleep(0.3)

    for p in process_list:
        print(f"Process check : {p} {p.is_alive()}")

    # good_job and fail_job finish after 5 s; kill_job would need 10 s.
    time.sleep(5)

    for p in process_list:
        print(f"Process check : {p} {p.is_alive()}")
        if p.is_alive():
            print(f"Terminate process : {p}")
            p.terminate()

    # terminate() only sends SIGTERM: kill_job has usually not died yet, so
    # its exitcode still reads None. Now and then it has, and reads -15:
    # exitcode asks the kernel each time, here and in the Rust port alike,
    # and the scheduler decides which comes first.
    for p in process_list:
        print(f"Process name: {p.name}, exit code : {p.exitcode}")


if __name__ == "__main__":
    main()
