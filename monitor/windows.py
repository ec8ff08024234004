"""Windows bounded by both a record count and a span of event time.

:class:`WindowClock` cuts a stream into tumbling windows (a window closes at its
``max_events``-th record, or before the first record ``max_seconds`` of event time
after its start).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from contracts.records import RunSummary

# Events one vectorised pass over a batch takes at most. A replay hands the monitor
# hundreds of thousands of events a batch; in one pass their arrays (a labeled
# window's 2,000 score cells, a feature window's cells, each closing window) outgrow
# the caches and come fresh from the kernel, and the replay cost 2 to 3 times the CPU
# an event. In passes of this size a batch costs what a small one does.
PASS_EVENTS: Final = 10_000


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


__all__ = ["PASS_EVENTS", "Segment", "WindowClock", "spanned"]
