"""Read a whole topic from its start, without a consumer group, for assertions."""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from contracts.kafka_clients import KafkaRecord, common_config
from contracts.settings import Settings


def read_topic(
    settings: Settings,
    topic: str,
    *,
    until: Callable[[list[KafkaRecord]], bool] | None = None,
    timeout: float = 60.0,
    idle: float = 2.0,
) -> list[KafkaRecord]:
    """Every record of ``topic``; stops when ``until`` holds, or after ``idle`` quiet seconds."""
    consumer = Consumer({**common_config(settings), "group.id": "reader",
                         "enable.auto.commit": False})
    metadata = consumer.list_topics(topic, timeout=10).topics[topic]
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in metadata.partitions])
    records: list[KafkaRecord] = []
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    try:
        while time.monotonic() < deadline:
            if until is not None and until(records):
                break
            batch = consumer.consume(1000, 0.2)
            if not batch:
                if until is None and time.monotonic() - quiet_since > idle:
                    break
                continue
            quiet_since = time.monotonic()
            for m in batch:
                if m.error():
                    continue
                records.append(KafkaRecord(
                    topic=m.topic(), partition=m.partition(), offset=m.offset(),
                    key=m.key(), value=m.value(), timestamp_ms=m.timestamp()[1],
                    headers=tuple(m.headers() or ()),
                ))
    finally:
        consumer.close()
    return records
