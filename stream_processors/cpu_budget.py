"""A share of one core for work that a request can ask for, so asking often cannot take more.

An exact explanation of a tree model scores 2^m rows (41 ms of CPU with 11 features,
a few hundred with 14), in the processor that scores the stream. The budget counts the
CPU such work really took, in windows of a second, and refuses more once the window's
share is spent; the caller answers 429.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class CpuBudget:
    """At most ``share`` of one core over each ``window`` seconds.

    >>> cpu = iter([0.0, 0.3]).__next__
    >>> budget = CpuBudget(0.1, clock=lambda: 0.0, cpu=cpu)
    >>> with budget.spending():
    ...     pass
    >>> budget.allows()
    False
    """

    def __init__(self, share: float, *, window: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 cpu: Callable[[], float] = time.thread_time) -> None:
        self.limit = share * window
        self.window = window
        self._clock, self._cpu = clock, cpu
        self._began = clock()
        self._spent = 0.0
        self._lock = threading.Lock()

    def allows(self) -> bool:
        with self._lock:
            now = self._clock()
            if now - self._began >= self.window:
                # What one piece of work overspent is carried, so a long one waits longer.
                self._spent = max(0.0, self._spent - self.limit)
                self._began = now
            return self._spent < self.limit

    @contextmanager
    def spending(self) -> Iterator[None]:
        """Charge the CPU the block takes in this thread."""
        began = self._cpu()
        try:
            yield
        finally:
            with self._lock:
                self._spent += self._cpu() - began


__all__ = ["CpuBudget"]
