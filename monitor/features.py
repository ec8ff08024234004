"""Data drift: every feature of one served version against its training reference."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from itertools import chain
from typing import Final, NamedTuple, cast

import numpy as np
from numpy.typing import NDArray

from contracts.feature_summary import SUMMARY_EVENTS, Columns, columns
from contracts.packed import COUNT
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
from monitor.windows import PASS_EVENTS, WindowClock, spanned


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


# Summaries (and the windows they close, one a summary at most) one pass takes.
_PASS_SUMMARIES: Final = PASS_EVENTS // SUMMARY_EVENTS

# A summary's counts as four arrays, all features in a row: numeric histogram bins,
# percentile cells, categories, and the counts beside the bins (:func:`_tallies`).
# Made once, added to the window and later taken out.
_Binned = tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]


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

    def add_summaries(self, summaries: Sequence[FeatureSummary]) -> list[_SummaryBlock]:
        """:meth:`add_summary` of each summary in turn (none with a :meth:`problem`), the
        block each went into: the window's counts at every close come from one cumulative
        sum over the blocks added and taken away, rather than a step per summary, over
        :data:`_PASS_SUMMARIES` summaries at a time."""
        if any(isinstance(b, _Block) for b in self.blocks):  # events fed too: step by step
            return [self.add_summary(summary) for summary in summaries]
        return [block for lo in range(0, len(summaries), _PASS_SUMMARIES)
                for block in self._add_pass(summaries[lo:lo + _PASS_SUMMARIES])]

    def _add_pass(self, summaries: Sequence[FeatureSummary]) -> list[_SummaryBlock]:
        rows = self._binned_rows(summaries)
        placed: list[_SummaryBlock] = []
        moves: list[tuple[int, _SummaryBlock]] = []  # blocks in (+1) and out (-1), in order
        closes: list[tuple[int, float, float, int, bool]] = []
        stride, max_seconds = self.stride, self.max_seconds
        for i, summary in enumerate(summaries):
            block = self._filling
            block.start, block.end = spanned(block.start, block.end, block.count, summary)
            block.summaries.append(summary)
            block.binned.append((rows[0][i], rows[1][i], rows[2][i], rows[3][i]))
            block.count += summary.events
            placed.append(block)
            if block.count < stride and block.end - block.start < max_seconds:
                continue
            self._filling = _SummaryBlock()
            moves.append((1, block))
            self.blocks.append(block)
            block.in_window = True
            self.count += block.count
            # A block spanning more than max_seconds by itself stays: a window holds one.
            while self.blocks[0] is not block and (
                    self.count - self.blocks[0].count >= self.max_events
                    or self.blocks[0].start < block.end - max_seconds):
                oldest = cast(_SummaryBlock, self.blocks.popleft())  # no events: checked above
                oldest.in_window = False
                self.aged = self.aged or oldest.start < block.end - max_seconds
                moves.append((-1, oldest))
                self.count -= oldest.count
            full = self.count >= self.max_events or (self.aged and self.count >= self.min_events)
            closes.append((len(moves), self.blocks[0].start, block.end, self.count, full))
        if moves:
            self._moved(moves, closes)
        return placed

    def _binned_rows(self, summaries: Sequence[FeatureSummary]) -> _Binned:
        """:meth:`_binned` of many summaries: one row each."""
        numeric, categorical, n = list(self.numeric), list(self.categorical), len(summaries)
        widths = (self._coarse_at.size, self._fine_at.size, self._category_at.size,
                  2 * len(numeric) + 2 * len(categorical))
        return (_count_rows([s.numeric[name].coarse for s in summaries for name in numeric],
                            n, widths[0]),
                _count_rows([s.numeric[name].fine for s in summaries for name in numeric],
                            n, widths[1]),
                _count_rows([s.categorical[name].counts for s in summaries
                             for name in categorical], n, widths[2]),
                np.fromiter(chain.from_iterable(_tallies(s, numeric, categorical)
                                                for s in summaries), np.float64,
                            n * widths[3]).reshape(n, widths[3]))

    def _moved(self, moves: list[tuple[int, _SummaryBlock]],
               closes: list[tuple[int, float, float, int, bool]]) -> None:
        """Apply blocks moved in and out, in order, and keep the window's counts at each
        close: ``closes`` name how many moves came before each."""
        numeric, categorical = list(self.numeric.values()), list(self.categorical.values())
        nn, nk = len(numeric), len(categorical)
        signs = np.asarray([sign for sign, _ in moves], dtype=np.int64)[:, None]
        summed = [self._summed(block) for _, block in moves]
        cells = (self._coarse_cells[self._coarse_at], self._fine_cells[self._fine_at],
                 self._category_cells[self._category_at])
        # The window after each move: what it held, and the moves so far.
        after = [start + np.cumsum(np.stack([m[j] for m in summed]) * signs, axis=0)
                 for j, start in enumerate(cells)]
        held = np.asarray([*(s.missing for s in numeric), *(s.total for s in numeric),
                           *(s.missing for s in categorical),
                           *(s.unseen_total for s in categorical)], dtype=np.float64)
        tallied = held + np.cumsum(np.stack([m[3] for m in summed]) * signs, axis=0)
        at = [k - 1 for k, *_ in closes]
        unseen = self._names_at(moves, [k for k, *_ in closes])
        coarse = _laid(after[0][at], self._coarse_at, self.bank.coarse.shape)
        fine = _laid(after[1][at], self._fine_at, self.bank.fine.shape)
        counts = _laid(after[2][at], self._category_at, self.categorical_bank.counts.shape)
        for j, (tallies, (_, start, end, events, full)) in enumerate(
                zip(tallied[at].tolist(), closes, strict=True)):
            self._closed.append(_Closed(
                NumericHeld(coarse[j], fine[j], [int(v) for v in tallies[:nn]],
                            tallies[nn:2 * nn]),
                CategoricalHeld(counts[j], [int(v) for v in tallies[2 * nn:2 * nn + nk]],
                                [int(v) for v in tallies[2 * nn + nk:]], unseen[j]),
                start, end, events, full))
        self._coarse_cells[self._coarse_at] = after[0][-1]
        self._fine_cells[self._fine_at] = after[1][-1]
        self._category_cells[self._category_at] = after[2][-1]
        last = tallied[-1].tolist()
        for i, sketch in enumerate(numeric):
            sketch.missing, sketch.total = int(last[i]), last[nn + i]
        for i, cat in enumerate(categorical):
            cat.missing, cat.unseen_total = int(last[2 * nn + i]), int(last[2 * nn + nk + i])

    def _summed(self, block: _SummaryBlock) -> _Binned:
        """A block's counts: its summaries' summed (none, when all were taken back)."""
        if len(block.binned) == 1:
            return block.binned[0]
        coarse, fine, categories, tallies = self._binned_rows(block.summaries)
        return coarse.sum(axis=0), fine.sum(axis=0), categories.sum(axis=0), tallies.sum(axis=0)

    def _names_at(self, moves: list[tuple[int, _SummaryBlock]],
                  closes: list[int]) -> list[list[dict[str, int]]]:
        """The unseen values each categorical feature names at each close, moving the
        named counts as :meth:`CategoricalSketch.absorb_tallies` does."""
        out = []
        done = 0
        for k in closes:
            for sign, block in moves[done:k]:
                for summary in block.summaries:
                    for name, kinds in summary.categorical.items():
                        if kinds.names:
                            self.categorical[name].absorb_tallies(0, 0, kinds.names, sign)
            done = k
            out.append([dict(c.unseen) for c in self.categorical.values()])
        return out

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
        coarse, fine, categories, tallies = self._binned_rows([summary])
        return coarse[0], fine[0], categories[0], tallies[0]

    def _absorb(self, summary: FeatureSummary, binned: _Binned, sign: int) -> None:
        coarse, fine, categories, _ = binned
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
        while self.blocks[0] is not block and (
                self.count - self.blocks[0].count >= self.max_events
                or self.blocks[0].start < block.end - self.max_seconds):
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
        figures computed together, in a few numpy calls for :data:`_PASS_SUMMARIES`
        windows."""
        closed, self._closed = self._closed, []
        return [report for lo in range(0, len(closed), _PASS_SUMMARIES)
                for report in self._reports(closed[lo:lo + _PASS_SUMMARIES])]

    def _reports(self, closed: list[_Closed]) -> list[WindowReport]:
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


def _tallies(summary: FeatureSummary, numeric: list[str], categorical: list[str]) \
        -> list[float]:
    """A summary's counts beside its bins: each numeric feature's missing values, then
    each one's sum, then each categorical feature's missing values, then each one's
    unseen values."""
    counts = [summary.numeric[name] for name in numeric]
    kinds = [summary.categorical[name] for name in categorical]
    return [*(c.missing for c in counts), *(c.total for c in counts),
            *(k.missing for k in kinds), *(k.unseen for k in kinds)]


def _count_rows(columns: list[list[int] | bytes], n: int, width: int) -> NDArray[np.int64]:
    """The counts of ``n`` summaries (their columns one after the other, ``width`` counts
    each) as one row each: packed, read at once."""
    packed = [c for c in columns if isinstance(c, bytes)]
    if len(packed) == len(columns):
        return np.frombuffer(b"".join(packed), COUNT).astype(np.int64).reshape(n, width)
    return np.fromiter(chain.from_iterable(columns), np.int64, n * width).reshape(n, width)


def _laid(rows: NDArray[np.int64], at: NDArray[np.intp], shape: tuple[int, ...]) \
        -> NDArray[np.int64]:
    """Rows of counts laid out as a bank's: one bank-shaped array a row."""
    out = np.zeros((len(rows), *shape), dtype=np.int64)
    out.reshape(len(rows), -1)[:, at] = rows
    return out


def _cells(bank: NDArray[np.int64], sizes: Sequence[int]) -> NDArray[np.intp]:
    """Indices, in ``bank`` flattened, of the first ``sizes[i]`` cells of each row ``i``."""
    return np.asarray([i * bank.shape[1] + j for i, size in enumerate(sizes)
                       for j in range(size)], dtype=np.intp)


__all__ = ["Columns", "FeatureWindow", "columns"]
