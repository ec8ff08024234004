"""Where the retrainer starts reading each partition, and which labels count as new.

``labeled-events`` starts at a bounded tail (no older than the window's age, no more
than its size) so the window is rebuilt on every start; labels at or past the
committed offset are new for the count trigger. ``alerts`` starts at the committed
offset, or on a first start a short look-back. ``model-versions`` is read whole.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from contracts.topics import Topics

logger = logging.getLogger(__name__)

ALERT_LOOKBACK: Final = timedelta(minutes=10)
TIMEOUT: Final = 15.0
COORDINATOR_PATIENCE: Final = 60.0


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
    committed = {(tp.topic, tp.partition): tp.offset for tp in committed_offsets(
        consumer, [TopicPartition(t, p) for t, ps in parts.items() for p in ps])}
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


def committed_offsets(consumer: Any, partitions: list[Any], *,
                      patience: float = COORDINATOR_PATIENCE) -> list[Any]:
    """The group's committed offsets, waiting out a coordinator that is not ready yet.

    On a new group (or a broker just started) the coordinator answers NOT_COORDINATOR
    or COORDINATOR_LOAD_IN_PROGRESS for a while; those are retriable, anything else is
    raised at once.
    """
    from confluent_kafka import KafkaException

    deadline = time.monotonic() + patience
    pause = 0.2
    while True:
        try:
            found: list[Any] = consumer.committed(partitions, timeout=TIMEOUT)
            return found
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if not getattr(error, "retriable", lambda: False)() \
                    or time.monotonic() + pause > deadline:
                raise
            logger.info("committed offsets not available yet (%s); asking again in %.1fs",
                        error, pause)
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


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


__all__ = ["ALERT_LOOKBACK", "StartPlan", "committed_offsets", "offsets_at", "start_plan"]
