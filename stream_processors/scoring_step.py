"""One micro-batch of raw ``user-events`` messages in, predictions and dead letters out.

Pure: no Kafka, no faust. The app module feeds it what the consumer read and sends
what it returns, so every rule here is tested without a broker.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec

from contracts.decoding import Rejection, decode_event
from contracts.kafka_clients import KafkaRecord
from contracts.records import DeadLetter, Prediction, Route, UserEvent
from scorer.exceptions import FeatureValueError
from scorer.routing import group_by_assignment
from stream_processors.recent_ids import RecentIds
from stream_processors.serving_state import ScoringModel, ServingState

_ENCODER = msgspec.json.Encoder()


@dataclass
class StepResult:
    """What one batch produced: encoded records to send, and counts for metrics."""

    predictions: list[tuple[bytes, bytes]] = field(default_factory=list)
    dead_letters: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)
    scored: Counter[tuple[int, str]] = field(default_factory=Counter)
    event_lag_seconds: list[float] = field(default_factory=list)


def dead_letter(message: KafkaRecord, reason: str, error: str, stage: str, at: datetime) -> bytes:
    return _ENCODER.encode(
        DeadLetter(
            error=error[:4000],
            reason=reason,
            stage=stage,
            original=message.value or b"",
            source_topic=message.topic,
            source_partition=message.partition,
            source_offset=message.offset,
            at=at,
        )
    )


def score_messages(
    messages: Sequence[KafkaRecord],
    state: ServingState,
    seen: RecentIds,
    *,
    now: datetime | None = None,
) -> StepResult:
    """Decode, route and score a batch; a bad message becomes a dead letter, never an error.

    ``state`` must be ready (a champion loaded). Each version scores its events as one
    vectorised batch; shadow scores are sent too, tagged ``shadow``.
    """
    now = now or datetime.now(UTC)
    epoch = now.timestamp()
    result = StepResult()
    valid: list[tuple[KafkaRecord, UserEvent]] = []
    for message in messages:
        decoded = decode_event(message.value, now=epoch)
        if isinstance(decoded, Rejection):
            _reject(result, message, decoded.code, decoded.message, "decode", now)
        elif message.key != decoded.user_id.encode():
            # Joins and per-user order rely on the key: a wrong key is a producer bug.
            error = (f"the message key must be the user_id `{decoded.user_id}`, "
                     f"got {message.key!r}; key events by user_id")
            _reject(result, message, "key-not-user-id", error, "decode", now)
        elif not seen.add(decoded.event_id):
            error = f"event_id `{decoded.event_id}` was already scored; send each event once"
            _reject(result, message, "duplicate-event-id", error, "decode", now)
        else:
            valid.append((message, decoded))
            result.event_lag_seconds.append(epoch - decoded.ts.timestamp())
    if not valid:
        return result
    champion = state.champion()
    deployment = state.deployment
    groups = (
        group_by_assignment(deployment, [event.user_id for _, event in valid])
        if deployment is not None
        else {}
    )
    for assignment, positions in groups.items():
        model = state.models.get(assignment.version) or champion
        _score(result, [valid[i] for i in positions], model, assignment.route, now,
               dead_letter_failures=assignment.shown)
    return result


def _score(
    result: StepResult,
    items: list[tuple[KafkaRecord, UserEvent]],
    model: ScoringModel,
    route: Route,
    now: datetime,
    *,
    dead_letter_failures: bool = True,
) -> None:
    while items:
        try:
            scores, decisions = model.score_batch([event.features for _, event in items])
        except FeatureValueError as exc:
            # One bad value must not hold back the batch: drop its row and score the rest.
            message, _ = items[exc.row]
            if dead_letter_failures:
                _reject(result, message, exc.code, str(exc), "score", now)
            items = items[: exc.row] + items[exc.row + 1 :]
            continue
        for (_, event), score, decision in zip(items, scores, decisions, strict=True):
            result.predictions.append(
                (
                    event.user_id.encode(),
                    _ENCODER.encode(
                        Prediction(
                            event_id=event.event_id,
                            user_id=event.user_id,
                            ts=event.ts,
                            model=model.model,
                            version=model.version,
                            route=route,
                            score=float(score),
                            decision=int(decision),
                            scored_at=now,
                        )
                    ),
                )
            )
        result.scored[(model.version, route)] += len(items)
        return


def _reject(
    result: StepResult, message: KafkaRecord, reason: str, error: str, stage: str, now: datetime
) -> None:
    result.rejected[reason] += 1
    result.dead_letters.append((message.key, dead_letter(message, reason, error, stage, now)))
