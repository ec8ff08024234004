"""Windows bounded by both a record count and a span of event time.

:class:`WindowClock` cuts a stream into tumbling windows (a window closes at its
``max_events``-th record, or before the first record ``max_seconds`` of event time
after its start). :class:`BoundedRolling` keeps river metrics over the last
``window_size`` records no older than ``period_s``: river's ``utils.Rolling`` bounds
by count only and ``utils.TimeRolling`` by time only (with an unbounded list), so
this composes the metrics with one deque that bounds both and serves them all.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


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


Update = Callable[..., None]


class BoundedRolling:
    """Feeds every record to some updaters and reverts records that fall out of the window.

    ``updaters`` are ``(update, revert)`` pairs taking the same arguments, e.g. a river
    metric's methods. ``extra`` objects are only updated: they keep their own window of
    the same size (river's ``RollingROCAUC``), and are reverted here only when a record
    expires by age, which keeps both windows the same.

    Examples
    --------
    >>> from river import metrics
    >>> mae = metrics.MAE()
    >>> r = BoundedRolling([(mae.update, mae.revert)], window_size=2, period_s=10.0)
    >>> for t, y, p in [(0, 1, 0.0), (1, 1, 1.0), (2, 1, 1.0)]: r.update(t, y, p)
    >>> mae.get(), len(r)
    (0.0, 2)
    >>> r.update(20.0, 0, 0.5); mae.get(), len(r)
    (0.5, 1)
    """

    def __init__(
        self,
        updaters: Sequence[tuple[Update, Update]],
        *,
        window_size: int,
        period_s: float,
        extra: Sequence[tuple[Update, Update]] = (),
    ) -> None:
        self.window_size = window_size
        self.period_s = period_s
        self._updaters = list(updaters)
        self._extra = list(extra)
        self._window: deque[tuple[float, tuple[object, ...]]] = deque()
        self.newest = float("-inf")

    def update(self, ts: float, *args: object) -> None:
        window = self._window
        if len(window) == self.window_size:
            old = window.popleft()[1]
            for _, revert in self._updaters:
                revert(*old)
        for update, _ in self._updaters:
            update(*args)
        for update, _ in self._extra:
            update(*args)
        window.append((ts, args))
        if ts > self.newest:
            self.newest = ts
            self._expire(ts - self.period_s)

    def _expire(self, oldest: float) -> None:
        window = self._window
        while window and window[0][0] <= oldest:  # as river's TimeRolling: (t - period, t]
            old = window.popleft()[1]
            for _, revert in self._updaters + self._extra:
                revert(*old)

    def __len__(self) -> int:
        return len(self._window)


__all__ = ["BoundedRolling", "Segment", "WindowClock"]
