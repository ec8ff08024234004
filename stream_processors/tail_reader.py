"""Read the tails of the joiner's topics back, for :mod:`stream_processors.join_recovery`.

A plain confluent-kafka consumer, by assignment: it never subscribes (so it never
joins the joiner's group) and never commits. It carries the joiner's group id only to
ask for the group's committed offsets, which mark where the joiner resumes, and so
where the records read back must stop. Reading is bounded by ``limit`` records per
partition and by a deadline; what the deadline cuts short is reported, not hidden.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from contracts.batch_runtime import record_of
from contracts.kafka_clients import KafkaRecord, make_consumer
from contracts.partition_reads import UnfinishedRead, partitions_of, read_to_end
from contracts.settings import SharedSettings
from contracts.topics import (
    JOIN_REPARTITION,
    LABELED_EVENTS,
    LABELED_OUTCOMES,
    LABELS,
    PREDICTIONS,
    USER_EVENTS,
    Topics,
)
from stream_processors.join_recovery import SOURCES, TailRange, lookback_seconds, tail_range

if TYPE_CHECKING:
    from confluent_kafka import Consumer

logger = logging.getLogger(__name__)

# The last records of a ``labeled-outcomes`` partition read back: the newest names the
# last labeled event with outcomes (a few more in case a lost worker wrote last).
OUTCOMES_TAIL = 8


@dataclass
class TailRead:
    """The records read back, the ranges asked for, and the ranges not read to their end."""

    records: list[KafkaRecord] = field(default_factory=list)
    ranges: list[TailRange] = field(default_factory=list)
    unfinished: list[TailRange] = field(default_factory=list)


@dataclass(frozen=True)
class TailWindows:
    """How far back each topic is read, and the most records read of one partition."""

    ttl_seconds: float
    label_wait_seconds: float
    limit: int


def read_tails(settings: SharedSettings, *, group: str, topics: Topics, partitions: Collection[int],
               windows: TailWindows, timeout: float, now: float | None = None) -> TailRead:
    """Read the tails of ``partitions`` of the joiner's sources and ``labeled-events``,
    and the last records of ``labeled-outcomes``.

    Raises ``confluent_kafka.KafkaException`` when the broker does not answer the
    offset look-ups; a deadline reached while reading returns what was read.
    """
    now = time.time() if now is None else now
    deadline = time.monotonic() + timeout
    consumer = make_consumer(settings, group, **{"enable.partition.eof": True})
    try:
        ranges = _plan(consumer, topics, partitions, windows, now, timeout)
        read = _read(consumer, ranges, deadline)
    finally:
        consumer.close()
    return read


def _plan(consumer: Consumer, topics: Topics, partitions: Collection[int], windows: TailWindows,
          now: float, timeout: float) -> list[TailRange]:
    from confluent_kafka import KafkaException, TopicPartition

    names = {LABELED_EVENTS: topics.labeled_events, USER_EVENTS: topics.user_events,
             PREDICTIONS: topics.predictions, LABELS: topics.labels,
             JOIN_REPARTITION: topics.join_repartition,
             LABELED_OUTCOMES: topics.labeled_outcomes}
    wanted: list[tuple[str, str, int]] = []
    for kind, name in names.items():
        present = set(partitions_of(consumer, name, timeout=timeout))
        missing = sorted(set(partitions) - present)
        if missing:
            logger.warning("topic=%s has no partitions %s; nothing of them is restored. "
                           "The joiner's topics need equal partition counts", name, missing)
        wanted += [(kind, name, p) for p in sorted(partitions) if p in present]
    sources = [TopicPartition(name, p) for kind, name, p in wanted if kind in SOURCES]
    committed = {(tp.topic, tp.partition): _checked(tp).offset
                 for tp in (consumer.committed(sources, timeout=timeout) if sources else [])}
    starts = [TopicPartition(name, p, int(1000 * (now - lookback_seconds(
        kind, ttl_seconds=windows.ttl_seconds, label_wait_seconds=windows.label_wait_seconds))))
        for kind, name, p in wanted]
    found = consumer.offsets_for_times(starts, timeout=timeout) if starts else []
    ranges = []
    for (kind, name, p), since in zip(wanted, found, strict=True):
        watermarks = consumer.get_watermark_offsets(TopicPartition(name, p), timeout=timeout)
        if watermarks is None:
            raise KafkaException(f"no watermarks for {name}[{p}] within {timeout:g}s")
        low, high = watermarks
        if kind == LABELED_OUTCOMES:
            ranges.append(TailRange(name, p, max(low, high - OUTCOMES_TAIL), high))
            continue
        upto = high if kind == LABELED_EVENTS else _offset(committed[(name, p)])
        ranges.append(tail_range(name, p, low=low, high=high, since=_offset(_checked(since).offset),
                                 upto=upto, limit=windows.limit))
    return ranges


def _read(consumer: Consumer, ranges: list[TailRange], deadline: float) -> TailRead:
    from confluent_kafka import TopicPartition

    read = TailRead(ranges=ranges)
    todo = [r for r in ranges if not r.empty]
    left = deadline - time.monotonic()
    if not todo or left <= 0:
        read.unfinished = todo
        return read
    try:
        for message in read_to_end(
                consumer, [TopicPartition(r.topic, r.partition, r.start) for r in todo],
                ends={(r.topic, r.partition): r.end for r in todo}, timeout=left,
                errors="log", batch=1000):
            read.records.append(record_of(message))
    except UnfinishedRead as exc:
        cut = set(exc.unfinished)
        read.unfinished = [r for r in todo if (r.topic, r.partition) in cut]
    return read


def _checked(tp: Any) -> Any:
    if tp.error is not None:
        from confluent_kafka import KafkaException

        raise KafkaException(tp.error)
    return tp


def _offset(offset: int) -> int | None:
    """A real offset, or None for librdkafka's "none" markers (no commit, no such time)."""
    return offset if offset >= 0 else None
