"""Rebuild a partition's join state from the tails of its topics: pure, no Kafka.

The joiner commits its offsets as it goes, while the join's stores live in
memory. When a worker is given a partition (at start, or when another worker left),
the records before the group's committed offset will not be delivered again, yet
events and predictions among them may still be waiting for their label, and labels
for their event. So before the partition is processed, its tails are read back:

========================  ==============================  ===========================
topic (partition ``p``)   from (record time)              to
========================  ==============================  ===========================
``labeled-events``        now - ttl                       the end
``user-events``           now - ttl                       the committed offset
``predictions``           now - ttl                       the committed offset
``labels``                now - label wait                the committed offset
``join-repartition``      now - ttl                       the committed offset
========================  ==============================  ===========================

and each read is bounded to its last ``limit`` records. :func:`tail_range` turns
offsets into what to read; :func:`restore` feeds what was read into a fresh
:class:`LabelJoin` without emitting anything. ``labeled-events`` is fed first: an
event id joined before (even after the committed offset, by a worker that crashed
before committing) is remembered, so records delivered again never join twice. A
record's arrival time is its Kafka timestamp, so restored state expires as if it had
never left memory. A source record whose home is another partition was forwarded
there (:mod:`stream_processors.repartition`) and is restored there, from
``join-repartition``; that topic's copies are restored as the records they carry.

A topic the group never committed is read from its start by the joiner, so nothing of it
is restored. Labels that had already waited longer than the label wait are not
restored; the worker that read them dead-lettered them, unless it crashed first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

import msgspec

from contracts.decoding import JSON_INPUTS, InputDecoders, Rejection
from contracts.kafka_clients import KafkaRecord
from contracts.topics import (
    JOIN_REPARTITION,
    LABELED_EVENTS,
    LABELS,
    PREDICTIONS,
    USER_EVENTS,
    Topics,
)
from stream_processors.joiner_step import feed
from stream_processors.label_join import JoinOutput, LabelJoin
from stream_processors.partitioned_join import PartitionedJoin
from stream_processors.repartition import home_partition, original

SOURCES: Final = (USER_EVENTS, PREDICTIONS, LABELS, JOIN_REPARTITION)


class _Joined(msgspec.Struct):
    """The one field of a labeled event that restoring needs."""

    event_id: str


_JOINED = msgspec.json.Decoder(_Joined)


@dataclass(frozen=True, slots=True)
class TailRange:
    """Offsets ``[start, end)`` of one partition to read back."""

    topic: str
    partition: int
    start: int
    end: int

    @property
    def empty(self) -> bool:
        return self.start >= self.end


def tail_range(topic: str, partition: int, *, low: int, high: int, since: int | None,
               upto: int | None, limit: int) -> TailRange:
    """What to read of one partition.

    ``low``/``high`` are its watermarks; ``since`` the first offset at or after the
    window's start time (None when every record is older); ``upto`` where reading
    stops: the group's committed offset for a source topic (None when the group never
    committed: the joiner reads it all, so nothing is restored), ``high`` for
    ``labeled-events``. At most the last ``limit`` records are read.

    >>> tail_range("labels", 0, low=10, high=500, since=100, upto=400, limit=1000)
    TailRange(topic='labels', partition=0, start=100, end=400)
    >>> tail_range("labels", 0, low=10, high=500, since=100, upto=400, limit=50).start
    350
    >>> tail_range("labels", 0, low=10, high=500, since=100, upto=None, limit=50).empty
    True
    """
    end = low if upto is None else max(low, min(upto, high))
    start = end if since is None else max(since, low, end - limit)
    return TailRange(topic, partition, min(start, end), end)


def lookback_seconds(kind: str, *, ttl_seconds: float, label_wait_seconds: float) -> float:
    """How far back a topic's tail reaches: labels wait ``label_wait``, the rest ``ttl``."""
    return label_wait_seconds if kind == LABELS else ttl_seconds


@dataclass
class RestoreReport:
    """What restoring one partition read and kept; for logs and metrics."""

    read: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    joined_ids: int = 0
    pending_events: int = 0
    waiting_labels: int = 0
    rejoined: int = 0  # joins found among records that were read before; not sent again
    labels_pushed_out: int = 0
    elsewhere: int = 0  # source records forwarded to their home partition, restored there


def restore(records: Iterable[KafkaRecord], join: LabelJoin, topics: Topics, *,
            partitions: int, now: float, inputs: InputDecoders = JSON_INPUTS) -> RestoreReport:
    """Load ``records`` (any order, one partition of ``partitions``) into ``join``;
    nothing is emitted.

    >>> from datetime import UTC, datetime
    >>> from contracts.records import Label, LabeledEvent
    >>> t, topics = datetime(2026, 1, 1, tzinfo=UTC), Topics()
    >>> def rec(topic, value, offset):
    ...     at = int(t.timestamp() + offset) * 1000
    ...     return KafkaRecord(topic=topic, partition=0, offset=offset, key=b"u1",
    ...                        value=msgspec.json.encode(value), timestamp_ms=at)
    >>> done = LabeledEvent(event_id="e1", user_id="u1", features={}, label=1, score=0.5,
    ...                     version=1, ts=t)
    >>> records = [rec("labeled-events", done, 9),
    ...            rec("labels", Label(event_id="e1", user_id="u1", ts=t, label=1), 5),
    ...            rec("labels", Label(event_id="e2", user_id="u1", ts=t, label=0), 6)]
    >>> join = LabelJoin()
    >>> report = restore(records, join, topics, partitions=1, now=t.timestamp() + 10)
    >>> "e1" in join.joined, "e2" in join.waiting_labels, report.waiting_labels
    (True, True, 1)
    """
    kinds = {topics.labeled_events: LABELED_EVENTS, topics.user_events: USER_EVENTS,
             topics.predictions: PREDICTIONS, topics.labels: LABELS,
             topics.join_repartition: JOIN_REPARTITION}
    report = RestoreReport()
    out = JoinOutput()
    # Joined ids first, then in time order so each store stays ordered by arrival.
    ordered = sorted(records, key=lambda r: (kinds.get(r.topic) != LABELED_EVENTS,
                                             r.timestamp_ms, r.topic, r.offset))
    for record in ordered:
        kind = kinds.get(record.topic, "unexpected-topic")
        report.read[kind] += 1
        arrived = record.timestamp_ms / 1000 if record.timestamp_ms > 0 else now
        first = _joined_here(record, kind, kinds, partitions)
        if first is None:
            report.elsewhere += 1
            continue
        first_kind = kinds.get(first.topic, "unexpected-topic")
        if first_kind == LABELS and now - arrived > join.waiting_labels.ttl_seconds:
            continue  # waited out already: dead-lettered by the worker that read it
        if not _feed(first, first_kind, join, out, arrived, now, inputs):
            report.skipped[kind] += 1
    report.joined_ids = len(join.joined)
    report.pending_events = len(join.events)
    report.waiting_labels = len(join.waiting_labels)
    report.rejoined = len(out.labeled)
    report.labels_pushed_out = len(out.unmatched_labels)
    return report


def restore_partitions(records: Iterable[KafkaRecord], joins: PartitionedJoin,
                       partitions: Iterable[int], topics: Topics, *, now: float,
                       inputs: InputDecoders = JSON_INPUTS,
                       ) -> dict[int, tuple[LabelJoin, RestoreReport]]:
    """A fresh, restored join for each of ``partitions``, from the records read for them.

    The joins are built apart from ``joins`` (the caller installs them), so this can
    run off the event loop while the live state is in use.
    """
    by_partition: dict[int, list[KafkaRecord]] = {p: [] for p in partitions}
    for record in records:
        if record.partition in by_partition:
            by_partition[record.partition].append(record)
    restored = {}
    for partition, mine in by_partition.items():
        join = joins.new_join(partition)
        restored[partition] = (join, restore(mine, join, topics, partitions=joins.partitions,
                                             now=now, inputs=inputs))
    return restored


def _joined_here(record: KafkaRecord, kind: str, kinds: dict[str, str],
                 partitions: int) -> KafkaRecord | None:
    """The record as joined in ``record``'s partition; None if it was forwarded elsewhere.

    A copy in ``join-repartition`` without our headers comes back as it is, and is skipped.
    """
    joined = (USER_EVENTS, PREDICTIONS, LABELS)
    if kind == JOIN_REPARTITION:
        first = original(record)
        return first if first is not None and kinds.get(first.topic) in joined else record
    if kind in joined and home_partition(
            record.key, partitions, record.partition) != record.partition:
        return None
    return record


def _feed(record: KafkaRecord, kind: str, join: LabelJoin, out: JoinOutput,
          arrived: float, now: float, inputs: InputDecoders) -> bool:
    """Hand one record to the join as if it had just arrived; False if it does not decode."""
    if kind == LABELED_EVENTS:
        try:
            join.joined.add(_JOINED.decode(record.value or b"").event_id)
        except msgspec.DecodeError:
            return False
        return True
    return not isinstance(feed(record, kind, join, out, arrived=arrived, now=now,
                               inputs=inputs), Rejection)
