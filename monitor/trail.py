"""Where a change began: the recent trail of labeled events the detectors saw.

A detector says *that* the error stream changed; the retrainer needs *where*, as an
event time and the first offset of each partition after it. :class:`Trail` keeps, for
the last :data:`TRAIL_EVENTS` labeled events of a scope, their event time, error,
partition and offset, indexed by how many events the scope's detectors had been fed.

River's ADWIN keeps, after a detection, the window it still trusts (``width`` items),
so the change lies among the last ``width`` items. That window is coarse: ADWIN drops
whole buckets (up to thousands of items) from its old end, so on the simulator the
window still held 2,000-16,000 events of the old concept. Within it the change is
located as the maximum-likelihood split of a single rise in the mean error (the
CUSUM estimate), in event-time order, which lands within a few hundred events of
the true change (see ``tests/unit/monitor/test_change_points.py``).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Final

import numpy as np
from numpy.typing import NDArray

from contracts.change_point import ChangePoint

# Events kept per scope (28 bytes each: 450 KiB a scope). ADWIN's default detection
# delay on the simulator is 1,300-3,200 labeled events, so a change is found while its
# start is still here even five times later; an older start is located among what is
# kept, at the oldest end.
TRAIL_EVENTS: Final = 16_384
EDGE: Final = 0.05  # share of a located stretch never taken as one side of the change
DROP_CANDIDATES: Final = 40  # splits tried when locating a fall of the ROC AUC

Positions = tuple[NDArray[np.int64], NDArray[np.int64]]  # partitions, offsets (-1: unknown)


class Trail:
    """Event time, error and position of the last ``size`` events fed to the detectors.

    Examples
    --------
    >>> trail = Trail(topic="labeled-events", size=100)
    >>> errors = np.r_[np.zeros(60), np.ones(40)]
    >>> trail.extend(np.arange(100.0), errors,
    ...              (np.zeros(100, np.int64), np.arange(1000, 1100, dtype=np.int64)))
    >>> cp = trail.locate(since=0, source="adwin")
    >>> cp.at.timestamp(), cp.offsets
    (60.0, (('labeled-events', 0, 1060),))
    >>> trail.first_offsets(since=90)
    (('labeled-events', 0, 1090),)
    """

    def __init__(self, *, topic: str, size: int = TRAIL_EVENTS) -> None:
        if size < 2:
            raise ValueError(f"a trail needs size >= 2, got {size}")
        self.topic = topic
        self.size = size
        self.fed = 0  # events ever fed; event ``i`` sits at slot ``i % size``
        self._ts = np.empty(size)
        self._errors = np.empty(size)
        self._partitions = np.full(size, -1, dtype=np.int32)
        self._offsets = np.full(size, -1, dtype=np.int64)
        self._labels = np.zeros(size, dtype=np.bool_)
        self._scores = np.zeros(size)

    def extend(self, ts: NDArray[np.float64], errors: NDArray[np.float64],
               positions: Positions | None = None,
               outcomes: tuple[NDArray[np.int64], NDArray[np.float64]] | None = None) -> None:
        """Add events in the order the detectors saw them; ``outcomes``: their labels and
        scores, for :meth:`locate_drop`."""
        n = ts.size
        keep = slice(max(0, n - self.size), n)
        at = (self.fed + np.arange(keep.start, n)) % self.size
        self._ts[at], self._errors[at] = ts[keep], errors[keep]
        if outcomes is not None:
            self._labels[at], self._scores[at] = outcomes[0][keep] == 1, outcomes[1][keep]
        if positions is None:
            self._partitions[at], self._offsets[at] = -1, -1
        else:
            self._partitions[at], self._offsets[at] = positions[0][keep], positions[1][keep]
        self.fed += n

    @property
    def oldest(self) -> int:
        """Index of the oldest event still kept."""
        return max(0, self.fed - self.size)

    def _slots(self, since: int, until: int | None = None) -> NDArray[np.int64]:
        end = self.fed if until is None else min(until, self.fed)
        return np.arange(max(since, self.oldest), end) % self.size

    def first_offsets(self, *, since: int, until: int | None = None) \
            -> tuple[tuple[str, int, int], ...]:
        """Per partition, the first offset among the events fed from index ``since`` on
        (and before ``until``, when given)."""
        return self._first_offsets(self._slots(since, until))

    def _first_offsets(self, slots: NDArray[np.int64]) -> tuple[tuple[str, int, int], ...]:
        partitions, offsets = self._partitions[slots], self._offsets[slots]
        known = partitions >= 0
        if not known.any():
            return ()
        partitions, offsets = partitions[known], offsets[known]
        order = np.argsort(partitions, kind="stable")
        ranked = partitions[order]
        starts = np.flatnonzero(np.concatenate(([True], ranked[1:] != ranked[:-1])))
        lowest = np.minimum.reduceat(offsets[order], starts)
        return tuple((self.topic, p, o)
                     for p, o in zip(ranked[starts].tolist(), lowest.tolist(), strict=True))

    def locate(self, *, since: int, source: str, until: int | None = None) \
            -> ChangePoint | None:
        """Where the mean error rose among the events fed from index ``since`` on (and
        before ``until``, when given).

        The split maximising ``(mean after - mean before) * sqrt(k (n - k) / n)`` over
        the events in event-time order; ``at`` is the event time of the first event after
        it and the offsets are each partition's first among the events from there on.
        None when fewer than two events are kept.
        """
        slots = self._slots(since, until)
        if slots.size < 2:
            return None
        slots = slots[np.argsort(self._ts[slots], kind="stable")]
        k = rise_split(self._errors[slots])
        return ChangePoint(at=datetime.fromtimestamp(float(self._ts[slots[k]]), UTC),
                           offsets=self._first_offsets(slots[k:]), source=source)


    def locate_drop(self, *, since: int, source: str,
                    until: int | None = None) -> ChangePoint | None:
        """Where the ranking of the scores got worse among the events fed from ``since`` on
        (and before ``until``, when given).

        The split maximising ``(AUC before - AUC after) * sqrt(k (n - k) / n)`` over
        about 40 candidate splits in event-time order (see :func:`drop_split`). A rank
        statistic: on the simulator's concept drifts it landed within 250 events of the
        change in most runs, where the mean of the heavy-tailed log loss wandered by
        700 (``tests/unit/monitor/test_change_points.py``). None with too few events.
        """
        slots = self._slots(since, until)
        if slots.size < 2 * DROP_CANDIDATES:
            return None
        slots = slots[np.argsort(self._ts[slots], kind="stable")]
        k = drop_split(self._labels[slots], self._scores[slots])
        if k is None:
            return None
        return ChangePoint(at=datetime.fromtimestamp(float(self._ts[slots[k]]), UTC),
                           offsets=self._first_offsets(slots[k:]), source=source)


def drop_split(positive: NDArray[np.bool_], scores: NDArray[np.float64]) -> int | None:
    """The index of the first event after the most likely fall of the ROC AUC, among
    :data:`DROP_CANDIDATES` evenly spaced splits away from the edges (None when no split
    leaves both classes on both sides).

    >>> rng = np.random.default_rng(0)
    >>> y = rng.random(800) < 0.3
    >>> s = np.where(np.arange(800) < 500, y * 0.5 + rng.random(800) * 0.5, rng.random(800))
    >>> abs(drop_split(y, s) - 500) <= 40
    True
    """
    n = positive.size
    edge = max(1, int(n * EDGE))
    best, at = -np.inf, None
    for k in np.unique(np.linspace(edge, n - edge, DROP_CANDIDATES).astype(int)):
        before, after = _auc(positive[:k], scores[:k]), _auc(positive[k:], scores[k:])
        score = (before - after) * np.sqrt(k * (n - k) / n)
        if np.isfinite(score) and score > best:
            best, at = score, int(k)
    return at


def _auc(positive: NDArray[np.bool_], scores: NDArray[np.float64]) -> float:
    n_pos = int(np.count_nonzero(positive))
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = np.empty(scores.size)
    ranks[np.argsort(scores, kind="mergesort")] = np.arange(1, scores.size + 1)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def rise_split(errors: NDArray[np.float64]) -> int:
    """The index of the first value after the most likely rise of the mean (1..n-1).

    Splits leaving less than :data:`EDGE` of the values on either side are not
    considered: log losses have a heavy tail, and two large ones at the very end
    otherwise outscore the change (on the simulator this cut the worst miss from 3,300
    to 1,600 labeled events).

    >>> rise_split(np.array([0.1, 0.0, 0.2, 0.1, 0.9, 1.1, 1.0]))
    4
    """
    n = errors.size
    k = np.arange(1, n)
    head = np.cumsum(errors)[:-1]
    before, after = head / k, (errors.sum() - head) / (n - k)
    score = (after - before) * np.sqrt(k * (n - k) / n)
    edge = int(n * EDGE)
    if n - 1 > 2 * edge:
        score = score[edge:n - 1 - edge]
    else:
        edge = 0
    return int(np.argmax(score)) + 1 + edge


def window_point(start: float, offsets: tuple[tuple[str, int, int], ...]) -> ChangePoint | None:
    """The change point a window rule names: where its first breaching window began."""
    if not math.isfinite(start):
        return None
    return ChangePoint(at=datetime.fromtimestamp(start, UTC), offsets=offsets, source="window")


__all__ = ["DROP_CANDIDATES", "EDGE", "TRAIL_EVENTS", "Positions", "Trail", "drop_split",
           "rise_split", "window_point"]
