"""One micro-batch of raw ``user-events`` messages in, predictions and dead letters out.

Pure: no Kafka, no faust. The app module feeds it what the consumer read and sends
what it returns, so every rule here is tested without a broker. Each output carries
its event's partition number, and is written there: an event, its prediction or its
dead letter, and its label share a partition whatever partitioner wrote the event.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
import numpy as np
from numpy.typing import NDArray
from prometheus_client import Histogram

from contracts.bounded_ids import RecentIds
from contracts.dead_letters import dead_letter
from contracts.decoding import JSON_INPUTS, InputDecoders, Rejection
from contracts.feature_rows import FeatureRows
from contracts.kafka_clients import KafkaRecord
from contracts.records import Prediction, Route, UserEvent
from scorer.exceptions import FeatureValueError
from scorer.routing import group_by_assignment
from stream_processors.metrics import ScoringMetrics
from stream_processors.serving_state import ScoringModel, ServingState
from stream_processors.summary_buffer import SummaryBuffer

_ENCODER = msgspec.json.Encoder()


@dataclass
class StepResult:
    """What one batch produced: encoded records to send, and counts for metrics.

    Records to send are ``(key, value, partition)``, the partition of their event.
    """

    predictions: list[tuple[bytes, bytes, int]] = field(default_factory=list)
    summaries: list[tuple[bytes, bytes, int]] = field(default_factory=list)
    prediction_summaries: list[tuple[bytes, bytes, int]] = field(default_factory=list)
    dead_letters: list[tuple[bytes | None, bytes, int]] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)
    scored: Counter[tuple[int, str]] = field(default_factory=Counter)
    event_lag_seconds: list[float] = field(default_factory=list)


def score_messages(
    messages: Sequence[KafkaRecord],
    state: ServingState,
    seen: RecentIds,
    *,
    now: datetime | None = None,
    explain_top_k: int = 0,
    summarise: bool = False,
) -> StepResult:
    """Decode, route and score a batch; a bad message becomes a dead letter, never an error.

    ``state`` must be ready (a champion loaded). Each version scores its events as one
    vectorised batch; shadow scores are sent too, tagged ``shadow``. With
    ``explain_top_k``, a linear model's predictions carry their largest terms. With
    ``summarise``, the batch's summaries are made on their own (:func:`summarised`).
    """
    summaries = SummaryBuffer() if summarise else None
    result = score_values([m.value for m in messages], [m.key for m in messages],
                          [m.partition for m in messages], messages.__getitem__, state, seen,
                          now=now, explain_top_k=explain_top_k, summaries=summaries)
    return summarised(result, summaries)


def summarised(result: StepResult, summaries: SummaryBuffer | None) -> StepResult:
    """``result`` with the summaries held in ``summaries`` (of its batch alone)."""
    if summaries is not None:
        result.summaries, result.prediction_summaries = summaries.take()
    return result


def score_values(
    values: Sequence[bytes | None],
    keys: Sequence[bytes | None],
    partitions: Sequence[int],
    origin: Callable[[int], KafkaRecord],
    state: ServingState,
    seen: RecentIds,
    *,
    now: datetime | None = None,
    explain_top_k: int = 0,
    inputs: InputDecoders = JSON_INPUTS,
    summaries: SummaryBuffer | None = None,
    offset_of: Callable[[int], int] | None = None,
) -> StepResult:
    """:func:`score_messages` on the values, keys and partitions of a batch, as the
    runners read them; with ``summaries``, what the valid events' feature summaries
    (:mod:`contracts.feature_summary`, one set per served version) and the summaries of
    each version's predictions on each route (:mod:`contracts.prediction_summary`) need
    is held there, for the runner to take.

    ``origin(i)`` gives the whole record of message ``i``; it is asked only for the
    messages that become dead letters, so a runner builds no record per message.
    ``offset_of(i)``, message ``i``'s offset, is asked at the ends of summaries (from
    ``origin`` when not given).
    """
    now = now or datetime.now(UTC)
    epoch = now.timestamp()
    result = StepResult()
    valid: list[UserEvent] = []
    positions: list[int] = []
    times: list[float] = []
    lags = result.event_lag_seconds
    add = seen.add
    inputs.prepare(values)
    decode = inputs.events.decode
    for i, raw in enumerate(values):
        event = decode(raw, now=epoch)
        if isinstance(event, Rejection):
            _reject(result, origin(i), event.code, event.message, "decode", now)
            continue
        key = keys[i]
        if key != event.user_id.encode():
            # Joins and per-user order rely on the key: a wrong key is a producer bug.
            error = (f"the message key must be the user_id `{event.user_id}`, "
                     f"got {key!r}; key events by user_id")
            _reject(result, origin(i), "key-not-user-id", error, "decode", now)
        elif not add(event.event_id):
            error = f"event_id `{event.event_id}` was already scored; send each event once"
            _reject(result, origin(i), "duplicate-event-id", error, "decode", now)
        else:
            valid.append(event)
            positions.append(i)
            ts = event.ts.timestamp()
            times.append(ts)
            lags.append(epoch - ts)
    if not valid:
        return result
    # Every version that scores all of the batch, and its summaries, read one set of
    # columns out of the events' dicts.
    rows = FeatureRows(event.features for event in valid)
    champion = state.champion()
    deployment = state.deployment
    groups = (
        group_by_assignment(deployment, [event.user_id for event in valid])
        if deployment is not None
        else {}
    )
    held = None
    if summaries is not None:
        offset = offset_of or (lambda i: origin(i).offset)
        summaries.hold_batch(rows, times, np.asarray(partitions, dtype=np.int64)[positions],
                             lambda i: offset(positions[i]), state.served_summarisers())
        held = _Held(summaries, state, np.asarray(times), epoch, positions)
    for assignment, members in groups.items():
        model = state.models.get(assignment.version) or champion
        items = [(positions[i], valid[i]) for i in members]
        _score(result, items, partitions, origin, model, assignment.route, now,
               dead_letter_failures=assignment.shown, explain_top_k=explain_top_k,
               rows=rows if len(members) == len(valid) else None, held=held)
    if summaries is not None:
        summaries.batch_held()
    return result


def _score(
    result: StepResult,
    items: list[tuple[int, UserEvent]],
    partitions: Sequence[int],
    origin: Callable[[int], KafkaRecord],
    model: ScoringModel,
    route: Route,
    now: datetime,
    *,
    dead_letter_failures: bool = True,
    explain_top_k: int = 0,
    rows: FeatureRows | None = None,
    held: _Held | None = None,
) -> None:
    """Score ``items`` (the whole batch's ``rows`` when given, in that order)."""
    while items:
        features = rows if rows is not None else [event.features for _, event in items]
        explained = None
        try:
            if explain_top_k:
                scores, decisions, explained = model.score_explained(features, explain_top_k)
            else:
                scores, decisions = model.score_batch(features)
        except FeatureValueError as exc:
            # One bad value must not hold back the batch: drop its row and score the rest.
            position, _ = items[exc.row]
            if dead_letter_failures:
                _reject(result, origin(position), exc.code, str(exc), "score", now)
            items = items[: exc.row] + items[exc.row + 1 :]
            rows = None
            continue
        append, encode = result.predictions.append, _ENCODER.encode
        name, version = model.model, model.version
        unset: list[Any] = [msgspec.UNSET] * len(items)
        for (position, event), score, decision, why in zip(
                items, scores.tolist(), decisions.tolist(), explained or unset, strict=True):
            user_id = event.user_id
            append((user_id.encode(), encode(Prediction(
                event_id=event.event_id, user_id=user_id, ts=event.ts, model=name,
                version=version, route=route, score=score, decision=decision, scored_at=now,
                contributions=why,
            )), partitions[position]))
        result.scored[(version, route)] += len(items)
        if held is not None:
            held.add(model, route, [position for position, _ in items], scores, decisions,
                     explained)
        return


@dataclass
class _Held:
    """Holds each version's predictions on each route for their summaries."""

    summaries: SummaryBuffer
    state: ServingState
    times: NDArray[np.float64]  # of the valid events
    scored_at: float
    positions: list[int]  # the valid events' message indices

    def add(self, model: ScoringModel, route: Route, positions: list[int],
            scores: NDArray[np.float64], decisions: NDArray[np.int64],
            explained: list[dict[str, float]] | None) -> None:
        """Hold one route's predictions, for the events at message indices ``positions``
        (in their order, as the batch's valid events are)."""
        n = len(positions)
        at = np.arange(n) if n == len(self.positions) else np.searchsorted(
            np.fromiter(self.positions, np.intp, len(self.positions)),
            np.fromiter(positions, np.intp, n))
        summariser = self.state.summarisers.get(model.version)
        ts = self.times[at]
        self.summaries.hold_predictions(
            model.model, model.version, route, at, scores, decisions,
            np.maximum(self.scored_at - ts, 0.0), explained,
            summariser.reference_scores if summariser else None)


def _reject(
    result: StepResult, message: KafkaRecord, reason: str, error: str, stage: str, now: datetime
) -> None:
    result.rejected[reason] += 1
    result.dead_letters.append(
        (message.key, dead_letter(message, reason, error, stage, now), message.partition))


def count_batch(metrics: ScoringMetrics, size: int, result: StepResult, seconds: float) -> None:
    """Update the scoring metrics with one batch (both runners call this)."""
    metrics.events_in.inc(size)
    metrics.batch_size.observe(size)
    metrics.scoring_seconds.observe(seconds)
    for (version, route), n in result.scored.items():
        metrics.predictions_out.labels(model=metrics.model, version=str(version),
                                       route=route).inc(n)
    for reason, n in result.rejected.items():
        metrics.dead_letters.labels(reason=reason).inc(n)
    observe_all(metrics.event_lag_seconds, result.event_lag_seconds)


def observe_all(histogram: Histogram, values: Sequence[float]) -> None:
    """``histogram.observe(v)`` for every value, with the buckets counted by numpy at once.

    One ``observe`` is a lock and a loop over the buckets, about 1 µs: a microsecond
    per event on the hot path. prometheus-client has no batch call, so this adds to its
    bucket and sum values directly, and falls back to ``observe`` if they move.
    """
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None or len(bounds) != len(buckets):
        for value in values:
            histogram.observe(value)
        return
    if not values:
        return
    array = np.asarray(values, dtype=np.float64)
    # observe() counts a value in the first bucket whose bound is >= it.
    counts = np.bincount(np.searchsorted(bounds, array, side="left"), minlength=len(bounds))
    total.inc(float(array.sum()))
    for i in np.flatnonzero(counts).tolist():
        buckets[i].inc(int(counts[i]))
