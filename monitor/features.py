"""Data drift: every feature of one served version against its training reference."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from itertools import chain
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from contracts.feature_summary import SUMMARY_EVENTS, Columns, columns
from contracts.records import FeatureSummary, UserEvent
from contracts.reference_stats import Reference
from contracts.sketches import (
    CategoricalBank,
    CategoricalHeld,
    CategoricalSketch,
    NumericBank,
    NumericHeld,
    NumericSketch,
)
from monitor.report import FeatureTables, Scope, WindowFeatures, WindowReport, feature_values
from monitor.windows import WindowClock, spanned


class _Block:
    """Counts of ``stride`` consecutive events (fewer when cut by event time)."""

    def __init__(self, numeric: dict[str, NumericSketch],
                 categorical: dict[str, CategoricalSketch]) -> None:
        self.numeric = {n: s.blank() for n, s in numeric.items()}
        self.categorical = {n: s.blank() for n, s in categorical.items()}
        self.start = self.end = 0.0
        self.count = 0
        self.in_window = False

    def reset(self) -> None:
        for numeric in self.numeric.values():
            numeric.reset()
        for categorical in self.categorical.values():
            categorical.reset()
        self.count = 0


# A summary's bin counts as three arrays (numeric histogram bins, percentile cells,
# categories), all features in a row: made once, added to the window and later taken
# out in three steps.
_Binned = tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]


class _SummaryBlock:
    """The feature summaries that filled a block, kept as they came: a block costs
    nothing to start, and one of them is taken back by leaving the list."""

    def __init__(self) -> None:
        self.summaries: list[FeatureSummary] = []
        self.binned: list[_Binned] = []
        self.start = self.end = 0.0
        self.count = 0
        self.in_window = False


class FeatureWindow:
    """The last ``max_events`` events (within ``max_seconds`` of event time), judged again
    every ``stride`` events: each feature sketched against one version's reference.

    The window is the sum of its blocks of ``stride`` events; a block closing is added
    and the oldest taken away, so a judgement costs one pass over the bins whatever the
    window's size. Blocks are cut from events (:meth:`add`) or filled with the
    processor's feature summaries (:meth:`add_summary`), at least ``stride`` events of
    them. A window is judged once it is full (or, on a stream too slow to fill
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
        self.categorical_bank = CategoricalBank(list(self.categorical.values()))
        # Where each of a summary's counts lands among the banks' (a view of each
        # feature's row), features in this window's order.
        self._coarse_at = _cells(self.bank.coarse,
                                 [s.coarse.counts.size for s in self.numeric.values()])
        self._fine_at = _cells(self.bank.fine, [s.fine.size for s in self.numeric.values()])
        self._category_at = _cells(self.categorical_bank.counts,
                                   [s.counts.size for s in self.categorical.values()])
        self._coarse_cells = self.bank.coarse.reshape(-1)
        self._fine_cells = self.bank.fine.reshape(-1)
        self._category_cells = self.categorical_bank.counts.reshape(-1)
        self.stride = stride
        self.blocks: deque[_Block | _SummaryBlock] = deque()
        self.count = 0
        self.aged = False  # blocks have left for their age: the stream is too slow to fill it
        self._spare: list[_Block] = []
        self._current = self._block()
        self._filling = _SummaryBlock()
        self._closed: list[_Closed] = []

    def columns(self, events: Sequence[UserEvent]) -> Columns:
        return columns(events, self.numeric, self.categorical)

    def add(self, cols: Columns) -> list[WindowReport]:
        block = self._current
        for seg in self.clock.segments(cols.ts):
            part = slice(seg.lo, seg.hi)
            for name, sketch in block.numeric.items():
                sketch.add(cols.numeric[name][part])
            for name, cat in block.categorical.items():
                cat.add(cols.categorical[name][part])
            if seg.closes:
                block.start, block.end, block.count = seg.start, seg.end, seg.count
                self._slide(block)
                block = self._current = self._spare.pop() if self._spare else self._block()
        return self.take_reports()

    def _block(self) -> _Block:
        return _Block(self.numeric, self.categorical)

    def problem(self, summary: FeatureSummary) -> str | None:
        """Why ``summary`` cannot be a summary against this window's reference, if it
        cannot: a reader trusts no count it cannot check.

        A summary must name exactly the reference's features, with its bins, and its
        counts must add up to its events, no more than ``SUMMARY_EVENTS``.
        """
        events = summary.events
        if events > SUMMARY_EVENTS or summary.last_offset - summary.first_offset < events - 1 \
                or summary.end < summary.start:
            return "summary-out-of-range"
        if summary.numeric.keys() != self.numeric.keys() \
                or summary.categorical.keys() != self.categorical.keys():
            return "summary-features-differ"
        for name, c in summary.numeric.items():
            sketch = self.numeric[name]
            if len(c.coarse) != sketch.coarse.counts.size or len(c.fine) != sketch.fine.size:
                return "summary-bins-differ"
            present = sum(c.coarse)
            if present != sum(c.fine) or present + c.missing != events \
                    or not math.isfinite(c.total):
                return "summary-counts-disagree"
        for name, k in summary.categorical.items():
            if len(k.counts) != self.categorical[name].counts.size:
                return "summary-bins-differ"
            if sum(k.counts) + k.missing + k.unseen != events or sum(k.names.values()) > k.unseen:
                return "summary-counts-disagree"
        return None

    def add_summary(self, summary: FeatureSummary) -> _SummaryBlock:
        """Add a summary that has no :meth:`problem`; the block it went into (which
        :meth:`take_back` needs). The reports of the windows it closes come from
        :meth:`take_reports`, once the batch's summaries are all added.

        Summaries fill a block until it holds ``stride`` events or spans ``max_seconds``,
        so a window slides as often whether its summaries are large or small.
        """
        block = self._filling
        block.start, block.end = spanned(block.start, block.end, block.count, summary)
        block.summaries.append(summary)
        block.binned.append(self._binned(summary))
        block.count += summary.events
        if block.count < self.stride and block.end - block.start < self.max_seconds:
            return block
        self._filling = _SummaryBlock()
        self._slide(block)
        return block

    def take_back(self, summary: FeatureSummary, block: _SummaryBlock) -> None:
        """Take away a summary added into ``block`` (events counted again after a crash),
        from the window too while the block is in it."""
        kept = block.summaries
        at = next(i for i, s in enumerate(kept) if s is summary)
        binned = block.binned.pop(at)
        del kept[at]
        block.count -= summary.events
        if block.in_window:
            self._absorb(summary, binned, -1)
            self.count -= summary.events

    def _binned(self, summary: FeatureSummary) -> _Binned:
        numeric = [summary.numeric[name] for name in self.numeric]
        return (np.fromiter(chain.from_iterable(c.coarse for c in numeric), np.int64,
                            self._coarse_at.size),
                np.fromiter(chain.from_iterable(c.fine for c in numeric), np.int64,
                            self._fine_at.size),
                np.fromiter(chain.from_iterable(summary.categorical[name].counts
                                                for name in self.categorical), np.int64,
                            self._category_at.size))

    def _absorb(self, summary: FeatureSummary, binned: _Binned, sign: int) -> None:
        coarse, fine, categories = binned
        self._coarse_cells[self._coarse_at] += sign * coarse
        self._fine_cells[self._fine_at] += sign * fine
        self._category_cells[self._category_at] += sign * categories
        for name, counts in summary.numeric.items():
            sketch = self.numeric[name]
            sketch.missing += sign * counts.missing
            sketch.total += sign * counts.total
        for name, kinds in summary.categorical.items():
            self.categorical[name].absorb_tallies(kinds.missing, kinds.unseen, kinds.names,
                                                  sign)

    def _slide(self, block: _Block | _SummaryBlock) -> None:
        self._move(block, 1)
        self.blocks.append(block)
        block.in_window = True
        while self.count - self.blocks[0].count >= self.max_events \
                or self.blocks[0].start < block.end - self.max_seconds:
            oldest = self.blocks.popleft()
            oldest.in_window = False
            self.aged = self.aged or oldest.start < block.end - self.max_seconds
            self._move(oldest, -1)
            if isinstance(oldest, _Block):
                oldest.reset()
                self._spare.append(oldest)
        full = self.count >= self.max_events or (self.aged and self.count >= self.min_events)
        self._closed.append(_Closed(self.bank.held(), self.categorical_bank.held(),
                                    self.blocks[0].start, block.end, self.count, full))

    def _move(self, block: _Block | _SummaryBlock, sign: int) -> None:
        if isinstance(block, _SummaryBlock):
            for summary, binned in zip(block.summaries, block.binned, strict=True):
                self._absorb(summary, binned, sign)
            self.count += sign * block.count
            return
        for name, sketch in self.numeric.items():
            sketch.absorb(block.numeric[name], sign)
        for name, cat in self.categorical.items():
            cat.absorb(block.categorical[name], sign)
        self.count += sign * block.count

    def take_reports(self) -> list[WindowReport]:
        """The reports of the windows closed since the last call, oldest first: their
        figures computed together, in a few numpy calls however many they are."""
        closed, self._closed = self._closed, []
        if not closed:
            return []
        numeric = self.bank.table_at([c.numeric for c in closed])
        categorical = self.categorical_bank.table_at([c.categorical for c in closed])
        tables = FeatureTables([(list(self.numeric), numeric),
                                (list(self.categorical), categorical)])
        reports = []
        for w, c in enumerate(closed):
            features = WindowFeatures(tables, w)
            psis = [v for v in feature_values(features, "psi")
                    if v is not None and math.isfinite(v)]
            figures = {"events": float(c.events), "max_psi": max(psis, default=math.nan)}
            reports.append(WindowReport("features", self.scope, c.start, c.end, c.events,
                                        figures, features, judged=c.full))
        return reports


class _Closed(NamedTuple):
    """A window as it was when it closed, its figures not yet computed."""

    numeric: NumericHeld
    categorical: CategoricalHeld
    start: float
    end: float
    events: int
    full: bool


def _cells(bank: NDArray[np.int64], sizes: Sequence[int]) -> NDArray[np.intp]:
    """Indices, in ``bank`` flattened, of the first ``sizes[i]`` cells of each row ``i``."""
    return np.asarray([i * bank.shape[1] + j for i, size in enumerate(sizes)
                       for j in range(size)], dtype=np.intp)


__all__ = ["Columns", "FeatureWindow", "columns"]
