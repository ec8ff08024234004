"""One micro-batch from ``user-events``, ``predictions``, ``labels`` and ``join-repartition``
in; labeled events, dead letters and records to repartition out.

Pure: no Kafka, no faust. The worker feeds it what the consumer read (the topics
arrive interleaved in one stream) and sends what it returns. A record whose key's
home partition (:mod:`stream_processors.repartition`) is the one it was read from
goes to that partition's join; any other is forwarded to its home partition of
``join-repartition``, and joined when read back from there. A record of a partition
this worker does not own (any more) is skipped, since its new owner reads it again
from the committed offset.

Each labeled event is written to the partition number of the join that made it, so a
worker restoring that partition finds it; each dead letter to its record's partition.

A bad label is dead-lettered here, since nothing else reads ``labels``. A bad event
or prediction is only counted and skipped: the scoring processor already
dead-letters bad events, and bad predictions would be its own bug, not the sender's.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

import msgspec

from contracts.dead_letters import dead_letter
from contracts.decoding import JSON_INPUTS, InputDecoders, RecordDecoder, Rejection
from contracts.kafka_clients import KafkaRecord
from contracts.records import LabeledEvent, Prediction, UserEvent
from contracts.topics import JOIN_REPARTITION, LABELS, PREDICTIONS, USER_EVENTS, Topics
from stream_processors.label_join import MEMORY_BUDGET_FULL, Evicted, JoinOutput, LabelJoin
from stream_processors.partitioned_join import PartitionedJoin
from stream_processors.repartition import Forward, forward, home_partition, original

STAGE: Final = "join"
NOT_ASSIGNED: Final = "not-assigned"
NOT_FORWARDED: Final = "not-a-forwarded-record"

_ENCODER = msgspec.json.Encoder()
_PREDICTIONS = RecordDecoder(Prediction)


@dataclass
class JoinStepResult:
    """What one batch (or one expiry tick) produced: records to send, counts for metrics."""

    # (key, value, partition); a dead letter's partition is None when its origin has none.
    labeled_events: list[tuple[bytes, bytes, int]] = field(default_factory=list)
    dead_letters: list[tuple[bytes | None, bytes, int | None]] = field(default_factory=list)
    forwards: list[Forward] = field(default_factory=list)
    records_in: Counter[str] = field(default_factory=Counter)
    forwarded: Counter[str] = field(default_factory=Counter)
    skipped: Counter[tuple[str, str]] = field(default_factory=Counter)
    unmatched: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)
    events_dropped: Counter[str] = field(default_factory=Counter)
    budget_evictions: Counter[str] = field(default_factory=Counter)
    label_delays: list[tuple[str, float]] = field(default_factory=list)  # (model, seconds)
    # The event time of the last record decoded, by the topic and partition it was read from.
    event_times: dict[tuple[str, int], datetime] = field(default_factory=dict)
    # The labeled events, by the partition they go to, in the order they are sent.
    labeled: dict[int, list[LabeledEvent]] = field(default_factory=dict)


def join_messages(
    messages: Sequence[KafkaRecord],
    joins: PartitionedJoin,
    topics: Topics,
    *,
    now: datetime | None = None,
    inputs: InputDecoders = JSON_INPUTS,
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
    kinds = _kinds(topics)
    result = JoinStepResult()
    outs: defaultdict[int, JoinOutput] = defaultdict(JoinOutput)
    if inputs.wire is not None:
        inputs.prepare([m.value for m in messages])
    for read in messages:
        kind = kinds.get(read.topic, "unexpected-topic")
        result.records_in[kind] += 1
        join = joins.get(read.partition)
        if join is None:
            result.skipped[(kind, NOT_ASSIGNED)] += 1
            continue
        joins.fed(read.topic, read.partition, read.offset)
        message = _joined_here(read, kind, kinds, joins.partitions, result)
        if message is None:
            continue
        kind = kinds.get(message.topic, "unexpected-topic")
        fed = feed(message, kind, join, outs[read.partition], arrived=epoch, now=epoch,
                   inputs=inputs)
        if not isinstance(fed, Rejection):  # its event time
            result.event_times[(read.topic, read.partition)] = fed
            continue
        rejection = fed
        result.skipped[(kind, rejection.code)] += 1
        if kind == LABELS:
            result.dead_letters.append((message.key, dead_letter(
                message, rejection.code, rejection.message, STAGE, now), message.partition))
    _expire(joins, epoch, outs)
    for partition, out in outs.items():
        _collect(result, out, partition, now)
    return result


def expire_waiting(joins: PartitionedJoin, *, now: datetime | None = None) -> JoinStepResult:
    """Dead-letter labels that waited too long, for when no records arrive to do it."""
    now = now or datetime.now(UTC)
    result = JoinStepResult()
    outs: defaultdict[int, JoinOutput] = defaultdict(JoinOutput)
    _expire(joins, now.timestamp(), outs)
    for partition, out in outs.items():
        _collect(result, out, partition, now)
    return result


def _kinds(topics: Topics) -> dict[str, str]:
    return {topics.user_events: USER_EVENTS, topics.predictions: PREDICTIONS,
            topics.labels: LABELS, topics.join_repartition: JOIN_REPARTITION}


def _joined_here(message: KafkaRecord, kind: str, kinds: dict[str, str], partitions: int,
                 result: JoinStepResult) -> KafkaRecord | None:
    """The record to join in the partition ``message`` was read from, or None: it was
    forwarded to its home partition, or is a forwarded copy without our headers."""
    if kind == JOIN_REPARTITION:
        first = original(message)
        if first is None or first.topic not in kinds or first.topic == message.topic:
            result.skipped[(kind, NOT_FORWARDED)] += 1
            return None
        return first
    if kind in (USER_EVENTS, PREDICTIONS, LABELS):
        home = home_partition(message.key, partitions, message.partition)
        if home != message.partition:
            result.forwards.append(forward(message, home))
            result.forwarded[kind] += 1
            return None
    return message


def _expire(joins: PartitionedJoin, now: float, outs: defaultdict[int, JoinOutput]) -> None:
    for partition in joins:
        join = joins.get(partition)
        if join is not None:
            join.expire(now, outs[partition])


def feed(message: KafkaRecord, kind: str, join: LabelJoin, out: JoinOutput, *,
         arrived: float, now: float, inputs: InputDecoders = JSON_INPUTS) -> Rejection | datetime:
    """Decode ``message`` as its topic's record and hand it to the join as arrived at
    ``arrived``; its event time, or why not. Live records and those read back on
    assignment alike."""
    if kind == USER_EVENTS:
        event = inputs.events.decode(message.value, now=now)
        if isinstance(event, Rejection):
            return event
        join.on_event(event, arrived, out, size=len(message.value or b""))
        return event.ts
    if kind == PREDICTIONS:
        prediction = _PREDICTIONS.decode(message.value, now=now)
        if isinstance(prediction, Rejection):
            return prediction
        join.on_prediction(prediction, arrived, out, size=len(message.value or b""))
        return prediction.ts
    if kind == LABELS:
        label = inputs.labels.decode(message.value, now=now)
        if isinstance(label, Rejection):
            return label
        join.on_label(label, arrived, out, origin=message)
        return label.ts
    return Rejection("unexpected-topic", f"the joiner does not read `{message.topic}`")


def _collect(result: JoinStepResult, out: JoinOutput, partition: int, now: datetime) -> None:
    for labeled in out.labeled:
        result.labeled_events.append(
            (labeled.user_id.encode(), _ENCODER.encode(labeled), partition))
    if out.labeled:
        result.labeled.setdefault(partition, []).extend(out.labeled)
    for unmatched in out.unmatched_labels:
        origin = unmatched.origin or KafkaRecord(
            topic="", partition=-1, offset=-1, key=unmatched.label.user_id.encode(),
            value=_ENCODER.encode(unmatched.label), timestamp_ms=0,
        )
        result.dead_letters.append((
            origin.key, dead_letter(origin, unmatched.reason, unmatched.error, STAGE, now),
            origin.partition if origin.partition >= 0 else None,
        ))
        result.unmatched[unmatched.reason] += 1
        if unmatched.reason == MEMORY_BUDGET_FULL:
            result.budget_evictions["label"] += 1
    for evicted in out.evicted_events:
        origin = _evicted_record(evicted, partition)
        result.dead_letters.append((origin.key, dead_letter(
            origin, MEMORY_BUDGET_FULL, evicted.error, STAGE, now), partition))
        result.budget_evictions["event"] += 1
    result.duplicates.update(out.duplicates)
    result.events_dropped.update(out.events_dropped)
    result.label_delays.extend(out.label_delays)


def _evicted_record(evicted: Evicted, partition: int) -> KafkaRecord:
    """The evicted event as a record of ``user-events`` (or what was known of it)."""
    scored, user_id = evicted.scored, evicted.scored.user_id or ""
    if scored.features is not None and scored.ts is not None:
        value = _ENCODER.encode(UserEvent(event_id=evicted.event_id, user_id=user_id,
                                          ts=scored.ts, features=scored.features))
        topic = USER_EVENTS
    else:  # only its prediction was read
        value = _ENCODER.encode({"event_id": evicted.event_id, "user_id": user_id,
                                 "score": scored.score, "version": scored.version})
        topic = PREDICTIONS
    return KafkaRecord(topic=topic, partition=partition, offset=-1, key=user_id.encode(),
                       value=value, timestamp_ms=0)
