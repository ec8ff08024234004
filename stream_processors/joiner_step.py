"""One micro-batch from ``user-events``, ``predictions`` and ``labels`` in; labeled events out.

Pure: no Kafka, no faust. The app module feeds it what the consumer read (the three
topics arrive interleaved in one stream) and sends what it returns. Each record goes
to the join of its partition number; a record of a partition this worker does not
own (any more) is skipped, since its new owner reads it again from the committed
offset.

A bad label is dead-lettered here, since nothing else reads ``labels``. A bad event
or prediction is only counted and skipped: the scoring processor already
dead-letters bad events, and bad predictions would be its own bug, not the sender's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

import msgspec

from contracts.decoding import RecordDecoder, Rejection
from contracts.kafka_clients import KafkaRecord
from contracts.records import Label, Prediction, UserEvent
from contracts.topics import LABELS, PREDICTIONS, USER_EVENTS, Topics
from stream_processors.label_join import JoinOutput, LabelJoin
from stream_processors.partitioned_join import PartitionedJoin
from stream_processors.scoring_step import dead_letter

STAGE: Final = "join"
NOT_ASSIGNED: Final = "not-assigned"

_ENCODER = msgspec.json.Encoder()
_EVENTS = RecordDecoder(UserEvent)
_PREDICTIONS = RecordDecoder(Prediction)
_LABELS = RecordDecoder(Label)


@dataclass
class JoinStepResult:
    """What one batch (or one expiry tick) produced: records to send, counts for metrics."""

    labeled_events: list[tuple[bytes, bytes]] = field(default_factory=list)
    dead_letters: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    records_in: Counter[str] = field(default_factory=Counter)
    skipped: Counter[tuple[str, str]] = field(default_factory=Counter)
    unmatched: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)
    events_dropped: Counter[str] = field(default_factory=Counter)
    label_delays: list[float] = field(default_factory=list)


def join_messages(
    messages: Sequence[KafkaRecord],
    joins: PartitionedJoin,
    topics: Topics,
    *,
    now: datetime | None = None,
) -> JoinStepResult:
    """Decode each message by its topic, feed the join, expire, and encode what came out.

    >>> from contracts.topics import Topics
    >>> joins = PartitionedJoin(partitions=1)
    >>> _ = joins.assign({0})
    >>> bad = KafkaRecord(topic="labels", partition=0, offset=7, key=b"u1", value=b"{",
    ...                   timestamp_ms=0)
    >>> result = join_messages([bad], joins, Topics())
    >>> result.records_in["labels"], dict(result.skipped), len(result.dead_letters)
    (1, {('labels', 'not-json'): 1}, 1)
    """
    now = now or datetime.now(UTC)
    epoch = now.timestamp()
    kinds = {topics.user_events: USER_EVENTS, topics.predictions: PREDICTIONS,
             topics.labels: LABELS}
    result = JoinStepResult()
    out = JoinOutput()
    for message in messages:
        kind = kinds.get(message.topic, "unexpected-topic")
        result.records_in[kind] += 1
        join = joins.get(message.partition)
        if join is None:
            result.skipped[(kind, NOT_ASSIGNED)] += 1
            continue
        joins.fed(message.topic, message.partition, message.offset)
        rejection = _feed(message, kind, join, out, epoch)
        if rejection is None:
            continue
        result.skipped[(kind, rejection.code)] += 1
        if kind == LABELS:
            result.dead_letters.append(
                (message.key, dead_letter(message, rejection.code, rejection.message, STAGE, now))
            )
    joins.expire(epoch, out)
    _collect(result, out, now)
    return result


def expire_waiting(joins: PartitionedJoin, *, now: datetime | None = None) -> JoinStepResult:
    """Dead-letter labels that waited too long, for when no records arrive to do it."""
    now = now or datetime.now(UTC)
    result = JoinStepResult()
    out = JoinOutput()
    joins.expire(now.timestamp(), out)
    _collect(result, out, now)
    return result


def _feed(message: KafkaRecord, kind: str, join: LabelJoin, out: JoinOutput,
          epoch: float) -> Rejection | None:
    """Decode ``message`` as its topic's record and hand it to the join, or say why not."""
    if kind == USER_EVENTS:
        event = _EVENTS.decode(message.value, now=epoch)
        if isinstance(event, Rejection):
            return event
        join.on_event(event, epoch, out)
    elif kind == PREDICTIONS:
        prediction = _PREDICTIONS.decode(message.value, now=epoch)
        if isinstance(prediction, Rejection):
            return prediction
        join.on_prediction(prediction, epoch, out)
    elif kind == LABELS:
        label = _LABELS.decode(message.value, now=epoch)
        if isinstance(label, Rejection):
            return label
        join.on_label(label, epoch, out, origin=message)
    else:
        return Rejection("unexpected-topic", f"the joiner does not read `{message.topic}`")
    return None


def _collect(result: JoinStepResult, out: JoinOutput, now: datetime) -> None:
    for labeled in out.labeled:
        result.labeled_events.append((labeled.user_id.encode(), _ENCODER.encode(labeled)))
    for unmatched in out.unmatched_labels:
        origin = unmatched.origin or KafkaRecord(
            topic="", partition=-1, offset=-1, key=unmatched.label.user_id.encode(),
            value=_ENCODER.encode(unmatched.label), timestamp_ms=0,
        )
        result.dead_letters.append(
            (origin.key, dead_letter(origin, unmatched.reason, unmatched.error, STAGE, now))
        )
        result.unmatched[unmatched.reason] += 1
    result.duplicates.update(out.duplicates)
    result.events_dropped.update(out.events_dropped)
    result.label_delays.extend(out.label_delays)
