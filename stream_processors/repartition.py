"""Where the joiner joins a record: the partition murmur2 gives its key, whoever wrote it.

Kafka clients disagree on how a key picks a partition: the Java client, aiokafka and
streamml's SDK hash it with murmur2, librdkafka-based clients (kcat, confluent-kafka
in Python, Go, .NET, Node) with CRC32. An application may send events with one and
labels with another. The scoring processor writes each prediction to its event's
partition number, so an event and its prediction always meet; a label may be
elsewhere. So the joiner, like a Kafka Streams repartition, gives every piece of a
join one home, ``murmur2(key) % partitions`` (the Java client's choice): a record
read in another partition is forwarded, bytes untouched, to its home partition of
the ``join-repartition`` topic, which the joiner reads beside the sources. Records
already home, as the SDK's are, are joined where they are read.

Headers on the forwarded copy say where the record was first written, so dead letters
name the original topic, partition and offset.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from contracts.kafka_clients import KafkaRecord

SOURCE_TOPIC: Final = "streamml-source-topic"
SOURCE_PARTITION: Final = "streamml-source-partition"
SOURCE_OFFSET: Final = "streamml-source-offset"
SOURCE_TIMESTAMP: Final = "streamml-source-timestamp"


_M: Final = 0x5BD1E995
_MASK: Final = 0xFFFFFFFF
_WORDS: Final = struct.Struct("<I")


def murmur2(key: bytes) -> int:
    """The Java client's ``Utils.toPositive(Utils.murmur2(key))``.

    >>> murmur2(b"21"), murmur2(b"foobar")  # Java: -973932308 for "21"
    (1173551340, 1357151166)
    """
    length = len(key)
    h = 0x9747B28C ^ length
    whole = length & ~3
    for (k,) in _WORDS.iter_unpack(key[:whole]):
        k = (k * _M) & _MASK
        k ^= k >> 24
        h = ((h * _M) & _MASK) ^ ((k * _M) & _MASK)
    rest = length & 3
    if rest == 3:
        h ^= key[whole + 2] << 16
    if rest >= 2:
        h ^= key[whole + 1] << 8
    if rest >= 1:
        h = ((h ^ key[whole]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h & 0x7FFFFFFF


def home_partition(key: bytes | None, partitions: int, default: int) -> int:
    """The partition the Java client's default partitioner gives ``key``; ``default``
    for a record without a key, which no partitioner places by key.

    >>> home_partition(b"u1", 3, 0), home_partition(None, 3, 2)
    (1, 2)
    """
    if key is None:
        return default
    if len(key) <= CACHED_KEY_BYTES:
        return _cached_murmur2(key) % partitions
    return murmur2(key) % partitions


# An event, its prediction and its label share a key, so most keys are hashed again
# soon. Only short keys are kept: the cache holds the keys themselves, and a key can
# be as large as a message, so 65,536 long ones written on purpose would hold gigabytes.
CACHED_KEY_BYTES: Final = 128
_cached_murmur2 = lru_cache(maxsize=1 << 16)(murmur2)


@dataclass(slots=True)
class Forward:
    """A record to write to ``partition`` of ``join-repartition``."""

    partition: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]


def forward(record: KafkaRecord, partition: int) -> Forward:
    """``record``, bound for ``partition``, carrying where it was first written."""
    return Forward(partition, record.key, record.value, (
        (SOURCE_TOPIC, record.topic.encode()),
        (SOURCE_PARTITION, str(record.partition).encode()),
        (SOURCE_OFFSET, str(record.offset).encode()),
        (SOURCE_TIMESTAMP, str(record.timestamp_ms).encode()),
    ))


def original(record: KafkaRecord) -> KafkaRecord | None:
    """The record as first written, from a forwarded copy; None if its headers are not ours.

    >>> first = KafkaRecord(topic="labels", partition=2, offset=7, key=b"u1", value=b"{}",
    ...                     timestamp_ms=1000)
    >>> sent = forward(first, 1)
    >>> copy = KafkaRecord(topic="join-repartition", partition=1, offset=0, key=sent.key,
    ...                    value=sent.value, timestamp_ms=2000, headers=sent.headers)
    >>> original(copy) == first
    True
    """
    headers = dict(record.headers)
    try:
        return KafkaRecord(
            topic=headers[SOURCE_TOPIC].decode(),
            partition=int(headers[SOURCE_PARTITION]),
            offset=int(headers[SOURCE_OFFSET]),
            key=record.key,
            value=record.value,
            timestamp_ms=int(headers[SOURCE_TIMESTAMP]),
        )
    except (KeyError, ValueError, TypeError, AttributeError):
        return None
