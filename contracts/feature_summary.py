"""Feature summaries: a batch's events folded against a version's reference where they
are already decoded, so the monitor need not read every event again.

The scoring processor folds its valid events into one
:class:`~contracts.records.FeatureSummary` per run of at most :data:`SUMMARY_EVENTS`
consecutive events of a ``user-events`` partition, for each version it serves. A
summary holds counts over the reference's fixed bins (those :mod:`contracts.sketches`
judges on), never values, so it is as small as the reference whatever the traffic, and
summaries add up: the monitor's window is the sum of the summaries it holds. Counts
are packed a byte each (:mod:`contracts.packed`). Each carries its partition's offsets,
which is how a reader recognises events scored again after a crash.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import msgspec
import numpy as np
from numpy.typing import NDArray

from contracts.feature_rows import Row, Vocabulary, category_text, codes, column, numbers
from contracts.packed import COUNT
from contracts.records import (
    MAX_UNSEEN_NAMES,
    SUMMARY_EVENTS,
    CategoricalCounts,
    FeatureSummary,
    ModelVersion,
    NumericCounts,
    UserEvent,
)
from contracts.reference_stats import Reference

logger = logging.getLogger(__name__)

# Sums past this would read as infinity, which JSON has no place for.
LARGEST_SUM: Final = sys.float_info.max


@dataclass(frozen=True, slots=True)
class Columns:
    """A batch of events as one array (or list) per feature, built once per batch."""

    ts: NDArray[np.float64]
    numeric: dict[str, NDArray[np.float64]]
    categorical: dict[str, list[str | None]]


def columns(events: Sequence[UserEvent], numeric: Iterable[str],
            categorical: Iterable[str]) -> Columns:
    """Feature columns of ``events``; absent features and text in numeric ones are missing.

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
        {name: _numbers(feats, name) for name in numeric},
        # Most values are text already: checking the type inline spares a call each.
        {name: [v if type(v) is str else category_text(v)
                for v in [f.get(name) for f in feats]] for name in categorical},
    )


def _numbers(rows: Sequence[Row], name: str) -> NDArray[np.float64]:
    """Numeric feature ``name`` as floats: the scorer's when it read them (a
    :class:`~contracts.feature_rows.FeatureRows` keeps them), and text counts as missing."""
    found = numbers(rows, name)
    if found is not None:
        return found
    return np.array([v if isinstance(v, float | int) else math.nan for v in column(rows, name)],
                    dtype=np.float64)


def _columns_of(categories: list[str]) -> tuple[Vocabulary, NDArray[np.intp]]:
    """The vocabulary of a reference's categories, and the column of a summary's table
    each of its codes counts in: 0 missing, then the categories in the reference's order,
    then unseen ones.

    >>> _columns_of(["web", "ios"])[1].tolist()
    [2, 1, 0, 3]
    """
    vocabulary = Vocabulary(categories)
    place = {c: i + 1 for i, c in enumerate(categories)}
    return vocabulary, np.asarray([*(place[c] for c in vocabulary.categories), 0,
                                   len(categories) + 1], dtype=np.intp)


class _Cuts:
    """A numeric reference's histogram edges and percentile grid, merged: one search a
    value finds its cell among both, and each cell belongs to one bin of either.

    >>> cuts = _Cuts(np.array([1.0]), np.array([0.0, 2.0]))
    >>> cuts.both.tolist(), cuts.coarse.tolist(), cuts.fine.tolist()
    ([0.0, 1.0, 2.0], [0, 2], [0, 1, 3])
    """

    def __init__(self, edges: NDArray[np.float64], grid: NDArray[np.float64]) -> None:
        self.both = np.union1d(edges, grid)
        # Cell u holds the values in (both[u - 1], both[u]]: those above as many edges
        # (grid points) as lie at or below both[u - 1]. Each bin starts at its first cell.
        below = np.concatenate(([-np.inf], self.both))
        self.coarse = np.searchsorted(np.searchsorted(edges, below, side="right"),
                                      np.arange(edges.size + 1))
        self.fine = np.searchsorted(np.searchsorted(grid, below, side="right"),
                                    np.arange(grid.size + 1))


@dataclass(frozen=True, slots=True)
class Run:
    """Rows ``[lo, hi)`` of a batch's columns: consecutive events of one partition, at
    offsets ``first`` to ``last``."""

    lo: int
    hi: int
    partition: int
    first: int
    last: int


Layout = tuple[NDArray[np.intp], list[Run]]  # what runs_of gives: a batch's order, and its runs


def runs_of(partitions: Sequence[int] | NDArray[np.int64], offset_of: Callable[[int], int],
            size: int = SUMMARY_EVENTS) -> Layout:
    """The order to lay a batch's events out in (by partition, each partition's in its
    order), and the runs of at most ``size`` events that order cuts into.

    ``partitions[i]`` is event ``i``'s partition; ``offset_of(i)`` its offset, asked
    only at the ends of runs.

    >>> order, runs = runs_of([0, 1, 0, 0], lambda i: 10 + i, size=2)
    >>> order.tolist(), [(r.lo, r.hi, r.partition, r.first, r.last) for r in runs]
    ([0, 2, 3, 1], [(0, 2, 0, 10, 12), (2, 3, 0, 13, 13), (3, 4, 1, 11, 11)])
    """
    by_partition = np.asarray(partitions, dtype=np.int64)
    order = np.argsort(by_partition, kind="stable")
    laid = by_partition[order]
    # A run starts where the partition changes, and every ``size`` events after that.
    changes = np.flatnonzero(np.diff(laid)) + 1
    segment_starts = np.concatenate(([0], changes))
    segment_of = np.repeat(segment_starts, np.diff(np.concatenate((segment_starts,
                                                                    [laid.size]))))
    starts = np.flatnonzero((np.arange(laid.size) - segment_of) % size == 0)
    ends = np.concatenate((starts[1:], [laid.size]))
    return order, [Run(lo, hi, int(laid[lo]), offset_of(int(order[lo])),
                       offset_of(int(order[hi - 1])))
                   for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True)]


class Summariser:
    """Folds batches of feature rows into summaries against one version's reference.

    Examples
    --------
    >>> ref = Reference.from_json(b'{"rows": 4, "numeric": {"x": {"histogram": '
    ...     b'{"edges": [1.0], "frequencies": [0.5, 0.5]}, "quantiles": [0.0, 1.0, 2.0], '
    ...     b'"missing_rate": 0.0}}, "categorical": {"c": {"frequencies": {"a": 1.0}, '
    ...     b'"missing_rate": 0.0}}, "scores": {"edges": [], "frequencies": [1.0]}}')
    >>> rows = [{"x": 0.5, "c": "a"}, {"c": "z"}, {"x": 1.5}]
    >>> a, b = Summariser("m", 1, ref).summarise(rows, np.arange(3), np.array([5.0, 6.0, 7.0]),
    ...                                          [Run(0, 2, 0, 40, 41), Run(2, 3, 1, 9, 9)])
    >>> x, c = a.numeric["x"], a.categorical["c"]
    >>> a.events, list(x.coarse), list(x.fine), x.missing, x.total
    (2, [1, 0], [0, 1, 0, 0], 1, 0.5)
    >>> c.counts, c.missing, c.unseen, c.names  # counts packed a byte each
    (b'\\x01', 0, 1, {'z': 1})
    >>> b.partition, b.categorical["c"].missing, b.end.timestamp()
    (1, 1, 7.0)
    """

    @classmethod
    def of(cls, record: ModelVersion) -> Summariser | None:
        """The summariser of a ``model-versions`` record, against the very reference the
        monitor reads from it; None when it carries none the monitor could read."""
        raw = record.feature_schema.get("reference")
        if raw is None:
            return None
        try:
            return cls(record.model, record.version, Reference.from_json(bytes(raw)))
        except msgspec.DecodeError as exc:
            logger.warning("version=%d: no feature summaries, its reference is unreadable: %s",
                           record.version, exc)
            return None

    def __init__(self, model: str, version: int, reference: Reference) -> None:
        self.model = model
        self.version = version
        self.reference_scores = reference.scores
        self.numeric = [(name, _Cuts(np.asarray(r.histogram.edges, dtype=np.float64),
                                     np.unique(np.asarray(r.quantiles, dtype=np.float64))))
                        for name, r in reference.numeric.items()]
        self.categorical = [(name, *_columns_of(list(r.frequencies)))
                            for name, r in reference.categorical.items()]

    def summarise(self, rows: Sequence[Row], order: NDArray[np.intp], ts: NDArray[np.float64],
                  runs: Sequence[Run],
                  laid_out: dict[str, NDArray[np.float64]] | None = None) -> list[FeatureSummary]:
        """One summary per run. The runs cover ``rows`` laid out in ``order`` (with event
        times ``ts``, in that order); ``laid_out`` keeps the numeric columns laid out, for
        other summarisers of the same batch."""
        k = len(runs)
        if not k:
            return []
        laid_out = {} if laid_out is None else laid_out
        sizes = np.fromiter((r.hi - r.lo for r in runs), np.int64, k)
        run_of = np.repeat(np.arange(k), sizes)
        starts = np.fromiter((r.lo for r in runs), np.int64, k)
        for name, _ in self.numeric:
            if name not in laid_out:
                laid_out[name] = _numbers(rows, name)[order]
        numeric = self._numeric(np.stack([laid_out[name] for name, _ in self.numeric])
                                if self.numeric else np.empty((0, len(order))),
                                run_of, starts, sizes)
        categorical = {name: self._categorical(rows, name, vocabulary, at, order, run_of, k)
                       for name, vocabulary, at in self.categorical}
        first = np.minimum.reduceat(ts, starts).tolist()
        last = np.maximum.reduceat(ts, starts).tolist()
        return [FeatureSummary(
            model=self.model, version=self.version, partition=r.partition,
            first_offset=r.first, last_offset=r.last, events=r.hi - r.lo,
            start=datetime.fromtimestamp(first[j], UTC),
            end=datetime.fromtimestamp(last[j], UTC),
            numeric={name: counts[j] for name, counts in numeric.items()},
            categorical={name: counts[j] for name, counts in categorical.items()},
        ) for j, r in enumerate(runs)]

    def _numeric(self, x: NDArray[np.float64], run_of: NDArray[np.int64],
                 starts: NDArray[np.int64], sizes: NDArray[np.int64]) \
            -> dict[str, list[NumericCounts]]:
        """Each numeric feature's counts per run; ``x`` holds their columns laid out, one
        row a feature (the missing counts and sums of them all in two numpy calls)."""
        k = sizes.size
        present = ~np.isnan(x)
        missing = (sizes - np.add.reduceat(present, starts, axis=1, dtype=np.int64)).tolist()
        totals = np.clip(np.add.reduceat(np.where(present, x, 0.0), starts, axis=1),
                         -LARGEST_SUM, LARGEST_SUM).tolist()
        out = {}
        for f, (name, cuts) in enumerate(self.numeric):
            row = present[f]
            cells = per_run(run_of[row], np.searchsorted(cuts.both, x[f][row]),
                            cuts.both.size + 1, k)
            coarse = np.add.reduceat(cells, cuts.coarse, axis=1).astype(COUNT)
            fine = np.add.reduceat(cells, cuts.fine, axis=1).astype(COUNT)
            lacking, sums = missing[f], totals[f]
            out[name] = [NumericCounts(coarse[j].tobytes(), fine[j].tobytes(), lacking[j],
                                       sums[j]) for j in range(k)]
        return out

    @staticmethod
    def _categorical(rows: Sequence[Row], name: str, vocabulary: Vocabulary,
                     at: NDArray[np.intp], order: NDArray[np.intp], run_of: NDArray[np.int64],
                     k: int) -> list[CategoricalCounts]:
        cells = at[codes(rows, name, vocabulary)][order]
        unseen_cell = at.size - 1
        table = per_run(run_of, cells, unseen_cell + 1, k)
        names: list[dict[str, int]] = [{} for _ in range(k)]
        if table[:, -1].any():
            values = column(rows, name)
            for i in np.flatnonzero(cells == unseen_cell).tolist():
                seen, value = names[int(run_of[i])], category_text(values[int(order[i])])
                if value is not None and (value in seen or len(seen) < MAX_UNSEEN_NAMES):
                    seen[value] = seen.get(value, 0) + 1
        counts = table[:, 1:-1].astype(COUNT)
        missing, unseen = table[:, 0].tolist(), table[:, -1].tolist()
        return [CategoricalCounts(counts[j].tobytes(), missing[j], unseen[j], names[j])
                for j in range(k)]


def summarise(rows: Sequence[Row], times: Sequence[float], layout: Layout,
              summarisers: Sequence[Summariser]) -> list[FeatureSummary]:
    """Every summariser's summaries of a batch: event ``i`` has features ``rows[i]``
    (a :class:`~contracts.feature_rows.FeatureRows` shares the columns the scorer read)
    and event time ``times[i]`` (epoch seconds); ``layout`` is :func:`runs_of` the events'
    partitions and offsets, made once a batch."""
    if not summarisers or not rows:
        return []
    laid, runs = layout
    ts = np.asarray(times, dtype=np.float64)[laid]
    laid_out: dict[str, NDArray[np.float64]] = {}
    return [summary for summariser in summarisers
            for summary in summariser.summarise(rows, laid, ts, runs, laid_out)]


def per_run(run_of: NDArray[np.int64], cells: NDArray[np.int64], width: int,
             k: int) -> NDArray[np.int64]:
    """Counts of each cell within each run, one row a run: one ``bincount`` for all."""
    return np.bincount(run_of * width + cells, minlength=k * width).reshape(k, width)


__all__ = ["SUMMARY_EVENTS", "Columns", "Layout", "Run", "Summariser", "columns", "per_run",
           "runs_of", "summarise"]
