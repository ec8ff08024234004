"""Figures of the predictions of one version on one route, window by window.

Throughput, event-time-to-prediction latency, the score distribution and positive
rate, prediction drift (PSI of the scores against the validation scores), label
coverage, and the label-free estimate of performance (:mod:`monitor.estimate`).
Everything is counted on fixed grids, so a scope's memory does not grow with traffic.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Final

import numpy as np
from numpy.typing import NDArray

from monitor.estimate import Calibration, ScoreTable, estimate
from monitor.reference import Histogram
from monitor.report import Scope, WindowReport
from monitor.sketches import BinnedCounts
from monitor.windows import WindowClock

# Upper bounds (seconds) of the latency buckets; the last bucket is open.
LATENCY_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                          60.0, 300.0, 900.0, 3600.0)
_LATENCY_EDGES: Final = np.asarray(LATENCY_BUCKETS)
COVERAGE_WINDOWS: Final = 3

Floats = NDArray[np.float64]


def bucket_quantile(counts: NDArray[np.int64], bounds: Floats, q: float) -> float:
    """The upper bound of the bucket holding quantile ``q`` (inf in the open bucket).

    >>> bucket_quantile(np.array([1, 2, 1]), np.array([1.0, 2.0]), 0.5)
    2.0
    """
    n = counts.sum()
    if n == 0:
        return math.nan
    at = int(np.searchsorted(np.cumsum(counts), q * n))
    return float(bounds[at]) if at < bounds.size else math.inf


class PredictionScope:
    """Tumbling windows over the predictions of one scope.

    Examples
    --------
    >>> s = PredictionScope(Scope("m", 1, "champion"), max_events=4, max_seconds=60,
    ...                     min_events=1)
    >>> [r] = s.add(np.arange(4.0), np.array([0.1, 0.2, 0.9, 0.8]), np.array([0, 0, 1, 1]),
    ...             np.full(4, 0.02))
    >>> r.figures["positive_rate"], r.figures["latency_p50"], r.figures["throughput"]
    (0.5, 0.025, 1.3333333333333333)
    """

    def __init__(self, scope: Scope, *, max_events: int, max_seconds: float, min_events: int,
                 reference_scores: Histogram | None = None,
                 reference_metrics: Mapping[str, float] | None = None) -> None:
        self.scope = scope
        self.min_events = min_events
        self.clock = WindowClock(max_events=max_events, max_seconds=max_seconds)
        self.scores = BinnedCounts(reference_scores) if reference_scores else None
        self.reference_metrics = dict(reference_metrics or {})
        self.table = ScoreTable()
        self.calibration: Calibration | None = None
        self.latency = np.zeros(_LATENCY_EDGES.size + 1, dtype=np.int64)
        self.total_latency = np.zeros_like(self.latency)  # since start, for /metrics
        self.latency_sum = 0.0
        self.total = 0
        self.labeled = 0  # labeled events of this scope since start, for coverage
        self._labeled_at_close = 0
        self._coverage_parts: deque[tuple[int, int]] = deque(maxlen=COVERAGE_WINDOWS)
        self._positives = 0
        self._score_sum = 0.0

    def add(self, ts: Floats, scores: Floats, decisions: NDArray[np.int64],
            latency: Floats) -> list[WindowReport]:
        self.total += ts.size
        reports = []
        for seg in self.clock.segments(ts):
            part = slice(seg.lo, seg.hi)
            s, d = scores[part], decisions[part]
            buckets = np.bincount(np.searchsorted(_LATENCY_EDGES, latency[part]),
                                  minlength=self.latency.size)
            self.latency += buckets
            self.total_latency += buckets
            self.latency_sum += float(latency[part].sum())
            self.table.add(s, d)
            if self.scores is not None:
                self.scores.add(s)
            self._positives += int(d.sum())
            self._score_sum += float(s.sum())
            if seg.closes:
                reports.append(self._close(seg.start, seg.end, seg.count))
        return reports

    def _coverage(self, n: int) -> float:
        """Labels arriving per prediction over the last few windows, at most 1.

        Labels come in bursts (the joiner, batches), so one window alone swings.
        """
        self._coverage_parts.append((self.labeled - self._labeled_at_close, n))
        self._labeled_at_close = self.labeled
        labeled = sum(k for k, _ in self._coverage_parts)
        return min(1.0, labeled / sum(m for _, m in self._coverage_parts))

    def _close(self, start: float, end: float, n: int) -> WindowReport:
        figures = {
            "predictions": float(n),
            "throughput": n / (end - start) if end > start else math.nan,
            "latency_p50": bucket_quantile(self.latency, _LATENCY_EDGES, 0.5),
            "latency_p95": bucket_quantile(self.latency, _LATENCY_EDGES, 0.95),
            "positive_rate": self._positives / n,
            "score_mean": self._score_sum / n,
            "score_psi": self.scores.psi() if self.scores is not None else math.nan,
            "label_coverage": self._coverage(n),
            **estimate(self.table, self.calibration),
        }
        reference_auc = self.reference_metrics.get("roc_auc")
        if reference_auc is not None and "estimated_roc_auc" in figures:
            figures["estimated_roc_auc_drop"] = reference_auc - figures["estimated_roc_auc"]
        self.latency[:] = 0
        self.table.reset()
        if self.scores is not None:
            self.scores.reset()
        self._positives, self._score_sum = 0, 0.0
        return WindowReport("predictions", self.scope, start, end, n, figures,
                            judged=n >= self.min_events)


__all__ = ["LATENCY_BUCKETS", "PredictionScope", "bucket_quantile"]
