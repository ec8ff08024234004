"""Windows bounded by both a record count and a span of event time.

:class:`WindowClock` cuts a stream into tumbling windows (a window closes at its
``max_events``-th record, or before the first record ``max_seconds`` of event time
after its start). :class:`RecentWindow` keeps the last records of a stream, bounded
by both count and age, for rolling figures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from contracts.records import RunSummary


@dataclass(frozen=True, slots=True)
class Segment:
    """Records ``[lo, hi)`` of a batch belong to the current window; ``closes`` ends it then."""

    lo: int
    hi: int
    closes: bool
    start: float
    end: float
    count: int


class WindowClock:
    """Tells which records of a batch fall in the current tumbling window.

    Examples
    --------
    >>> clock = WindowClock(max_events=3, max_seconds=10.0)
    >>> [(s.lo, s.hi, s.closes) for s in clock.segments(np.array([0.0, 1, 2, 3, 30, 31]))]
    [(0, 3, True), (3, 4, True), (4, 6, False)]
    """

    def __init__(self, *, max_events: int, max_seconds: float) -> None:
        if max_events < 1 or not max_seconds > 0:
            raise ValueError("a window needs max_events >= 1 and max_seconds > 0")
        self.max_events = max_events
        self.max_seconds = max_seconds
        self.count = 0
        self.start = 0.0
        self.end = 0.0

    def segments(self, ts: NDArray[np.float64]) -> list[Segment]:
        """Split a batch (event times in arrival order) at the window boundaries."""
        out: list[Segment] = []
        i = 0
        while i < ts.size:
            if self.count == 0:
                self.start = self.end = float(ts[i])
            part = ts[i:i + self.max_events - self.count]
            late = np.flatnonzero(part >= self.start + self.max_seconds)
            j = int(late[0]) if late.size else part.size
            if j:
                self.end = max(self.end, float(part[:j].max()))
            self.count += j
            closes = bool(late.size) or self.count >= self.max_events
            out.append(Segment(i, i + j, closes, self.start, self.end, self.count))
            if closes:
                self.count = 0
            i += j
        return out


def spanned(start: float, end: float, count: int, summary: RunSummary) -> tuple[float, float]:
    """The event times a block spans, holding ``count`` records from ``start`` to ``end``,
    once ``summary`` is added to it."""
    first, last = summary.start.timestamp(), summary.end.timestamp()
    return (first, last) if count == 0 else (min(start, first), max(end, last))


class RecentWindow:
    """The last ``size`` records no older than ``period_s`` of event time, as numpy columns.

    Records are written into a ring a batch at a time and read back as columns, so
    a rolling figure costs one vectorised pass when it is read rather than an update
    and a revert per record (river's ``utils.Rolling`` bounds by count only and
    ``utils.TimeRolling`` by time only, with an unbounded list).

    Examples
    --------
    >>> w = RecentWindow(size=3, period_s=10.0, width=1)
    >>> w.extend(np.array([0.0, 1, 2, 3]), np.array([[5.0, 6, 7, 8]]))
    >>> w.columns().tolist(), len(w)
    ([[6.0, 7.0, 8.0]], 3)
    >>> w.extend(np.array([13.5]), np.array([[9.0]]))
    >>> w.columns().tolist()
    [[9.0]]
    """

    def __init__(self, *, size: int, period_s: float, width: int) -> None:
        if size < 1 or not period_s > 0:
            raise ValueError("a rolling window needs size >= 1 and period_s > 0")
        self.size = size
        self.period_s = period_s
        self._ts = np.empty(size)
        self._values = np.empty((width, size))
        self._next = 0
        self._filled = 0
        self.newest = float("-inf")

    def extend(self, ts: NDArray[np.float64], values: NDArray[np.float64]) -> None:
        """Add records: their event times and one row per column (``width`` x ``ts.size``)."""
        if ts.size == 0:
            return
        ts, values = ts[-self.size:], values[:, -self.size:]
        at = (self._next + np.arange(ts.size)) % self.size
        self._ts[at] = ts
        self._values[:, at] = values
        self._next = int(at[-1]) + 1
        self._filled = min(self.size, self._filled + ts.size)
        self.newest = max(self.newest, float(ts.max()))

    def columns(self) -> NDArray[np.float64]:
        """The kept records' columns (in no particular order), as river's (t - period, t]."""
        live = self._ts[:self._filled] > self.newest - self.period_s
        return self._values[:, :self._filled][:, live]

    def __len__(self) -> int:
        return int(np.count_nonzero(self._ts[:self._filled] > self.newest - self.period_s))

    def oldest(self) -> float:
        """Event time of the oldest record kept (NaN when empty)."""
        ts = self._ts[:self._filled]
        live = ts[ts > self.newest - self.period_s]
        return float(live.min()) if live.size else float("nan")


__all__ = ["RecentWindow", "Segment", "WindowClock", "spanned"]
