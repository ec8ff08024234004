"""The generation of a classic consumer group, as the group coordinator recorded it.

The admin API does not expose a group's generation; the coordinator writes it, with
every completed rebalance, to ``__consumer_offsets`` as a GroupMetadata record (key
version 2) in partition ``abs(java_hash(group)) % partitions``. The same generation
from two reads means no rebalance happened between them.
"""

from __future__ import annotations

from confluent_kafka import Consumer, TopicPartition

from contracts.kafka_clients import common_config
from contracts.settings import Settings

OFFSETS_TOPIC = "__consumer_offsets"
GROUP_METADATA_KEY = 2


def java_hash(text: str) -> int:
    """Java's ``String.hashCode`` (for code points below U+10000).

    >>> java_hash("hello"), java_hash("polygenelubricants")
    (99162322, -2147483648)
    """
    h = 0
    for ch in text:
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def _string(data: bytes, at: int, *, compact: bool) -> tuple[str, int]:
    """A Kafka protocol string at ``at`` and where the next field starts."""
    if not compact:
        n = int.from_bytes(data[at:at + 2], "big", signed=True)
        return data[at + 2:at + 2 + n].decode(), at + 2 + n
    n, shift = 0, 0
    while True:  # unsigned varint of length + 1
        byte = data[at]
        at += 1
        n |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            break
    return data[at:at + n - 1].decode(), at + n - 1


def generation_of(key: bytes | None, value: bytes | None, group: str) -> int | None:
    """The generation a GroupMetadata record of ``group`` carries; None for other records."""
    if not key or int.from_bytes(key[:2], "big") != GROUP_METADATA_KEY or not value:
        return None
    if _string(key, 2, compact=False)[0] != group:
        return None
    version = int.from_bytes(value[:2], "big")
    _protocol_type, at = _string(value, 2, compact=version >= 4)
    return int.from_bytes(value[at:at + 4], "big", signed=True)


def group_generation(settings: Settings, group: str) -> int | None:
    """The group's latest recorded generation; None before its first rebalance."""
    consumer = Consumer({**common_config(settings), "group.id": f"{group}.generation-reader",
                         "enable.auto.commit": False})
    try:
        meta = consumer.list_topics(OFFSETS_TOPIC, timeout=10).topics[OFFSETS_TOPIC]
        h = java_hash(group)
        # Kafka's Utils.abs maps Integer.MIN_VALUE to 0.
        partition = (abs(h) if h != -(1 << 31) else 0) % len(meta.partitions)
        tp = TopicPartition(OFFSETS_TOPIC, partition)
        low, high = consumer.get_watermark_offsets(tp, timeout=10)
        consumer.assign([TopicPartition(OFFSETS_TOPIC, partition, low)])
        found, position = None, low
        while position < high and (batch := consumer.consume(1000, 2.0)):
            for m in batch:
                if m.error() is None:
                    position = m.offset() + 1
                    generation = generation_of(m.key(), m.value(), group)
                    found = found if generation is None else generation
        return found
    finally:
        consumer.close()
