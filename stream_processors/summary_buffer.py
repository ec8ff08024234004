"""What the summaries of the batches scored since the last commit need, held for them.

Summarising costs a fixed part a batch and a summary besides its part an event. A
quiet topic comes in small batches: summarised batch by batch, batches of 20 events
cost more CPU in summaries than in scoring, and 280 bytes of summaries an event. So
the confluent-kafka runner holds each batch's valid events (the rows the scorer read,
their times, partitions and offsets) and each route's scores, and summarises what it
holds as one batch once :data:`HOLD_EVENTS` are held, and at the latest when it
commits, before it waits for its outputs: runs then fill up to their 100 events
whatever the batch size. (Held longer, the events fall out of the caches, and the
summaries cost more again.)

A commit always ends every run, so after a crash the events scored again start where
a counted summary started, as the monitor's ledger expects. At most one batch more
than :data:`HOLD_EVENTS` is held.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import msgspec
import numpy as np
from numpy.typing import NDArray

from contracts.feature_rows import FeatureRows
from contracts.feature_summary import Layout, Summariser, runs_of, summarise
from contracts.prediction_summary import summarise_predictions
from contracts.records import PredictionSummary, Route, RunSummary
from contracts.reference_stats import Histogram

Output = tuple[bytes, bytes, int]  # key, value, partition
# Held events summarised without waiting for the commit: enough that a batch's fixed
# part is spread thin, few enough that what is held stays in the caches.
HOLD_EVENTS: Final = 2000
_ENCODER = msgspec.json.Encoder()


@dataclass(frozen=True)
class _Batch:
    rows: FeatureRows  # the valid events' features
    times: NDArray[np.float64]  # their event times
    partitions: NDArray[np.int64]
    offset_of: Callable[[int], int]  # the offset of valid event ``i``


@dataclass(frozen=True)
class _Predicted:
    """One route's predictions in one batch, for valid events ``at``."""

    at: NDArray[np.intp]
    scores: NDArray[np.float64]
    decisions: NDArray[np.int64]
    latency: NDArray[np.float64]
    explained: Sequence[Mapping[str, float]] | None
    reference_scores: Histogram | None


@dataclass
class SummaryBuffer:
    """Batches held for their summaries; :meth:`take` makes them.

    Summaries are made against the versions served when their events were scored: a
    change of the served versions summarises what is held first.
    """

    _batches: list[_Batch] = field(default_factory=list)
    _summarisers: list[Summariser] = field(default_factory=list)
    _predicted: dict[tuple[str, int, Route], list[tuple[int, _Predicted]]] = field(
        default_factory=dict)
    _made: tuple[list[Output], list[Output]] = field(default_factory=lambda: ([], []))

    @property
    def events(self) -> int:
        """Valid events held."""
        return sum(b.times.size for b in self._batches)

    def hold_batch(self, rows: FeatureRows, times: Sequence[float],
                   partitions: NDArray[np.int64], offset_of: Callable[[int], int],
                   summarisers: list[Summariser]) -> None:
        """Hold a batch's valid events: ``rows[i]`` read from ``partitions[i]`` at
        ``offset_of(i)`` (asked only at the ends of runs, when summarised)."""
        if summarisers != self._summarisers:
            self._make()
            self._summarisers = summarisers
        self._batches.append(_Batch(rows, np.asarray(times, dtype=np.float64), partitions,
                                    offset_of))

    def hold_predictions(self, model: str, version: int, route: Route, at: NDArray[np.intp],
                         scores: NDArray[np.float64], decisions: NDArray[np.int64],
                         latency: NDArray[np.float64],
                         explained: Sequence[Mapping[str, float]] | None,
                         reference_scores: Histogram | None) -> None:
        """Hold one route's predictions of the last batch held, for its valid events
        ``at``, made ``latency`` seconds after their event times."""
        self._predicted.setdefault((model, version, route), []).append(
            (len(self._batches) - 1,
             _Predicted(at, scores, decisions, latency, explained, reference_scores)))

    def batch_held(self) -> None:
        """The last batch is all held: summarise what is held if that is enough."""
        if self.events >= HOLD_EVENTS:
            self._make()

    def take(self) -> tuple[list[Output], list[Output]]:
        """The encoded feature summaries and prediction summaries of everything held,
        which is then let go."""
        self._make()
        made, self._made = self._made, ([], [])
        return made

    def forget(self, partitions: set[int]) -> None:
        """Leave out the summaries of ``partitions`` (lost to another worker, which scores
        their events again from the last commit); the others wait for :meth:`take`."""
        self._make()
        features, predictions = self._made
        self._made = ([o for o in features if o[2] not in partitions],
                      [o for o in predictions if o[2] not in partitions])

    def _make(self) -> None:
        if not self._batches:
            return
        batches, predicted = self._batches, self._predicted
        self._batches, self._predicted = [], {}
        starts = np.cumsum([0, *(b.times.size for b in batches)])
        first = starts.tolist()
        times = np.concatenate([b.times for b in batches])
        partitions = np.concatenate([b.partitions for b in batches])

        def offset_of(i: int) -> int:
            b = bisect_right(first, i) - 1
            return batches[b].offset_of(i - first[b])

        layout = runs_of(partitions, offset_of)
        rows = FeatureRows.joined([b.rows for b in batches])
        features, predictions = self._made
        features += _encoded(summarise(rows, times.tolist(), layout, self._summarisers))
        for (model, version, route), parts in predicted.items():
            predictions += _encoded(_predictions(model, version, route, parts, starts, times,
                                                 partitions, offset_of, layout))


def _predictions(model: str, version: int, route: Route, parts: list[tuple[int, _Predicted]],
                 starts: NDArray[np.int64], times: NDArray[np.float64],
                 partitions: NDArray[np.int64], offset_of: Callable[[int], int],
                 layout: Layout) -> list[PredictionSummary]:
    """The summaries of one route's predictions over the batches held."""
    at = np.concatenate([starts[b] + p.at for b, p in parts])
    if at.size != times.size or not np.array_equal(at, np.arange(times.size)):
        # The route scored only some of the events (a canary's share): runs of its own.
        layout = runs_of(partitions[at], lambda i: offset_of(int(at[i])))
    # A version explains all of its predictions or none (the setting and its model say).
    explained = [p.explained for _, p in parts if p.explained is not None]
    return summarise_predictions(
        model=model, version=version, route=route,
        scores=np.concatenate([p.scores for _, p in parts]),
        decisions=np.concatenate([p.decisions for _, p in parts]), ts=times[at],
        latency=np.concatenate([p.latency for _, p in parts]), layout=layout,
        reference_scores=parts[-1][1].reference_scores,
        explained=[e for part in explained for e in part]
        if len(explained) == len(parts) else None)


def _encoded(summaries: Sequence[RunSummary]) -> list[Output]:
    encode = _ENCODER.encode
    return [(s.model.encode(), encode(s), s.partition) for s in summaries]


__all__ = ["SummaryBuffer"]
