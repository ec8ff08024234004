"""Slow a process down from outside: SIGSTOP for part of every period, SIGCONT for the rest.

Every thread of the process stops, librdkafka's included, so the duty cycle must
keep the longest stop far below the heartbeat interval (3 s) and the gap between
two polls far below ``max.poll.interval.ms`` (5 min). The signals come from a child
process of their own, so the test's threads (a producer busy with the GIL) do not
stretch the stops. Run as ``python -m tests.faults.throttle PID STOPPED_S RUNNING_S``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType, TracebackType

ROOT = Path(__file__).resolve().parents[2]


class Throttle:
    """While entered, ``pid`` runs ``running_s`` of every ``stopped_s + running_s`` seconds."""

    def __init__(self, pid: int, *, stopped_s: float, running_s: float) -> None:
        self.pid = pid
        self.args = [str(pid), str(stopped_s), str(running_s)]
        self._child: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Throttle:
        self._child = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "tests.faults.throttle", *self.args], cwd=ROOT,
            stdin=subprocess.DEVNULL)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._child is not None:
            self._child.terminate()
            self._child.wait(10)
        # Whatever happened to the throttler, the process must not stay stopped.
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGCONT)


def _exit(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(pid: int, stopped_s: float, running_s: float) -> None:
    signal.signal(signal.SIGTERM, _exit)
    # A test that dies mid-run must not leave the process stopped.
    parent = os.getppid()
    try:
        while os.getppid() == parent:
            os.kill(pid, signal.SIGSTOP)
            time.sleep(stopped_s)
            os.kill(pid, signal.SIGCONT)
            time.sleep(running_s)
    except ProcessLookupError:
        return
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]))
