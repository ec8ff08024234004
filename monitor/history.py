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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from monitor.report import Scope, WindowFeatures, WindowKind, WindowReport, feature_values

ARCHIVE_POINTS = 512
KEPT_FEATURE_WINDOWS = 64
PENDING_WINDOWS = 64  # windows a series holds as reported before adding them to its sums


class SeriesTable:
    """(window end, value) points of the figures of one scope's windows of one kind, at
    most ``capacity`` of them: one row per point, one column per figure, since a window
    reports all its figures at once (NaN where it did not report one).

    Each point stands for ``stride`` consecutive windows (each figure's mean over them,
    at the last one's end); when the points fill ``capacity``, neighbours merge and
    ``stride`` doubles.

    >>> s = SeriesTable(capacity=4, recent=2)
    >>> for t in range(7):
    ...     s.add(float(t), ["a", "b"], [float(t), -float(t)])
    >>> s.points("a"), s.stride  # pairs once the four places filled; window 6 is pending
    ([(1.0, 0.5), (3.0, 2.5), (5.0, 4.5)], 2)
    >>> s.last("b", 5)
    [(5.0, -5.0), (6.0, -6.0)]
    """

    def __init__(self, capacity: int = ARCHIVE_POINTS, recent: int = 60) -> None:
        if capacity < 2 or capacity % 2:
            raise ValueError(f"a series needs an even capacity of at least 2, got {capacity}")
        self.columns: dict[str, int] = {}
        # Windows as reported: their end, the names in the order reported, and values.
        self._recent: deque[tuple[float, list[str], Sequence[float]]] = deque(maxlen=recent)
        self._ends = np.empty(capacity)
        self._values = np.empty((capacity, 0))
        self._size = 0
        self.stride = 1
        # The windows gathered for the next point: how many, the last few as reported,
        # and per figure the sum and count of the finite values of the others.
        self._windows = 0
        self._pending: list[tuple[list[int], Sequence[float]]] = []
        self._total = np.zeros(0)
        self._counted = np.zeros(0, dtype=np.int64)
        self._names: list[str] = []
        self._at: list[int] = []  # the column of each of ``_names``

    def add(self, end: float, names: list[str], values: Sequence[float]) -> None:
        """One window's figures, ``values[i]`` of ``names[i]``. Judged windows come every
        hundred events: numbers are gathered as they are and summed a few dozen at a
        time."""
        if names != self._names:
            self._place(names)
        self._recent.append((end, self._names, values))
        if self._size == self._ends.size:
            self._merge()
        self._pending.append((self._at, values))
        self._windows += 1
        if self._windows < self.stride:
            if len(self._pending) == PENDING_WINDOWS:
                self._fold()
            return
        point = self._values[self._size]
        point.fill(math.nan)
        if self._windows == 1:  # a point a window: its values as they are
            point[self._at] = values
            point[np.isinf(point)] = math.nan
            self._pending = []
        else:
            self._fold()
            np.divide(self._total, self._counted, out=point, where=self._counted > 0)
            self._total[:] = 0.0
            self._counted[:] = 0
        self._windows = 0
        self._ends[self._size] = end
        self._size += 1

    def add_many(self, ends: Sequence[float], names: list[str],
                 rows: Sequence[Sequence[float]]) -> None:
        """:meth:`add` of consecutive windows that reported the same ``names``: while a
        point is a window, those that fit are placed with a few numpy calls in all."""
        if names != self._names:
            self._place(names)
        done = 0
        while done < len(rows):
            room = self._ends.size - self._size
            if self.stride > 1 or not room:
                self.add(ends[done], names, rows[done])
                done += 1
                continue
            k = min(room, len(rows) - done)
            block = np.full((k, len(self.columns)), math.nan)
            block[:, self._at] = rows[done:done + k]
            block[np.isinf(block)] = math.nan
            self._values[self._size:self._size + k] = block
            self._ends[self._size:self._size + k] = ends[done:done + k]
            self._recent.extend((ends[i], self._names, rows[i]) for i in range(done, done + k))
            self._size += k
            done += k

    def _fold(self) -> None:
        """Add the windows gathered to the sums, in the order they came."""
        rows = np.empty((len(self._pending) + 1, len(self.columns)))
        rows.fill(math.nan)
        rows[0] = self._total
        for i, (at, row) in enumerate(self._pending, 1):
            rows[i, at] = row
        finite = np.isfinite(rows)
        self._total = np.where(finite, rows, 0.0).sum(axis=0)
        self._counted += finite[1:].sum(axis=0)
        self._pending = []

    def _place(self, names: list[str]) -> None:
        new = [n for n in dict.fromkeys(names) if n not in self.columns]
        for name in new:
            self.columns[name] = len(self.columns)
        if new:
            self._values = np.hstack((self._values,
                                      np.full((self._ends.size, len(new)), math.nan)))
            self._total = np.append(self._total, np.zeros(len(new)))
            self._counted = np.append(self._counted, np.zeros(len(new), dtype=np.int64))
        self._names = list(names)
        self._at = [self.columns[n] for n in names]

    def _merge(self) -> None:
        pairs = self._values.reshape(-1, 2, self._values.shape[1])
        finite = np.isfinite(pairs)
        with np.errstate(invalid="ignore"):  # NaN where neither of a pair is finite
            merged = np.where(finite, pairs, 0.0).sum(axis=1) / finite.sum(axis=1)
        half = self._ends.size // 2
        self._ends[:half] = self._ends[1::2]
        self._values[:half] = merged
        self._size = half
        self.stride *= 2

    def points(self, name: str, since: float | None = None, until: float | None = None) \
            -> list[tuple[float, float]]:
        """Every point kept of ``name``, or those whose windows ended within ``[since,
        until]``."""
        column = self.columns.get(name)
        if column is None:
            return []
        ends, values = self._ends[:self._size], self._values[:self._size, column]
        keep = np.ones(self._size, dtype=bool)
        if since is not None:
            keep &= ends >= since
        if until is not None:
            keep &= ends <= until
        return list(zip(ends[keep].tolist(), values[keep].tolist(), strict=True))

    def last(self, name: str, n: int) -> list[tuple[float, float]]:
        """The last ``n`` windows of ``name`` as they were (at most ``recent`` of them; NaN
        where a window did not report it, or not as a finite number)."""
        if name not in self.columns:
            return []
        out = []
        for end, names, values in list(self._recent)[-n:]:
            value = values[names.index(name)] if name in names else math.nan
            out.append((end, value if math.isfinite(value) else math.nan))
        return out


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
        # A report reads its figures from the tables of its batch's windows, which it
        # would otherwise keep alive: it keeps its own window's counts alone.
        features = report.features.alone() if isinstance(report.features, WindowFeatures) \
            else dict(report.features)
        self._kept.append((self._windows, replace(report, features=features)))

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
    series: dict[tuple[Scope, str], SeriesTable] = field(default_factory=dict)
    kept_features: dict[Scope, KeptReports] = field(default_factory=dict)

    def add(self, report: WindowReport) -> None:
        self.add_all([report])

    def add_all(self, reports: Sequence[WindowReport]) -> None:
        """Reports in the order their windows closed; each series takes its own in one
        call (a batch closes dozens of windows of each kind)."""
        grouped: dict[tuple[Scope, WindowKind], list[WindowReport]] = {}
        for report in reports:
            grouped.setdefault((report.scope, report.kind), []).append(report)
        for key, group in grouped.items():
            self.latest[key] = group[-1]
            if key[1] == "features":
                kept = self.kept_features.get(key[0])
                if kept is None:
                    kept = self.kept_features[key[0]] = KeptReports()
                for report in group:
                    if report.judged:
                        kept.add(report)
            table = self.series.get(key)
            if table is None:
                table = self.series[key] = SeriesTable(self.archive, self.points)
            alike: list[WindowReport] = []
            names: list[str] = []
            for report in group:
                these = _names(report)
                if these != names and alike:
                    table.add_many([r.end for r in alike], names, [_values(r) for r in alike])
                    alike = []
                names = these
                alike.append(report)
            table.add_many([r.end for r in alike], names, [_values(r) for r in alike])

    def line(self, scope: Scope, kind: str, name: str) -> list[float]:
        return [value for _, value in self.timed(scope, kind, name)]

    def timed(self, scope: Scope, kind: str, name: str, *,
              span: tuple[float, float] | None = None) -> list[tuple[float, float]]:
        """The last ``points`` windows (end in event time, epoch seconds; value), or every
        window kept that ended within ``span``."""
        table = self.series.get((scope, kind))
        if table is None:
            return []
        return table.last(name, self.points) if span is None else table.points(name, *span)

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


def _names(report: WindowReport) -> list[str]:
    """The series a report's figures go to: its figures, then each feature's PSI."""
    names = list(report.figures)
    if report.features:
        names += [f"psi:{n}" for n in report.features]
    return names


def _values(report: WindowReport) -> list[float]:
    """The values of :func:`_names`, NaN for a feature without a PSI."""
    values = list(report.figures.values())
    if report.features:
        values += [math.nan if v is None else v for v in feature_values(report.features, "psi")]
    return values


__all__ = ["ARCHIVE_POINTS", "KEPT_FEATURE_WINDOWS", "History", "KeptReports", "SeriesTable"]
