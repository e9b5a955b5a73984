#!/usr/bin/env python3
"""Run every Python twin under a pseudo-terminal and keep its transcript.

Usage (from anywhere; the repository is found from this file's path):

    shared/tools/transcripts.py             # rewrite the <crate>/python/<bin>.out that changed
    shared/tools/transcripts.py --force     # rewrite them all
    shared/tools/transcripts.py --check     # compare with the .out files, exit 1 on drift
    python3.13 shared/tools/transcripts.py --check  # another CPython: known differences say so
    python3 shared/tools/transcripts.py queue pipe # only these twins (either mode)

Each twin runs as `python3 python/<bin>.py` from its crate's directory, with
stdout and stderr both on the slave side of a pty: what a learner sees on a
terminal, with stdout line-buffered as on a terminal (not `-u`, which splits a
print into several writes, and not a pipe, which block-buffers). The twins
run with the interpreter running this script; the transcripts are meant to
come from CPython 3.11.

The transcript is normalised so it does not depend on the run or the machine:
pids become `[..]` (the two rules below, mirrored by the Rust tests), the
standard library's directory becomes `[..]` and the crate's directory `.`.

MODES says how --check compares each twin with its transcript:
  exact   the output is deterministic: compare the text;
  sorted  the scheduler decides the order of lines: compare sorted lines;
  none    timings or otherwise variable output: only run it.
In every mode a twin must exit with status 0 within TIMEOUT seconds.
"""

import argparse
import concurrent.futures
import difflib
import errno
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

MODES = {
    # examples-basic
    "thread_workers": "sorted",
    "process_workers": "sorted",
    "workers": "exact",
    "worker_args": "sorted",
    "importable_target": "exact",
    "current_process": "sorted",
    "process_ids": "sorted",
    "process_doubler": "sorted",
    "subclass": "sorted",
    "subclass_named": "sorted",
    "log_to_stderr": "exact",
    "get_logger": "exact",
    "logging_workers": "none",  # how many "calling join()" lines is timing
    "start_methods": "exact",
    # examples-daemon
    "daemon": "exact",
    "daemon_join": "exact",
    "daemon_join_timeout": "exact",
    "daemon_logging": "sorted",
    "daemon_main_exit": "exact",
    "daemon_main_exit_join": "exact",
    # examples-exitcode
    "terminate": "none",  # TERMINATED may already read "stopped" (a real race)
    "exitcode": "sorted",  # where the child's traceback lands is timing
    "job_status": "none",  # exitcode right after terminate(): None or, rarely, -15
    # examples-ipc
    "queue": "exact",
    "pipe": "sorted",
    "joinable_queue": "exact",
    "simple_queue": "exact",
    "lock": "none",  # the total without the lock changes from run to run
    "condition": "sorted",
    "semaphore": "none",  # who enters when is the scheduler's
    "value_array": "exact",
    "event": "sorted",
    "listener_client": "exact",
    "talk_to_python": "exact",
    "ipc_channel": "exact",
    "shared_memory": "exact",
    # examples-pool
    "pool_map": "sorted",
    "pool_lifecycle": "exact",
    "pool_async": "exact",
    "factorize": "none",  # timings
}

# Files in python/ that are not twins of their own.
HELPERS = {"importable_worker"}
# Twins whose output is timings: run one at a time, after the others.
ALONE = {"factorize"}

# Twins this script does not run: the benchmark has its own runner.
SKIPPED = {"benchmark"}

TIMEOUT = 60.0  # seconds, per twin
JOBS = 8  # twins run at once; most of them just sleep

ROOT = Path(__file__).resolve().parents[2]
STDLIB = os.path.dirname(os.__file__)

# Rule 1: `pid:57`, `pid: 615`, `pid=1240`, `parent=1234`, `process id: 19162`.
PID = re.compile(r"(?i)\b(pid|parent|process id)(\s*[=:]\s*|\s+)(\d+)")
# Rule 2: the daemon section prints the pid last: `Starting: daemon 24852`.
PID_LAST = re.compile(r"^(Starting:|Exiting :) (.*) (\d+)$", re.MULTILINE)


def find_twins():
    """Map each twin's bin name to its file, or report files with no mode."""
    twins, unknown = {}, []
    for path in sorted(ROOT.glob("*/python/*.py")):
        name = path.stem
        if name in HELPERS or name in SKIPPED:
            continue
        if name in MODES:
            twins[name] = path
        else:
            unknown.append(path)
    return twins, unknown


def normalise(text, crate_dir):
    text = text.replace("\r\n", "\n")
    text = text.replace(STDLIB, "[..]")
    text = text.replace(str(crate_dir), ".")
    text = PID.sub(r"\1\2[..]", text)
    text = PID_LAST.sub(r"\1 \2 [..]", text)
    return text


def run_twin(path):
    """Run one twin under a pty; return (exit status or None on timeout, transcript)."""
    crate_dir = path.parent.parent.resolve()
    env = dict(os.environ, PYTHONHASHSEED="0", TERM="dumb", PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTHONUNBUFFERED", None)  # it would split lines as -u does
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, f"python/{path.name}"],
            cwd=crate_dir,
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,  # so a timeout can kill the whole group
        )
    finally:
        os.close(slave)  # else the master never sees EOF
    deadline = time.monotonic() + TIMEOUT
    chunks, timed_out = [], False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([master], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError as e:
                if e.errno == errno.EIO:  # Linux: every slave fd is closed
                    break
                raise
            if not chunk:
                break
            chunks.append(chunk)
        if not timed_out:
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                timed_out = True
        if timed_out:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
    finally:
        os.close(master)
    text = normalise(b"".join(chunks).decode("utf-8", "replace"), crate_dir)
    return (None if timed_out else proc.returncode), text


def comparable(text, mode):
    lines = text.splitlines(keepends=True)
    return sorted(lines) if mode == "sorted" else lines


# What later CPythons print differently from 3.11, the reference: for each
# version, the twins concerned, why, and how to compare them so that a
# difference of that kind is let through (an order change; a traceback's
# own lines). `--check` run by such an interpreter reports these as
# "known", not as drift.
REORDERED_EXIT = "a child logs `process exiting with exitcode N` before `process shutting down`"
KNOWN = {
    (3, 13): {
        "log_to_stderr": (REORDERED_EXIT, "sorted"),
        "get_logger": (REORDERED_EXIT, "sorted"),
        "exitcode": ("tracebacks mark the failing call with ~~~^^^ and cite other line numbers", "no-traceback"),
    },
}


def known_difference(name, old, new):
    """Why `new` differs from `old` as this interpreter is known to, or None."""
    why, mode = KNOWN.get(sys.version_info[:2], {}).get(name, (None, None))
    if why is None:
        return None
    if mode == "no-traceback":  # drop the traceback's own lines: indented ones
        strip = lambda text: sorted(l for l in text.splitlines() if not l.startswith(" "))
        return why if strip(old) == strip(new) else None
    return why if comparable(old, mode) == comparable(new, mode) else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the .out files instead of writing them")
    parser.add_argument("--force", action="store_true", help="write every transcript, changed or not")
    parser.add_argument("bins", nargs="*", help="only these twins (bin names)")
    args = parser.parse_args()

    if sys.version_info[:2] != (3, 11):
        print(f"warning: transcripts are meant to come from CPython 3.11, this is {sys.version.split()[0]}")

    twins, unknown = find_twins()
    failed = False
    if args.bins:
        missing = [b for b in args.bins if b not in twins]
        if missing:
            parser.error(f"no such twin: {', '.join(missing)}")
        names = [n for n in twins if n in args.bins]
    else:
        names = list(twins)
        for path in unknown:
            print(f"FAIL {path.relative_to(ROOT)}: not in MODES (add it there, or to HELPERS)")
            failed = True
        for name in MODES.keys() - twins.keys():
            print(f"FAIL {name}: no */python/{name}.py")
            failed = True

    # Timing-sensitive twins run alone, after the others, so that what they
    # measure is not the other twins competing for the CPUs.
    together = [n for n in names if n not in ALONE]
    alone = [n for n in names if n in ALONE]
    with concurrent.futures.ThreadPoolExecutor(JOBS) as pool:
        runs = list(pool.map(lambda n: run_twin(twins[n]), together))
    runs += [run_twin(twins[n]) for n in alone]
    for name, (status, text) in zip(together + alone, runs):
        mode = MODES[name]
        out = twins[name].with_suffix(".out")
        if status is None:
            print(f"FAIL {name}: still running after {TIMEOUT:.0f} s")
            print(text, end="")
            failed = True
            continue
        if status != 0:
            print(f"FAIL {name}: exit status {status}")
            print(text, end="")
            failed = True
            continue
        old = out.read_text() if out.exists() else None
        if not args.check:
            # Rewrite only what its mode's comparison says has changed: a
            # new order of "sorted" lines, or new timings of a "none"
            # twin, is not a change (--force rewrites anyway).
            same = old is not None and (mode == "none" or comparable(old, mode) == comparable(text, mode))
            if same and not args.force:
                print(f"unchanged {out.relative_to(ROOT)} ({mode})")
            else:
                out.write_text(text)
                print(f"wrote {out.relative_to(ROOT)} ({mode})")
            continue
        if mode == "none":
            print(f"ok {name} (none)")
            continue
        old = old or ""
        want, got = comparable(old, mode), comparable(text, mode)
        if want == got:
            print(f"ok {name} ({mode})")
        elif (why := known_difference(name, old, text)) is not None:
            print(f"known {name} (CPython {sys.version.split()[0]}): {why}")
        else:
            print(f"DRIFT {name} ({mode})")
            rel = str(out.relative_to(ROOT))
            sys.stdout.writelines(difflib.unified_diff(want, got, rel, f"{rel} (this run)"))
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
