"""Where the retrainer starts reading each partition, and which labels count as new.

``labeled-events`` starts at a bounded tail (no older than the window's age, no more
than its size) so the window is rebuilt on every start; labels at or past the
committed offset are new for the count trigger. ``alerts`` starts at the committed
offset, or on a first start a short look-back. ``model-versions`` is read whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from contracts.kafka_clients import patiently
from contracts.topics import Topics

ALERT_LOOKBACK: Final = timedelta(minutes=10)
TIMEOUT: Final = 15.0


@dataclass(frozen=True)
class StartPlan:
    """Partitions with their start offsets, and per labeled-events partition where new begins."""

    assignment: list[Any]
    count_from: dict[int, int]


def start_plan(consumer: Any, topics: Topics, *, window_size: int,
               window_age: timedelta) -> StartPlan:
    """Read committed offsets, watermarks and time indexes; plan the assignment."""
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    labeled, alerts = topics.labeled_events, topics.alerts
    parts = {t: sorted(consumer.list_topics(t, timeout=TIMEOUT).topics[t].partitions)
             for t in (labeled, alerts)}
    wanted = [TopicPartition(t, p) for t, ps in parts.items() for p in ps]
    committed = {(tp.topic, tp.partition): tp.offset for tp in patiently(
        lambda: consumer.committed(wanted, timeout=TIMEOUT), what="committed offsets")}
    now = datetime.now(UTC)
    tail = offsets_at(consumer, labeled, parts[labeled], now - window_age)
    lookback = offsets_at(consumer, alerts, parts[alerts], now - ALERT_LOOKBACK)
    assignment, count_from = [], {}
    for p in parts[labeled]:
        low, high = consumer.get_watermark_offsets(TopicPartition(labeled, p), timeout=TIMEOUT)
        start = max(low, tail[p], high - window_size)
        # Negative (nothing committed yet): every label read is new.
        count_from[p] = max(committed[(labeled, p)], start)
        assignment.append(TopicPartition(labeled, p, start))
    for p in parts[alerts]:
        done = committed[(alerts, p)]
        assignment.append(TopicPartition(alerts, p, done if done >= 0 else lookback[p]))
    assignment.append(TopicPartition(topics.model_versions, 0, OFFSET_BEGINNING))
    return StartPlan(assignment, count_from)


def offsets_at(consumer: Any, topic: str, partitions: list[int],
               when: datetime) -> dict[int, int]:
    """First offset at or after ``when`` per partition; the end when nothing is that recent."""
    from confluent_kafka import TopicPartition

    ms = int(when.timestamp() * 1000)
    found = consumer.offsets_for_times([TopicPartition(topic, p, ms) for p in partitions],
                                       timeout=TIMEOUT)
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=TIMEOUT)[1]
            for p in partitions}
    return {tp.partition: tp.offset if tp.offset >= 0 else ends[tp.partition] for tp in found}


__all__ = ["ALERT_LOOKBACK", "StartPlan", "offsets_at", "start_plan"]
