"""Realised performance of one version on one route, from labeled events as they arrive.

Accuracy, precision, recall, F1 (at the version's decision threshold), ROC AUC and PR
AUC (average precision, both from scores on a fine grid), log loss, Brier score and the
calibration error are computed over the last ``window_size`` labeled events no older
than ``max_seconds`` each time ``stride`` more have arrived: a sliding window, judged four
times as often as a tumbling one of the same size, so a drop is seen after a quarter of
the events. Each stride's events are folded into counts once, and a window is the running
sum of its strides' (:mod:`monitor.labeled_window`, which says where a figure is an
estimate); river's update and revert per event cost the monitor more than decoding the
event. The label delay is read over the stride, concept drift (:mod:`monitor.concept`)
on each event's error, fed a stride's errors at a time.

False alarms: a rule still needs ``for_windows`` breaching judgements in a row, and the
shipped rules' thresholds are several standard errors of a 1,000-event figure; on the
simulator's stable streams the sliding window raised no performance alert in 1,000,000
events (``python -m benchmarks adaptation``, the ``stable`` row).

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

import math
from collections.abc import Mapping
from typing import Final, NamedTuple

import numpy as np
from numpy.typing import NDArray

from contracts.change_point import ChangePoint
from monitor.concept import DriftDetector, ErrorWatch
from monitor.estimate import Calibration
from monitor.labeled_window import (
    LabeledBlock,
    LabeledWindow,
    WindowCounts,
    calibrations,
    window_figures,
)
from monitor.predictions import bucket_quantiles
from monitor.report import Scope, WindowReport
from monitor.trail import Positions, Trail, window_point
from monitor.windows import PASS_EVENTS, WindowClock

# Upper bounds (seconds of event time) of the label delay buckets.
DELAY_BUCKETS: Final = np.asarray((1, 10, 60, 120, 300, 600, 900, 1800, 3600, 4 * 3600,
                                   12 * 3600, 24 * 3600, 7 * 24 * 3600), dtype=np.float64)
_BASELINE: Final = ("roc_auc", "log_loss", "brier")

Floats = NDArray[np.float64]


class LabeledScope:
    """Rolling figures, calibration and concept drift over one scope's labeled events.

    Examples
    --------
    >>> s = LabeledScope(Scope("m", 1, "champion"), window_size=4, stride=4, max_seconds=60,
    ...                  min_events=1, reference_metrics={"roc_auc": 0.9})
    >>> [r] = s.add(np.arange(4.0), np.array([0, 1, 0, 1]), np.array([0.2, 0.7, 0.6, 0.9]),
    ...             np.zeros(4))
    >>> r.figures["accuracy"], r.figures["roc_auc"], round(r.figures["roc_auc_drop"], 2)
    (0.75, 1.0, -0.1)
    """

    def __init__(self, scope: Scope, *, window_size: int, stride: int, max_seconds: float,
                 min_events: int, threshold: float = 0.5,
                 detectors: Mapping[str, DriftDetector] | None = None,
                 reference_metrics: Mapping[str, float] | None = None,
                 baseline_events: int = 3000, topic: str = "labeled-events") -> None:
        self.scope = scope
        self.min_events = min_events
        self.reference_metrics = dict(reference_metrics or {})
        self.baseline_events = baseline_events
        self.baseline: dict[str, float] = {}
        self._early: list[tuple[int, dict[str, float]]] = []
        self._elevated = False
        self.window_size = window_size
        self.clock = WindowClock(max_events=min(stride, window_size), max_seconds=max_seconds)
        self.window = LabeledWindow(size=window_size, max_seconds=max_seconds,
                                    threshold=threshold)
        self.watch = ErrorWatch(detectors or {})
        self.trail = Trail(topic=topic)
        self.change_point: ChangePoint | None = None  # where the current rise began
        self.last_calibration: Calibration | None = None
        self.delays = np.zeros(DELAY_BUCKETS.size + 1, dtype=np.int64)
        self.total = 0
        self._filling: list[tuple[Floats, NDArray[np.int64], Floats, Floats, Floats]] = []

    @property
    def threshold(self) -> float:
        """The version's decision threshold; set anew, it decides the events held again."""
        return self.window.threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        self.window.decide_at(value)

    def add(self, ts: Floats, labels: NDArray[np.int64], scores: Floats,
            delays: Floats, positions: Positions | None = None) -> list[WindowReport]:
        """Add labeled events in arrival order; ``positions`` are their partitions and
        offsets on ``labeled-events`` where known. Taken :data:`~monitor.windows.
        PASS_EVENTS` at a time, as if they had come in batches of that size."""
        reports: list[WindowReport] = []
        for lo in range(0, ts.size, PASS_EVENTS):
            part = slice(lo, lo + PASS_EVENTS)
            reports += self._add(ts[part], labels[part], scores[part], delays[part],
                                 None if positions is None
                                 else (positions[0][part], positions[1][part]))
        return reports

    def _add(self, ts: Floats, labels: NDArray[np.int64], scores: Floats,
             delays: Floats, positions: Positions | None) -> list[WindowReport]:
        self.total += ts.size
        closed = []
        # Each event's errors and delay bucket at once, each stride's block of counts at
        # once; a stride's are a slice of them.
        losses, entropies = _log_loss(labels, scores), _entropy(scores)
        excesses = losses - entropies
        fed = self.trail.fed
        self.trail.extend(ts, excesses, positions, (labels, scores))
        segments = self.clock.segments(ts)
        bounds = [seg.lo for seg in segments if seg.hi > seg.lo]  # empty ones only close
        whole = dict(zip(bounds, LabeledBlock.cut(
            ts, labels, scores, losses, entropies, self.window.threshold, [*bounds, ts.size]),
            strict=True)) if bounds else {}
        buckets = np.searchsorted(DELAY_BUCKETS, delays)
        for seg in segments:
            part = slice(seg.lo, seg.hi)
            self.watch.update_many(excesses[part])
            self.delays += np.bincount(buckets[part], minlength=self.delays.size)
            if seg.closes and not self._filling:
                self.window.add(whole[seg.lo])
            else:
                self._filling.append((ts[part], labels[part], scores[part], losses[part],
                                      entropies[part]))
                if seg.closes:
                    self.window.add(self._block())
            if seg.closes:
                closed.append(self._closing(seg.end, seg.count, fed + seg.hi))
        return self._close(closed)

    def _block(self) -> LabeledBlock:
        """The block of the events added since the last one closed: its counts from all of
        its events at once, as if they had come in one batch."""
        filling, self._filling = self._filling, []
        columns = filling[0] if len(filling) == 1 else tuple(
            np.concatenate(c) for c in zip(*filling, strict=True))
        ts, y, p, loss, entropy = columns
        return LabeledBlock.of(ts, y, p, loss, entropy, self.window.threshold)

    def current(self) -> dict[str, float]:
        """The rolling figures of the blocks closed so far."""
        return window_figures([self.window.counts()])[0]

    def _closing(self, end: float, new: int, fed: int) -> _Closing:
        """What a window closing now, once ``fed`` events were fed, is made of: what later
        events would change."""
        delays, self.delays = self.delays, np.zeros_like(self.delays)
        return _Closing(self.window.counts(), end, new, self.window.oldest, delays,
                        self.watch.take_fired(), self.watch.take_cuts(), fed)

    def _close(self, closed: list[_Closing]) -> list[WindowReport]:
        """The reports of windows closed by one batch, oldest first: their rolling figures,
        calibration and label delay in one vectorised pass each."""
        if not closed:
            return []
        counts = [c.counts for c in closed]
        bands, errors = calibrations(counts)
        delays = bucket_quantiles(np.stack([c.delays for c in closed]), DELAY_BUCKETS, 0.5)
        return [self._report(*made) for made in zip(
            closed, window_figures(counts), bands, errors, delays, strict=True)]

    def _report(self, closing: _Closing, figures: dict[str, float], calibration: Calibration,
                calibration_error: float, delay: float) -> WindowReport:
        n = closing.counts.events
        figures["labeled"] = float(n)
        figures["decision_threshold"] = self.threshold
        figures["calibration_error"] = calibration_error
        figures["label_delay_p50"] = delay
        self._learn_baseline(closing.new, n, figures)
        base = self.baseline_figures()
        figures["roc_auc_drop"] = base.get("roc_auc", math.nan) - figures["roc_auc"]
        figures["brier_increase"] = figures["brier"] - base.get("brier", math.nan)
        figures["concept_drift"] = self._concept(
            closing.fired,
            figures["excess_log_loss"] - self.baseline.get("excess_log_loss", 0.0),
            figures["expected_log_loss"])
        self._follow_change(closing.cuts, closing.fed)
        self.last_calibration = calibration
        # A window rule names where the ranking fell within the last two windows: the
        # sliding window breaches while it still holds older events, so its own start
        # would put hundreds of them before the change; with too few events to say, the
        # window's start and its first offsets. Located only when a rule asks, which is
        # after the rest of the batch was fed: bounded to this window's events, so where
        # a change began does not depend on where batches were cut.
        fed, oldest = closing.fed, closing.oldest

        def located() -> ChangePoint | None:
            return self.trail.locate_drop(since=fed - 2 * self.window_size, until=fed,
                                          source="window") or window_point(
                oldest, self.trail.first_offsets(since=fed - n, until=fed))
        return WindowReport("labels", self.scope, closing.oldest, closing.end, n, figures,
                            detail={"detectors": closing.fired, "baseline": base,
                                    "change_point": self.change_point, "located": located},
                            judged=n >= self.min_events)

    def _follow_change(self, cuts: Mapping[str, int], fed: int) -> None:
        """Locate the change when a detector with a window (ADWIN) starts a rise; forget
        it when the rise is over. A later detection in the same rise keeps the first.
        ``fed``: events fed when the detectors cut, the end of what is searched."""
        if not self._elevated:
            self.change_point = None
        elif self.change_point is None and cuts:
            name = min(cuts, key=cuts.__getitem__)
            self.change_point = self.trail.locate(since=cuts[name], source=name, until=fed)

    def _learn_baseline(self, new: int, n: int, figures: Mapping[str, float]) -> None:
        """Average the figures of the first ``baseline_events``, each judgement weighted
        by the ``new`` events it added (``n``: events in its window)."""
        if self.baseline or n < self.min_events:
            return
        self._early.append((new, {k: figures[k] for k in (*_BASELINE, "excess_log_loss")}))
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


def excess_losses(labels: NDArray[np.int64], scores: Floats) -> Floats:
    """Each event's excess loss, the error stream the concept detectors watch: its log
    loss minus the loss its own score expects.

    >>> excess_losses(np.array([1, 0]), np.array([0.5, 0.5])).round(3).tolist()
    [0.0, 0.0]
    """
    return _log_loss(labels, scores) - _entropy(scores)


def _log_loss(labels: NDArray[np.int64] | Floats, scores: Floats) -> Floats:
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


class _Closing(NamedTuple):
    """A labeled window as it was when it closed, its figures not yet computed."""

    counts: WindowCounts
    end: float
    new: int  # events it added
    oldest: float
    delays: NDArray[np.int64]  # labels of the stride by delay bucket
    fired: list[str]
    cuts: dict[str, int]
    fed: int


__all__ = ["DELAY_BUCKETS", "LabeledScope", "excess_losses"]
