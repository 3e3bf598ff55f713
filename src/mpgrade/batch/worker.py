"""A local grading worker: ``python -m mpgrade.batch.worker``, fed tasks over a pipe.

A fresh interpreter (not a fork of the batch process, which holds threads) imports
mpgrade once and then grades task after task. Its stdin/stdout carry only framed
pickles; stdout is moved aside first so that nothing printed by a library can corrupt
the protocol. On SIGTERM or SIGINT it kills every process it started (the students'
trees included) before dying, so stopping a batch leaves nothing behind.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import psutil

from mpgrade.batch.protocol import kill_descendants, read_frame, write_frame


def _stop(signum: int, frame: object) -> None:
    """Kill our students' trees, again while they still fork, then leave at once.

    Exiting without unwinding is deliberate: question threads still queued in the grader
    would otherwise start new trees while we wait for the running ones to end.
    """
    for _ in range(20):
        try:
            if not psutil.Process().children(recursive=True):
                break
        except psutil.Error:
            break
        kill_descendants(os.getpid())
        time.sleep(0.05)
    os._exit(128 + signum)


def main() -> int:
    from mpgrade.batch.work import grade_task

    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # stray prints go to the worker's log, not into the protocol
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        assignment, options, fmt = read_frame(requests)
        while True:
            task = read_frame(requests)
            write_frame(replies, grade_task(task, assignment, options, fmt))
    except (EOFError, BrokenPipeError):
        return 0  # the batch closed our pipe: nothing more to do


if __name__ == "__main__":
    sys.exit(main())
