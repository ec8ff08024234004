"""Figures of the predictions of one version on one route, window by window.

Throughput, event-time-to-prediction latency, the score distribution and positive
rate, prediction drift (PSI of the scores against the validation scores), label
coverage, and the label-free estimate of performance (:mod:`monitor.estimate`).
Everything is counted on fixed grids, so a scope's memory does not grow with traffic,
and a window slides as the sum of its blocks. Blocks are cut from predictions
(:meth:`PredictionScope.add`) or filled with the processor's prediction summaries
(:meth:`PredictionScope.add_summaries`, :mod:`contracts.prediction_summary`), which count
on the same grids.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from itertools import chain
from typing import Final

import numpy as np
from numpy.typing import NDArray

from contracts.feature_summary import SUMMARY_EVENTS
from contracts.prediction_summary import (
    LATENCY_BUCKETS,
    LATENCY_EDGES,
    SCORE_BINS,
    latency_buckets,
)
from contracts.records import PredictionSummary
from contracts.reference_stats import Histogram
from contracts.sketches import BinnedCounts, psi_all
from monitor.estimate import Calibration, ScoreTable, estimate, estimate_all
from monitor.report import Scope, WindowReport
from monitor.windows import WindowClock, spanned

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


def bucket_quantiles(counts: NDArray[np.int64], bounds: Floats, q: float) -> list[float]:
    """:func:`bucket_quantile` of each row of ``counts``.

    >>> bucket_quantiles(np.array([[1, 2, 1], [0, 0, 0], [0, 1, 3]]), np.array([1.0, 2.0]), 0.5)
    [2.0, nan, inf]
    """
    n = counts.sum(axis=1)
    # The first bucket whose running count reaches q * n: the number of those below it.
    at = (np.cumsum(counts, axis=1) < (q * n)[:, None]).sum(axis=1)
    top = np.append(bounds, math.inf)
    quantiles: list[float] = np.where(n > 0, top[np.minimum(at, bounds.size)],
                                      math.nan).tolist()
    return quantiles


class _Block:
    """Counts of ``stride`` consecutive predictions (fewer when cut by event time)."""

    def __init__(self, reference_scores: Histogram | None) -> None:
        self.latency = np.zeros(LATENCY_EDGES.size + 1, dtype=np.int64)
        self.table = ScoreTable()
        self.scores = BinnedCounts(reference_scores) if reference_scores else None
        self.count = 0
        self.labeled = 0  # labeled events of the scope counted while this block was open
        self.start = self.end = 0.0
        self.in_window = False


class PredictionScope:
    """A sliding window over the predictions of one scope: the last ``max_events`` (within
    ``max_seconds`` of event time), judged again every ``stride`` predictions.

    As :class:`monitor.features.FeatureWindow`, the window is the sum of its blocks of
    ``stride`` predictions, every figure a count or a sum over fixed bins, so a closing
    block is added and the oldest taken away. A window is judged once it is full (or,
    on a stream too slow to fill it within ``max_seconds``, once it holds
    ``min_events``). ``stride`` defaults to ``max_events``: tumbling windows.

    Examples
    --------
    >>> s = PredictionScope(Scope("m", 1, "champion"), max_events=4, max_seconds=60,
    ...                     min_events=1)
    >>> [r] = s.add(np.arange(4.0), np.array([0.1, 0.2, 0.9, 0.8]), np.array([0, 0, 1, 1]),
    ...             np.full(4, 0.02))
    >>> r.figures["positive_rate"], r.figures["latency_p50"], r.figures["throughput"]
    (0.5, 0.025, 1.3333333333333333)
    >>> s = PredictionScope(Scope("m", 1, "champion"), max_events=4, stride=2,
    ...                     max_seconds=60, min_events=1)
    >>> [(r.n, r.judged, r.figures["positive_rate"]) for r in s.add(
    ...     np.arange(8.0), np.array([0.1, 0.2, 0.9, 0.8, 0.7, 0.9, 0.6, 0.8]),
    ...     np.array([0, 0, 1, 1, 1, 1, 1, 1]), np.full(8, 0.02))]
    [(2, False, 0.0), (4, True, 0.5), (4, True, 1.0), (4, True, 1.0)]
    """

    def __init__(self, scope: Scope, *, max_events: int, max_seconds: float, min_events: int,
                 stride: int | None = None, reference_scores: Histogram | None = None,
                 reference_metrics: Mapping[str, float] | None = None) -> None:
        self.scope = scope
        self.min_events = min_events
        self.max_events = max_events
        self.max_seconds = max_seconds
        self.stride = min(stride or max_events, max_events)
        self.clock = WindowClock(max_events=self.stride, max_seconds=max_seconds)
        self.reference_scores = reference_scores
        self.reference_metrics = dict(reference_metrics or {})
        self.calibration: Calibration | None = None
        # The window's sums over its blocks.
        self.window = _Block(reference_scores)
        self.blocks: deque[_Block] = deque()
        self.aged = False  # blocks have left for their age: the stream is too slow to fill it
        self._current = _Block(reference_scores)
        self._coverage_parts: deque[_Block] = deque()
        self.total_latency = np.zeros_like(self.window.latency)  # since start, for /metrics
        self.latency_sum = 0.0
        self.total = 0
        self.labeled = 0  # labeled events of this scope since start, for coverage
        self._labeled_at_close = 0

    @property
    def scores(self) -> BinnedCounts | None:
        """The window's score counts over the reference's bins (None: no reference yet)."""
        return self.window.scores

    def watch_scores(self, reference_scores: Histogram) -> None:
        """The version's reference arrived after its first predictions: count scores from
        the next block on (the window's figure covers the blocks counted since)."""
        self.reference_scores = reference_scores
        self.window.scores = BinnedCounts(reference_scores)
        self._current.scores = BinnedCounts(reference_scores)

    def add(self, ts: Floats, scores: Floats, decisions: NDArray[np.int64],
            latency: Floats) -> list[WindowReport]:
        self.total += ts.size
        reports = []
        block = self._current
        for seg in self.clock.segments(ts):
            part = slice(seg.lo, seg.hi)
            s, d = scores[part], decisions[part]
            buckets = np.bincount(latency_buckets(latency[part]), minlength=block.latency.size)
            block.latency += buckets
            self.total_latency += buckets
            self.latency_sum += float(latency[part].sum())
            block.table.add(s, d)
            if block.scores is not None:
                block.scores.add(s)
            if seg.closes:
                block.start, block.end, block.count = seg.start, seg.end, seg.count
                reports.append(self._close(block))
                block = self._current
        return reports

    def problem(self, summary: PredictionSummary) -> str | None:
        """Why ``summary`` cannot be a summary of this scope's predictions, if it cannot:
        grids of other sizes, or counts that do not add up to its events."""
        events, table = summary.events, summary.table
        if events > SUMMARY_EVENTS or summary.last_offset - summary.first_offset < events - 1 \
                or summary.end < summary.start or not math.isfinite(summary.latency_total) \
                or summary.explained > events:
            return "summary-out-of-range"
        # Scores counted against a reference this monitor has not read yet are left out,
        # as predictions' are until it has (watch_scores).
        reference = self.window.scores
        if len(summary.latency) != LATENCY_EDGES.size + 1 or len(table.counts) != len(
                table.cells) or len(table.sums) != len(table.cells) or (
                summary.scores and reference is not None
                and len(summary.scores) != reference.counts.size):
            return "summary-bins-differ"
        cells = table.cells
        if any(b <= a for a, b in zip(cells, cells[1:], strict=False)) \
                or (cells and cells[-1] >= 2 * SCORE_BINS) or 0 in table.counts \
                or not all(0.0 <= t <= n for t, n in zip(table.sums, table.counts, strict=True)):
            return "summary-cells-invalid"
        if sum(summary.latency) != events or sum(table.counts) != events \
                or (summary.scores and sum(summary.scores) != events) \
                or any(t.count > summary.explained or not math.isfinite(t.size)
                       for t in summary.terms.values()):
            return "summary-counts-disagree"
        return None

    def add_summaries(self, summaries: Sequence[PredictionSummary]) \
            -> tuple[list[WindowReport], list[_Block]]:
        """Add summaries that have no :meth:`problem`, in order; the reports they closed,
        and the block each went into (which :meth:`take_back` needs).

        Summaries fill a block until it holds ``stride`` predictions or spans
        ``max_seconds``, as :meth:`add` cuts blocks from predictions. The blocks' counts
        come from one sum a block, and the window's at each close from one cumulative sum
        over the blocks moved in and out.
        """
        if not summaries:
            return [], []
        rows = _rows(summaries, self.window.scores)
        self.total += sum(s.events for s in summaries)
        self.total_latency += rows[0].sum(axis=0)
        self.latency_sum += sum(s.latency_total for s in summaries)
        placed: list[_Block] = []
        filled: list[tuple[_Block, int]] = []  # each block given summaries, and the first
        moves: list[tuple[int, _Block]] = []
        closes: list[tuple[int, float, float, int, bool, float]] = []
        for i, summary in enumerate(summaries):
            block = self._current
            if not filled or filled[-1][0] is not block:
                filled.append((block, i))
            block.start, block.end = spanned(block.start, block.end, block.count, summary)
            block.count += summary.events
            placed.append(block)
            if block.count < self.stride and block.end - block.start < self.max_seconds:
                continue
            block.labeled, self._labeled_at_close = \
                self.labeled - self._labeled_at_close, self.labeled
            self._current = _Block(self.reference_scores)
            moves.append((1, block))
            n = self._enter(block)
            while self.blocks[0] is not block and (
                    n - self.blocks[0].count >= self.max_events
                    or self.blocks[0].start < block.end - self.max_seconds):
                oldest = self.blocks.popleft()
                oldest.in_window = False
                self.aged = self.aged or oldest.start < block.end - self.max_seconds
                moves.append((-1, oldest))
                n -= oldest.count
            full = n >= self.max_events or (self.aged and n >= self.min_events)
            closes.append((len(moves), self.blocks[0].start, block.end, n, full,
                           self._coverage()))
        self._fill(filled, rows)
        return self._reports(moves, closes), placed

    def _enter(self, block: _Block) -> int:
        """Put a closed block in the window's list; the events the window then holds."""
        self.blocks.append(block)
        block.in_window = True
        self._coverage_parts.append(block)
        # Labels come in bursts (the joiner, batches), so coverage is read over the
        # predictions of the last few windows' worth.
        while sum(b.count for b in self._coverage_parts) - self._coverage_parts[0].count \
                >= COVERAGE_WINDOWS * self.max_events:
            self._coverage_parts.popleft()
        return sum(b.count for b in self.blocks)

    def _fill(self, filled: list[tuple[_Block, int]], rows: _Rows) -> None:
        """Add each block's summaries' counts to it: ``filled`` names each block and its
        first summary, and a block's summaries follow one another."""
        starts = [i for _, i in filled]
        latency, counts, sums = (np.add.reduceat(r, starts, axis=0) for r in rows[:3])
        scores = None if rows[3] is None else np.add.reduceat(rows[3], starts, axis=0)
        for j, (block, _) in enumerate(filled):
            block.latency += latency[j]
            block.table.counts += counts[j].reshape(2, SCORE_BINS)
            block.table.sums += sums[j].reshape(2, SCORE_BINS)
            if block.scores is not None and scores is not None:
                block.scores.counts += scores[j]

    def _reports(self, moves: list[tuple[int, _Block]],
                 closes: list[tuple[int, float, float, int, bool, float]]) -> list[WindowReport]:
        """Move the blocks in and out of the window, and the report of each close."""
        if not moves:
            return []
        w = self.window
        signs = np.asarray([sign for sign, _ in moves], dtype=np.int64)[:, None]
        latency = w.latency + np.cumsum(np.stack([b.latency for _, b in moves]) * signs,
                                        axis=0)
        counts = w.table.counts.reshape(-1) + np.cumsum(
            np.stack([b.table.counts.reshape(-1) for _, b in moves]) * signs, axis=0)
        sums = w.table.sums.reshape(-1) + np.cumsum(
            np.stack([b.table.sums.reshape(-1) for _, b in moves]) * signs, axis=0)
        scores = None if w.scores is None else w.scores.counts + np.cumsum(np.stack(
            [b.scores.counts if b.scores is not None else np.zeros_like(w.scores.counts)
             for _, b in moves]) * signs, axis=0)
        reports = []
        at = [k - 1 for k, *_ in closes]
        estimates = estimate_all(counts[at].reshape(-1, 2, SCORE_BINS),
                                 sums[at].reshape(-1, 2, SCORE_BINS), self.calibration)
        p50s = bucket_quantiles(latency[at], LATENCY_EDGES, 0.5)
        p95s = bucket_quantiles(latency[at], LATENCY_EDGES, 0.95)
        psis: list[float | None] = [None] * len(at)
        if scores is not None and w.scores is not None:
            psis[:] = psi_all(scores[at], w.scores.expected)
        for j, ((k, start, end, n, full, coverage), estimated) in enumerate(
                zip(closes, estimates, strict=True)):
            table = ScoreTable(counts[k - 1].reshape(2, SCORE_BINS),
                               sums[k - 1].reshape(2, SCORE_BINS))
            reports.append(self._report_of(n, start, end, (p50s[j], p95s[j]), table, psis[j],
                                           coverage, full, estimated))
        w.latency[:] = latency[-1]
        w.table.counts[:] = counts[-1].reshape(2, SCORE_BINS)
        w.table.sums[:] = sums[-1].reshape(2, SCORE_BINS)
        if w.scores is not None and scores is not None:
            w.scores.counts[:] = scores[-1]
        w.count = sum(b.count for b in self.blocks)
        return reports

    def take_back(self, summary: PredictionSummary, block: _Block) -> None:
        """Take away a summary added into ``block`` (events scored again after a crash),
        from the window too while the block is in it."""
        self._absorb(block, summary, -1)
        if block.in_window:
            self._absorb(self.window, summary, -1)

    def _absorb(self, block: _Block, summary: PredictionSummary, sign: int) -> None:
        table = summary.table
        latency = sign * np.asarray(summary.latency, dtype=np.int64)
        block.latency += latency
        cells = np.asarray(table.cells, dtype=np.intp)
        counts = np.asarray(table.counts, dtype=np.float64)
        sums = np.asarray(table.sums, dtype=np.float64)
        block.table.counts.reshape(-1)[cells] += sign * counts
        block.table.sums.reshape(-1)[cells] += sign * sums
        if block.scores is not None and summary.scores:
            block.scores.counts += sign * np.asarray(summary.scores, dtype=np.int64)
        block.count += sign * summary.events
        if block is not self.window:  # the since-start figures, once a summary
            self.total += sign * summary.events
            self.total_latency += latency
            self.latency_sum += sign * summary.latency_total

    def _close(self, block: _Block) -> WindowReport:
        block.labeled, self._labeled_at_close = \
            self.labeled - self._labeled_at_close, self.labeled
        self._current = _Block(self.reference_scores)
        return self._slide(block)

    def _slide(self, block: _Block) -> WindowReport:
        self._move(block, 1)
        self._enter(block)
        while self.blocks[0] is not block and (
                self.window.count - self.blocks[0].count >= self.max_events
                or self.blocks[0].start < block.end - self.max_seconds):
            oldest = self.blocks.popleft()
            oldest.in_window = False
            self.aged = self.aged or oldest.start < block.end - self.max_seconds
            self._move(oldest, -1)
        return self._report()

    def _move(self, block: _Block, sign: int) -> None:
        w = self.window
        w.latency += sign * block.latency
        w.table.counts += sign * block.table.counts
        w.table.sums += sign * block.table.sums
        if w.scores is not None and block.scores is not None:
            w.scores.counts += sign * block.scores.counts
        w.count += sign * block.count

    def _coverage(self) -> float:
        """Labels arriving per prediction over the last few windows' predictions, at most 1."""
        labeled = sum(b.labeled for b in self._coverage_parts)
        return min(1.0, labeled / max(1, sum(b.count for b in self._coverage_parts)))

    def _report(self) -> WindowReport:
        w = self.window
        return self._report_of(w.count, self.blocks[0].start, self.blocks[-1].end,
                               (bucket_quantile(w.latency, LATENCY_EDGES, 0.5),
                                bucket_quantile(w.latency, LATENCY_EDGES, 0.95)), w.table,
                               w.scores.psi() if w.scores is not None else math.nan,
                               self._coverage(),
                               w.count >= self.max_events
                               or (self.aged and w.count >= self.min_events),
                               estimate(w.table, self.calibration))

    def _report_of(self, n: int, start: float, end: float, latency: tuple[float, float],
                   table: ScoreTable, score_psi: float | None, coverage: float,
                   full: bool, estimated: Mapping[str, float]) -> WindowReport:
        """The report of a window holding ``n`` predictions with these counts (and these
        latency p50 and p95), and the performance :func:`~monitor.estimate.estimate`
        makes of them."""
        figures = {
            "predictions": float(n),
            "throughput": n / (end - start) if end > start else math.nan,
            "latency_p50": latency[0],
            "latency_p95": latency[1],
            "positive_rate": float(table.counts[1].sum()) / n,
            "score_mean": float(table.sums.sum()) / n,
            "score_psi": math.nan if score_psi is None else score_psi,
            "label_coverage": coverage,
            **estimated,
        }
        reference_auc = self.reference_metrics.get("roc_auc")
        if reference_auc is not None and "estimated_roc_auc" in figures:
            figures["estimated_roc_auc_drop"] = reference_auc - figures["estimated_roc_auc"]
        return WindowReport("predictions", self.scope, start, end, n, figures, judged=full)


_Rows = tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64],
              NDArray[np.int64] | None]


def _rows(summaries: Sequence[PredictionSummary], scores: BinnedCounts | None) -> _Rows:
    """The summaries' counts, a row each: latency buckets, then the score table's counts
    and sums (cell by cell), then the counts over the reference's score bins (None
    without a reference; zeros for a summary counted without one)."""
    n = len(summaries)
    latency = np.fromiter(chain.from_iterable(s.latency for s in summaries), np.int64,
                          n * (LATENCY_EDGES.size + 1)).reshape(n, -1)
    width = 2 * SCORE_BINS
    at = np.fromiter(chain.from_iterable(s.table.cells for s in summaries), np.intp)
    at += np.repeat(np.arange(n) * width, [len(s.table.cells) for s in summaries])
    counts, sums = np.zeros((n, width)), np.zeros((n, width))
    counts.reshape(-1)[at] = np.fromiter(chain.from_iterable(s.table.counts for s in summaries),
                                         np.float64, at.size)
    sums.reshape(-1)[at] = np.fromiter(chain.from_iterable(s.table.sums for s in summaries),
                                       np.float64, at.size)
    if scores is None:
        return latency, counts, sums, None
    bins = np.zeros((n, scores.counts.size), dtype=np.int64)
    for i, s in enumerate(summaries):
        if s.scores:
            bins[i] = s.scores
    return latency, counts, sums, bins


__all__ = ["LATENCY_BUCKETS", "PredictionScope", "bucket_quantile", "bucket_quantiles"]
