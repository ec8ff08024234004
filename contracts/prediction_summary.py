"""Prediction summaries: a batch's predictions counted on the monitor's grids where they
are made, so the monitor need not read every prediction again.

For each version and route it scores a batch with, the scoring processor folds the
predictions into one :class:`~contracts.records.PredictionSummary` per run of at most
:data:`~contracts.feature_summary.SUMMARY_EVENTS` consecutive events of a
``user-events`` partition: counts over the latency buckets, over the (decision, score
bin) cells of the label-free estimate with their score sums, and over the version's
reference score bins; the event-time range; and, for explained predictions, the tally
of their largest terms. Everything the monitor figures from predictions is a sum of
those, so a window is the sum of the summaries it holds, and each summary carries its
partition's offsets to recognise events scored again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from itertools import chain
from typing import Final

import numpy as np
from numpy.typing import NDArray

from contracts.feature_summary import Layout, per_run
from contracts.records import PredictionSummary, Route, ScoreCells, TermTally
from contracts.reference_stats import Histogram

# Upper bounds (seconds) of the latency buckets from event time to prediction; the
# last bucket is open.
LATENCY_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                          60.0, 300.0, 900.0, 3600.0)
LATENCY_EDGES: Final = np.asarray(LATENCY_BUCKETS)
SCORE_BINS: Final = 100  # the grid of the label-free estimate

Floats = NDArray[np.float64]


def score_bins(scores: Floats, bins: int = SCORE_BINS) -> NDArray[np.int64]:
    """Index of each score's bin on a uniform grid over [0, 1].

    >>> score_bins(np.array([0.0, 0.5, 1.0]), 10).tolist()
    [0, 5, 9]
    """
    return np.minimum((scores * bins).astype(np.int64), bins - 1)


def latency_buckets(latency: Floats) -> NDArray[np.int64]:
    """Index of each latency's bucket (a value on a bound is in that bound's bucket)."""
    return np.searchsorted(LATENCY_EDGES, latency)


def summarise_predictions(
    *, model: str, version: int, route: Route, scores: Floats, decisions: NDArray[np.int64],
    ts: Floats, latency: Floats, layout: Layout, reference_scores: Histogram | None = None,
    explained: Sequence[Mapping[str, float]] | None = None,
) -> list[PredictionSummary]:
    """The summaries of one version's predictions on one route, in a batch: prediction
    ``i`` has ``scores[i]``, ``decisions[i]``, event time ``ts[i]`` and ``latency[i]``
    seconds from it; ``layout`` is :func:`~contracts.feature_summary.runs_of` the
    partitions and offsets of the events they answer (the batch's feature summaries'
    own when the route scored all of the batch).

    >>> from contracts.feature_summary import runs_of
    >>> [s] = summarise_predictions(model="m", version=1, route="champion",
    ...     scores=np.array([0.2, 0.9]), decisions=np.array([0, 1]), ts=np.array([5.0, 4.0]),
    ...     latency=np.array([0.02, 0.2]), layout=runs_of([3, 3], lambda i: 10 + i))
    >>> s.events, (s.first_offset, s.last_offset), s.table, s.latency[:5]
    (2, (10, 11), ScoreCells(cells=[20, 190], counts=[1, 1], sums=[0.2, 0.9]), [0, 1, 0, 0, 1])
    """
    if not scores.size:
        return []
    laid, runs = layout
    scores, ts, latency = scores[laid], ts[laid], latency[laid]
    decisions = np.asarray(decisions, dtype=np.int64)[laid]
    k = len(runs)
    sizes = np.fromiter((r.hi - r.lo for r in runs), np.int64, k)
    starts = np.fromiter((r.lo for r in runs), np.int64, k)
    run_of = np.repeat(np.arange(k), sizes)
    at = run_of * 2 * SCORE_BINS + decisions * SCORE_BINS + score_bins(scores)
    cells = np.bincount(at, minlength=k * 2 * SCORE_BINS).reshape(k, -1)
    sums = np.bincount(at, weights=scores, minlength=k * 2 * SCORE_BINS).reshape(k, -1)
    buckets = per_run(run_of, latency_buckets(latency), LATENCY_EDGES.size + 1, k).tolist()
    latency_totals = np.bincount(run_of, weights=latency, minlength=k).tolist()
    if reference_scores is not None:
        edges = np.asarray(reference_scores.edges, dtype=np.float64)
        binned = per_run(run_of, np.searchsorted(edges, scores), edges.size + 1, k).tolist()
    else:
        binned = [[] for _ in range(k)]
    first = np.minimum.reduceat(ts, starts).tolist()
    last = np.maximum.reduceat(ts, starts).tolist()
    out = []
    for j, r in enumerate(runs):
        held = np.flatnonzero(cells[j])
        tallied, terms = tally(None if explained is None
                                else [explained[i] for i in laid[r.lo:r.hi].tolist()])
        out.append(PredictionSummary(
            model=model, version=version, route=route, partition=r.partition,
            first_offset=r.first, last_offset=r.last, events=r.hi - r.lo,
            start=datetime.fromtimestamp(first[j], UTC), end=datetime.fromtimestamp(last[j], UTC),
            latency=buckets[j], latency_total=max(latency_totals[j], 0.0),
            table=ScoreCells(held.tolist(), cells[j][held].tolist(), sums[j][held].tolist()),
            scores=binned[j], explained=tallied, terms=terms))
    return out


def tally(explained: Sequence[Mapping[str, float]] | None) -> tuple[int, dict[str, TermTally]]:
    """How many predictions were explained, and per feature how often it was among their
    largest terms and the sum of those terms' sizes."""
    if not explained:
        return 0, {}
    # A few terms a prediction, a hundred predictions a summary: counted in numpy, each
    # feature's sizes added in the order they came, features in the order first seen.
    names = list(chain.from_iterable(explained))
    index = {name: i for i, name in enumerate(dict.fromkeys(names))}
    at = np.fromiter(map(index.__getitem__, names), np.intp, len(names))
    sizes = np.abs(np.fromiter(chain.from_iterable(t.values() for t in explained),
                               np.float64, len(names)))
    counts = np.bincount(at, minlength=len(index)).tolist()
    totals = np.bincount(at, weights=sizes, minlength=len(index)).tolist()
    return len(explained), {name: TermTally(counts[i], totals[i]) for name, i in index.items()}


__all__ = ["LATENCY_BUCKETS", "LATENCY_EDGES", "SCORE_BINS", "latency_buckets", "score_bins",
           "summarise_predictions", "tally"]
