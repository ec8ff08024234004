"""Every figure's windows over time, for the ops page's charts and reports. Bounded.

The page draws a figure's last ``points`` windows. A report for a time range needs
more than that, so each series also keeps up to ``archive`` points covering everything
since the monitor started, each point the mean of an equal number of windows: when
the archive fills, neighbours merge and that number doubles, so the whole run stays
covered at an even resolution.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np

from monitor.report import Scope, WindowKind, WindowReport, feature_values

ARCHIVE_POINTS = 512
KEPT_FEATURE_WINDOWS = 64


class Series:
    """(window end, value) points of one figure, at most ``capacity`` of them.

    Each point stands for ``stride`` consecutive windows (their mean, at the last one's
    end); when the points fill ``capacity``, neighbours merge and ``stride`` doubles.

    >>> s = Series(capacity=4, recent=2)
    >>> for t in range(7):
    ...     s.add(float(t), float(t))
    >>> s.points(), s.stride  # pairs once the four places filled; window 6 is pending
    ([(1.0, 0.5), (3.0, 2.5), (5.0, 4.5)], 2)
    >>> s.last(5)
    [(5.0, 5.0), (6.0, 6.0)]
    """

    def __init__(self, capacity: int = ARCHIVE_POINTS, recent: int = 60) -> None:
        if capacity < 2 or capacity % 2:
            raise ValueError(f"a series needs an even capacity of at least 2, got {capacity}")
        self._recent: deque[tuple[float, float]] = deque(maxlen=recent)
        self._ends = np.empty(capacity)
        self._values = np.empty(capacity)
        self._size = 0
        self.stride = 1
        # The windows gathered for the next point: how many, the finite values' sum and count.
        self._pending = (0, 0.0, 0)

    def add(self, end: float, value: float) -> None:
        self._recent.append((end, value))
        if self._size == self._ends.size:
            self._merge()
        windows, total, counted = self._pending
        if math.isfinite(value):
            total, counted = total + value, counted + 1
        windows += 1
        if windows < self.stride:
            self._pending = (windows, total, counted)
            return
        self._pending = (0, 0.0, 0)
        self._ends[self._size] = end
        self._values[self._size] = total / counted if counted else math.nan
        self._size += 1

    def _merge(self) -> None:
        pairs = self._values.reshape(-1, 2)
        finite = np.isfinite(pairs)
        with np.errstate(invalid="ignore"):  # NaN where neither of a pair is finite
            merged = np.where(finite, pairs, 0.0).sum(axis=1) / finite.sum(axis=1)
        half = self._ends.size // 2
        self._ends[:half] = self._ends[1::2]
        self._values[:half] = merged
        self._size = half
        self.stride *= 2

    def points(self, since: float | None = None, until: float | None = None) \
            -> list[tuple[float, float]]:
        """Every point kept, or those whose windows ended within ``[since, until]``."""
        ends, values = self._ends[:self._size], self._values[:self._size]
        keep = np.ones(self._size, dtype=bool)
        if since is not None:
            keep &= ends >= since
        if until is not None:
            keep &= ends <= until
        return list(zip(ends[keep].tolist(), values[keep].tolist(), strict=True))

    def last(self, n: int) -> list[tuple[float, float]]:
        """The last ``n`` windows as they were (at most ``recent`` of them)."""
        return list(self._recent)[-n:]


class KeptReports:
    """Whole reports of one scope and kind, up to ``capacity`` of them evenly covering
    the run: one every ``stride`` windows, thinned to every other when full.

    A feature window's report carries each feature's distribution (a few dozen numbers a
    feature), too much to keep for every point of the figures' archive.

    >>> kept = KeptReports(capacity=4)
    >>> for t in range(9):
    ...     kept.add(WindowReport("features", Scope("m", 1, "champion"), 0, float(t), 1, {}))
    >>> [kept.within((t, t)) is not None for t in range(9)], kept.stride
    ([False, True, False, True, False, True, False, True, False], 2)
    >>> kept.within((0.0, 4.0)).end
    3.0
    """

    def __init__(self, capacity: int = KEPT_FEATURE_WINDOWS) -> None:
        self.capacity = capacity
        self.stride = 1
        self._kept: list[tuple[int, WindowReport]] = []  # (window number, its report)
        self._windows = 0

    def add(self, report: WindowReport) -> None:
        self._windows += 1
        if self._windows % self.stride:
            return
        if len(self._kept) == self.capacity:
            self.stride *= 2
            self._kept = [(n, r) for n, r in self._kept if n % self.stride == 0]
            if self._windows % self.stride:
                return
        # Made whole now: a report reads its figures from the tables of its batch's
        # windows, which it would otherwise keep alive.
        self._kept.append((self._windows, replace(report, features=dict(report.features))))

    def within(self, span: tuple[float, float]) -> WindowReport | None:
        """The last report kept that ended within ``span``."""
        return next((r for _, r in reversed(self._kept) if span[0] <= r.end <= span[1]), None)


@dataclass
class History:
    """Per (scope, window kind): the latest report and the series of each figure.

    >>> h = History(points=2)
    >>> for v in (0.1, 0.2, 0.3):
    ...     h.add(WindowReport("labels", Scope("m", 1, "champion"), 0, v * 10, 500, {"f1": v}))
    >>> h.line(Scope("m", 1, "champion"), "labels", "f1")
    [0.2, 0.3]
    >>> h.timed(Scope("m", 1, "champion"), "labels", "f1")  # (window end, value)
    [(2.0, 0.2), (3.0, 0.3)]
    >>> h.timed(Scope("m", 1, "champion"), "labels", "f1", span=(0.0, 2.5))
    [(1.0, 0.1), (2.0, 0.2)]
    """

    points: int = 60
    archive: int = ARCHIVE_POINTS
    latest: dict[tuple[Scope, WindowKind], WindowReport] = field(default_factory=dict)
    series: dict[tuple[Scope, str, str], Series] = field(default_factory=dict)
    kept_features: dict[Scope, KeptReports] = field(default_factory=dict)

    def add(self, report: WindowReport) -> None:
        self.latest[(report.scope, report.kind)] = report
        if report.kind == "features" and report.judged:
            self.kept_features.setdefault(report.scope, KeptReports()).add(report)
        values = dict(report.figures)
        values.update((f"psi:{n}", math.nan if v is None else v) for n, v in zip(
            report.features, feature_values(report.features, "psi"), strict=True))
        for name, value in values.items():
            key = (report.scope, report.kind, name)
            line = self.series.get(key)
            if line is None:
                line = self.series[key] = Series(self.archive, self.points)
            line.add(report.end, value if math.isfinite(value) else math.nan)

    def line(self, scope: Scope, kind: str, name: str) -> list[float]:
        return [value for _, value in self.timed(scope, kind, name)]

    def timed(self, scope: Scope, kind: str, name: str, *,
              span: tuple[float, float] | None = None) -> list[tuple[float, float]]:
        """The last ``points`` windows (end in event time, epoch seconds; value), or every
        window kept that ended within ``span``."""
        line = self.series.get((scope, kind, name))
        if line is None:
            return []
        return line.last(self.points) if span is None else line.points(*span)

    def features_within(self, scope: Scope, span: tuple[float, float]) -> WindowReport | None:
        """The last feature window kept for ``scope`` that ended within ``span``."""
        kept = self.kept_features.get(scope)
        return None if kept is None else kept.within(span)

    def forget(self, scopes: Iterable[Scope]) -> None:
        gone = set(scopes)
        for scope in gone:
            self.kept_features.pop(scope, None)
        for key in [k for k in self.latest if k[0] in gone]:
            del self.latest[key]
        for skey in [k for k in self.series if k[0] in gone]:
            del self.series[skey]


__all__ = ["ARCHIVE_POINTS", "KEPT_FEATURE_WINDOWS", "History", "KeptReports", "Series"]
