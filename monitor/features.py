"""Data drift: every feature of one served version against its training reference."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from contracts.records import UserEvent
from monitor.reference import Reference
from monitor.report import FeatureFigures, Scope, WindowReport
from monitor.sketches import CategoricalSketch, NumericBank, NumericSketch
from monitor.windows import WindowClock


@dataclass(frozen=True, slots=True)
class Columns:
    """A batch of events as one array (or list) per feature, built once per batch."""

    ts: NDArray[np.float64]
    numeric: dict[str, NDArray[np.float64]]
    categorical: dict[str, list[str | None]]


def columns(events: Sequence[UserEvent], numeric: Iterable[str],
            categorical: Iterable[str]) -> Columns:
    """Feature columns of ``events``; absent features and text in numeric ones are missing.

    >>> from datetime import UTC, datetime
    >>> e = UserEvent(event_id="e", user_id="u", ts=datetime(2026, 1, 1, tzinfo=UTC),
    ...               features={"x": 2.0, "c": 3.0})
    >>> c = columns([e], ["x", "y"], ["c"])
    >>> c.numeric["x"].tolist(), math.isnan(c.numeric["y"][0]), c.categorical["c"]
    ([2.0], True, ['3'])
    """
    feats = [e.features for e in events]
    ts = np.fromiter((e.ts.timestamp() for e in events), np.float64, len(events))
    return Columns(
        ts,
        {name: _numbers([f.get(name) for f in feats]) for name in numeric},
        {name: [_category(f.get(name)) for f in feats] for name in categorical},
    )


def _numbers(values: list[float | str | None]) -> NDArray[np.float64]:
    try:
        return np.array(values, dtype=np.float64)  # None becomes NaN
    except ValueError:  # text where a number belongs counts as missing
        return np.array([v if isinstance(v, float | int) else math.nan for v in values],
                        dtype=np.float64)


def _category(value: float | str | None) -> str | None:
    """As ``scorer.feature_schema.category_text``: integral numbers read without ``.0``."""
    if value is None or isinstance(value, str):
        return value
    if math.isnan(value):
        return None
    return str(int(value)) if value.is_integer() else str(value)


class _Block:
    """Counts of ``stride`` consecutive events (fewer when cut by event time)."""

    def __init__(self, reference: Reference) -> None:
        self.numeric = {n: NumericSketch(r) for n, r in reference.numeric.items()}
        self.categorical = {n: CategoricalSketch(r) for n, r in reference.categorical.items()}
        self.start = self.end = 0.0
        self.count = 0

    def reset(self) -> None:
        for numeric in self.numeric.values():
            numeric.reset()
        for categorical in self.categorical.values():
            categorical.reset()
        self.count = 0


class FeatureWindow:
    """The last ``max_events`` events (within ``max_seconds`` of event time), judged again
    every ``stride`` events: each feature sketched against one version's reference.

    The window is the sum of its blocks of ``stride`` events; a block closing is added
    and the oldest taken away, so a judgement costs one pass over the bins whatever the
    window's size. A window is judged once it is full (or, on a stream too slow to fill
    it within ``max_seconds``, once it holds ``min_events``): partial windows of a newly
    served version are noisier than the rules' thresholds allow.

    Examples
    --------
    >>> from datetime import UTC, datetime, timedelta
    >>> ref = Reference.from_json(b'{"rows": 4, "numeric": {}, "categorical": {"c": '
    ...     b'{"frequencies": {"a": 1.0}, "missing_rate": 0.0}}, '
    ...     b'"scores": {"edges": [], "frequencies": [1.0]}}')
    >>> w = FeatureWindow(Scope("m", 1, "champion"), ref, max_events=4, stride=2,
    ...                   max_seconds=60, min_events=1)
    >>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
    >>> events = [UserEvent(event_id=str(i), user_id="u", ts=t0 + timedelta(seconds=i),
    ...                     features={"c": "aaaabbbb"[i]}) for i in range(8)]
    >>> [(r.n, r.judged, r.features["c"].unseen_rate) for r in w.add(w.columns(events))]
    [(2, False, 0.0), (4, True, 0.0), (4, True, 0.5), (4, True, 1.0)]
    """

    def __init__(self, scope: Scope, reference: Reference, *, max_events: int, stride: int,
                 max_seconds: float, min_events: int) -> None:
        self.scope = scope
        self.reference = reference
        self.min_events = min_events
        self.max_events = max_events
        self.max_seconds = max_seconds
        self.clock = WindowClock(max_events=stride, max_seconds=max_seconds)
        self.numeric = {n: NumericSketch(r) for n, r in reference.numeric.items()}
        self.categorical = {n: CategoricalSketch(r) for n, r in reference.categorical.items()}
        self.bank = NumericBank(list(self.numeric.values()))
        self.blocks: deque[_Block] = deque()
        self.count = 0
        self.aged = False  # blocks have left for their age: the stream is too slow to fill it
        self._spare: list[_Block] = []
        self._current = _Block(reference)

    def columns(self, events: Sequence[UserEvent]) -> Columns:
        return columns(events, self.numeric, self.categorical)

    def add(self, cols: Columns) -> list[WindowReport]:
        reports = []
        block = self._current
        for seg in self.clock.segments(cols.ts):
            part = slice(seg.lo, seg.hi)
            for name, sketch in block.numeric.items():
                sketch.add(cols.numeric[name][part])
            for name, cat in block.categorical.items():
                cat.add(cols.categorical[name][part])
            if seg.closes:
                block.start, block.end, block.count = seg.start, seg.end, seg.count
                reports.append(self._slide(block))
                block = self._current = self._spare.pop() if self._spare \
                    else _Block(self.reference)
        return reports

    def _slide(self, block: _Block) -> WindowReport:
        self._move(block, 1)
        self.blocks.append(block)
        while self.count - self.blocks[0].count >= self.max_events \
                or self.blocks[0].start < block.end - self.max_seconds:
            oldest = self.blocks.popleft()
            self.aged = self.aged or oldest.start < block.end - self.max_seconds
            self._move(oldest, -1)
            oldest.reset()
            self._spare.append(oldest)
        return self._report()

    def _move(self, block: _Block, sign: int) -> None:
        for name, sketch in self.numeric.items():
            sketch.absorb(block.numeric[name], sign)
        for name, cat in self.categorical.items():
            cat.absorb(block.categorical[name], sign)
        self.count += sign * block.count

    def _report(self) -> WindowReport:
        features: dict[str, FeatureFigures] = dict(zip(self.numeric, self.bank.figures(),
                                                       strict=True))
        features.update({n: s.figures() for n, s in self.categorical.items()})
        psis = [f.psi for f in features.values() if math.isfinite(f.psi)]
        figures = {"events": float(self.count), "max_psi": max(psis, default=math.nan)}
        full = self.count >= self.max_events or (self.aged and self.count >= self.min_events)
        return WindowReport("features", self.scope, self.blocks[0].start, self.blocks[-1].end,
                            self.count, figures, features, judged=full)


__all__ = ["Columns", "FeatureWindow", "columns"]
