"""The last few windows of every figure, for the ops page's charts. Bounded."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from monitor.report import Scope, WindowKind, WindowReport


@dataclass
class History:
    """Per (scope, window kind): the latest report and a short series of each figure.

    >>> h = History(points=2)
    >>> for v in (0.1, 0.2, 0.3):
    ...     h.add(WindowReport("labels", Scope("m", 1, "champion"), 0, 1, 500, {"f1": v}))
    >>> h.line(Scope("m", 1, "champion"), "labels", "f1")
    [0.2, 0.3]
    >>> h.timed(Scope("m", 1, "champion"), "labels", "f1")  # (window end, value)
    [(1, 0.2), (1, 0.3)]
    """

    points: int = 60
    latest: dict[tuple[Scope, WindowKind], WindowReport] = field(default_factory=dict)
    series: dict[tuple[Scope, str, str], deque[tuple[float, float]]] = field(
        default_factory=dict)

    def add(self, report: WindowReport) -> None:
        self.latest[(report.scope, report.kind)] = report
        values = dict(report.figures)
        values.update({f"psi:{n}": f.psi for n, f in report.features.items()})
        for name, value in values.items():
            key = (report.scope, report.kind, name)
            line = self.series.get(key)
            if line is None:
                line = self.series[key] = deque(maxlen=self.points)
            line.append((report.end, value if math.isfinite(value) else math.nan))

    def line(self, scope: Scope, kind: str, name: str) -> list[float]:
        return [value for _, value in self.series.get((scope, kind, name), ())]

    def timed(self, scope: Scope, kind: str, name: str) -> list[tuple[float, float]]:
        """The series with each window's end (event time, epoch seconds)."""
        return list(self.series.get((scope, kind, name), ()))

    def forget(self, scopes: Iterable[Scope]) -> None:
        gone = set(scopes)
        for key in [k for k in self.latest if k[0] in gone]:
            del self.latest[key]
        for skey in [k for k in self.series if k[0] in gone]:
            del self.series[skey]


__all__ = ["History"]
