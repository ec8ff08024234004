"""Realised performance of one version on one route, from labeled events as they arrive.

Accuracy, precision, recall and F1 share one river ``ConfusionMatrix``; ROC AUC is
river's exact ``RollingROCAUC``; log loss and Brier score are river ``stats.Mean`` s
of each event's loss, computed for a whole batch with numpy (river's ``LogLoss`` and
``MSE`` compute the same one event at a time, at ten times the cost). All are kept
over the last ``window_size`` labeled events no older than ``max_seconds``
(:class:`monitor.windows.BoundedRolling`). The
calibration error, label delay and concept drift (:mod:`monitor.concept`) are read
at each tumbling window of the same size.

Concept drift is watched on the *excess* loss: each event's log loss minus the loss
its own score expects (the score's binary entropy). When only the features move,
both move together and the excess stays near zero; when the relation between
features and outcome moves, the realised loss outgrows the expected one. (On the
simulator, the raw loss fell by a third under covariate shift and ADWIN fired on it;
on the excess it did not, and still caught concept drift as fast.)

Drops are measured from a baseline: the better of the version's held-out figure
(from ``model-versions``) and its first ``baseline_events`` labeled events here. The
held-out figure of a small validation set can be far off either way; the first
labeled events show what the version does on this traffic.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from river import metrics as river_metrics
from river import stats as river_stats

from monitor.concept import DriftDetector, ErrorWatch
from monitor.estimate import Calibration
from monitor.predictions import bucket_quantile
from monitor.report import Scope, WindowReport
from monitor.windows import BoundedRolling, WindowClock

# Upper bounds (seconds of event time) of the label delay buckets.
DELAY_BUCKETS: Final = np.asarray((1, 10, 60, 120, 300, 600, 900, 1800, 3600, 4 * 3600,
                                   12 * 3600, 24 * 3600, 7 * 24 * 3600), dtype=np.float64)
_BASELINE: Final = ("roc_auc", "log_loss", "brier")
# river ships no type hints; as Any its calls type-check without a blanket exemption.
metrics: Any = river_metrics
stats: Any = river_stats

Floats = NDArray[np.float64]


class LabeledScope:
    """Rolling river metrics, calibration and concept drift over one scope's labeled events.

    Examples
    --------
    >>> s = LabeledScope(Scope("m", 1, "champion"), window_size=4, max_seconds=60,
    ...                  min_events=1, reference_metrics={"roc_auc": 0.9})
    >>> [r] = s.add(np.arange(4.0), np.array([0, 1, 0, 1]), np.array([0.2, 0.7, 0.6, 0.9]),
    ...             np.zeros(4))
    >>> r.figures["accuracy"], r.figures["roc_auc"], round(r.figures["roc_auc_drop"], 2)
    (0.75, 1.0, -0.1)
    """

    def __init__(self, scope: Scope, *, window_size: int, max_seconds: float, min_events: int,
                 threshold: float = 0.5, detectors: Mapping[str, DriftDetector] | None = None,
                 reference_metrics: Mapping[str, float] | None = None,
                 baseline_events: int = 3000) -> None:
        self.scope = scope
        self.min_events = min_events
        self.threshold = threshold
        self.reference_metrics = dict(reference_metrics or {})
        self.baseline_events = baseline_events
        self.baseline: dict[str, float] = {}
        self._early: list[tuple[int, dict[str, float]]] = []
        self._elevated = False
        self.clock = WindowClock(max_events=window_size, max_seconds=max_seconds)
        self.cm = metrics.ConfusionMatrix()
        self.metrics = {
            "accuracy": metrics.Accuracy(cm=self.cm), "precision": metrics.Precision(cm=self.cm),
            "recall": metrics.Recall(cm=self.cm), "f1": metrics.F1(cm=self.cm),
        }
        self.log_loss, self.brier, self.entropy = stats.Mean(), stats.Mean(), stats.Mean()
        self.roc_auc = metrics.RollingROCAUC(window_size=window_size)
        cm, ll, sq, h, auc = self.cm, self.log_loss, self.brier, self.entropy, self.roc_auc
        # Arguments: label, score, decision, log loss, squared error, expected log loss.
        self.rolling = BoundedRolling(
            [(lambda y, p, d, e, s, x: cm.update(y, d), lambda y, p, d, e, s, x: cm.revert(y, d)),
             (lambda y, p, d, e, s, x: ll.update(e), lambda y, p, d, e, s, x: ll.revert(e)),
             (lambda y, p, d, e, s, x: sq.update(s), lambda y, p, d, e, s, x: sq.revert(s)),
             (lambda y, p, d, e, s, x: h.update(x), lambda y, p, d, e, s, x: h.revert(x))],
            extra=[(lambda y, p, d, e, s, x: auc.update(y, p),
                    lambda y, p, d, e, s, x: auc.revert(y, p))],
            window_size=window_size, period_s=max_seconds,
        )
        self.watch = ErrorWatch(detectors or {})
        self.calibration = Calibration()
        self.last_calibration: Calibration | None = None
        self.delays = np.zeros(DELAY_BUCKETS.size + 1, dtype=np.int64)
        self.total = 0

    def add(self, ts: Floats, labels: NDArray[np.int64], scores: Floats,
            delays: Floats) -> list[WindowReport]:
        self.total += ts.size
        reports = []
        for seg in self.clock.segments(ts):
            part = slice(seg.lo, seg.hi)
            y, p = labels[part], scores[part]
            losses, expected = _log_loss(y, p), _entropy(p)
            update = self.rolling.update
            for row in zip(ts[part].tolist(), (y == 1).tolist(), p.tolist(),
                           (p >= self.threshold).tolist(), losses.tolist(),
                           ((y - p) ** 2).tolist(), expected.tolist(), strict=True):
                update(*row)
            self.watch.update_many((losses - expected).tolist())
            self.calibration.add(p, y)
            self.delays += np.bincount(np.searchsorted(DELAY_BUCKETS, delays[part]),
                                       minlength=self.delays.size)
            if seg.closes:
                reports.append(self._close(seg.start, seg.end, seg.count))
        return reports

    def current(self) -> dict[str, float]:
        """The rolling figures now."""
        out = {name: float(m.get()) for name, m in self.metrics.items()}
        out["log_loss"] = float(self.log_loss.get())
        out["brier"] = float(self.brier.get())
        out["expected_log_loss"] = float(self.entropy.get())
        out["excess_log_loss"] = out["log_loss"] - out["expected_log_loss"]
        positives = self.cm.sum_row[True] if True in self.cm.classes else 0
        # An AUC needs both classes in the window.
        both = 0 < positives < self.cm.n_samples
        out["roc_auc"] = float(self.roc_auc.get()) if both else math.nan
        return out

    def _close(self, start: float, end: float, n: int) -> WindowReport:
        figures = self.current()
        figures["labeled"] = float(n)
        figures["calibration_error"] = self.calibration.error()
        figures["label_delay_p50"] = bucket_quantile(self.delays, DELAY_BUCKETS, 0.5)
        self._learn_baseline(n, figures)
        base = self.baseline_figures()
        figures["roc_auc_drop"] = base.get("roc_auc", math.nan) - figures["roc_auc"]
        figures["brier_increase"] = figures["brier"] - base.get("brier", math.nan)
        fired = self.watch.take_fired()
        figures["concept_drift"] = self._concept(
            fired, figures["excess_log_loss"] - self.baseline.get("excess_log_loss", 0.0),
            figures["expected_log_loss"])
        self.last_calibration = copy.deepcopy(self.calibration)
        self.calibration.reset()
        self.delays[:] = 0
        return WindowReport("labels", self.scope, start, end, n, figures,
                            detail={"detectors": fired, "baseline": base},
                            judged=n >= self.min_events)

    def _learn_baseline(self, n: int, figures: Mapping[str, float]) -> None:
        if self.baseline or n < self.min_events:
            return
        self._early.append((n, {k: figures[k] for k in (*_BASELINE, "excess_log_loss")}))
        total = sum(k for k, _ in self._early)
        if total >= self.baseline_events:
            self.baseline = {k: sum(w * f[k] for w, f in self._early) / total
                             for k in self._early[0][1]}
            self._early.clear()

    def baseline_figures(self) -> dict[str, float]:
        """Per figure, the better of the held-out value and the early value."""
        out = {}
        for name in _BASELINE:
            values = [v for v in (self.reference_metrics.get(name), self.baseline.get(name))
                      if v is not None and math.isfinite(v)]
            if values:
                out[name] = max(values) if name == "roc_auc" else min(values)
        return out

    def _concept(self, fired: list[str], excess: float, expected: float) -> float:
        """The effect size of concept drift: the rise of the excess loss, relative to the
        expected loss.

        It turns non-zero when a detector fires while the excess is above its baseline
        (detectors also fire when errors fall, which is no bad news) and stays the
        current rise until the excess is back at its baseline.
        """
        if not math.isfinite(expected) or expected <= 0:
            return 1.0 if fired else 0.0
        rise = excess / expected
        if fired and rise > 0:
            self._elevated = True
        elif rise <= 0:
            self._elevated = False
        return round(rise, 6) if self._elevated else 0.0


def _log_loss(labels: NDArray[np.int64], scores: Floats) -> Floats:
    """Per-event log loss, the error stream the detectors watch (clipped like river's).

    >>> _log_loss(np.array([1, 0]), np.array([0.5, 0.5])).round(3).tolist()
    [0.693, 0.693]
    """
    p = np.clip(scores, 1e-15, 1 - 1e-15)
    return np.asarray(-np.where(labels == 1, np.log(p), np.log1p(-p)), dtype=np.float64)


def _entropy(scores: Floats) -> Floats:
    """The log loss each score expects of itself if calibrated (binary entropy).

    >>> _entropy(np.array([0.5, 1.0])).round(3).tolist()
    [0.693, 0.0]
    """
    p = np.clip(scores, 1e-15, 1 - 1e-15)
    return np.asarray(-(p * np.log(p) + (1 - p) * np.log1p(-p)), dtype=np.float64)


__all__ = ["DELAY_BUCKETS", "LabeledScope"]
