"""Reading partitions from given offsets to their ends: the one loop behind every
service that rebuilds state from a topic on start (the registry, the monitor's
alerts, the joiner's tails).

A partition is finished at a given end offset, or else at the end it has when read
(librdkafka's partition EOF, so the consumer needs ``enable.partition.eof``). Offsets
a partition skips (transaction markers, compacted records) finish it too: its
position is checked once nothing more comes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Literal

from contracts.exceptions import StreamMLError
from contracts.kafka_clients import make_consumer
from contracts.settings import SharedSettings

if TYPE_CHECKING:
    from confluent_kafka import Consumer, Message, TopicPartition

logger = logging.getLogger(__name__)

Where = tuple[str, int]
KeyValues = list[tuple[bytes | None, bytes | None]]


class UnfinishedRead(StreamMLError):
    """The deadline passed before every partition was read to its end."""

    def __init__(self, unfinished: Sequence[Where], timeout: float) -> None:
        self.unfinished = sorted(unfinished)
        names = ", ".join(f"{t}[{p}]" for t, p in self.unfinished)
        super().__init__(f"could not read {names} to the end within {timeout:g}s")


class TopicMissing(StreamMLError):
    """A topic the reader needs does not exist."""

    def __init__(self, topic: str) -> None:
        super().__init__(f"topic {topic} does not exist; create the project's topics first "
                         "(streamml topics create)")


def read_topic(settings: SharedSettings, topic: str, *, tail: int | None = None,
               timeout: float = 15.0) -> KeyValues:
    """Every ``(key, value)`` of ``topic``, or of the last ``tail`` records of each of its
    partitions, up to the end it has now; by assignment, with no group and no commit."""
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    consumer = make_consumer(settings, "topic-reader", **{"enable.partition.eof": True})
    try:
        found = partitions_of(consumer, topic, timeout=timeout)
        if not found:
            raise TopicMissing(topic)
        starts = []
        for p in found:
            start = OFFSET_BEGINNING
            if tail is not None:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p),
                                                           timeout=timeout)
                start = max(low, high - tail)
            starts.append(TopicPartition(topic, p, start))
        return [(m.key(), m.value()) for m in read_to_end(consumer, starts, timeout=timeout)]
    finally:
        consumer.close()


def partitions_of(consumer: Consumer, topic: str, *, timeout: float) -> list[int]:
    """The partitions of ``topic``; none when it does not exist (or is not visible)."""
    found = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
    if found is None or found.error is not None:
        return []
    return sorted(found.partitions)


def read_to_end(consumer: Consumer, starts: Sequence[TopicPartition], *, timeout: float,
                ends: Mapping[Where, int] | None = None,
                errors: Literal["raise", "log"] = "raise",
                batch: int = 500) -> Iterator[Message]:
    """Every message from ``starts`` up to each partition's end, in partition order.

    ``ends`` gives a partition's end (exclusive) where it is known; the others end
    where they are at the time of reading. Raises :class:`UnfinishedRead` when
    ``timeout`` seconds pass first (whatever was yielded stays yielded), and
    ``confluent_kafka.KafkaException`` for a fatal error, or for any consume error
    when ``errors`` is ``"raise"`` (``"log"``: logged, and the client retries).
    """
    from confluent_kafka import KafkaError, KafkaException

    ends = ends or {}
    todo = {(tp.topic, tp.partition) for tp in starts
            if _left_to_read(tp.offset, ends.get((tp.topic, tp.partition)))}
    if not todo:
        return
    consumer.assign([tp for tp in starts if (tp.topic, tp.partition) in todo])
    deadline = time.monotonic() + timeout
    while todo:
        left = deadline - time.monotonic()
        if left <= 0:
            raise UnfinishedRead(list(todo), timeout)
        messages = consumer.consume(batch, min(0.5, left))
        for message in messages:
            where: Where = (message.topic() or "", message.partition() or 0)
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    todo.discard(where)
                elif errors == "raise" or error.fatal():
                    raise KafkaException(error)
                else:
                    logger.warning("reading %s[%d]: %s", *where, error)
                continue
            if where not in todo:
                continue
            offset, end = message.offset() or 0, ends.get(where)
            if end is not None and offset >= end:
                continue
            yield message
            if end is not None and offset >= end - 1:
                _finish(consumer, todo, where)
        if not messages and ends:
            _finish_skipped(consumer, todo, ends)


def _left_to_read(start: int, end: int | None) -> bool:
    """
    >>> _left_to_read(-2, None), _left_to_read(-2, 0), _left_to_read(5, 5), _left_to_read(5, 9)
    (True, False, False, True)
    """
    return end is None or end > max(start, 0)


def _finish(consumer: Consumer, todo: set[Where], where: Where) -> None:
    from confluent_kafka import TopicPartition

    todo.discard(where)
    consumer.pause([TopicPartition(*where)])


def _finish_skipped(consumer: Consumer, todo: set[Where], ends: Mapping[Where, int]) -> None:
    """Finish partitions whose position passed their end without a message at it."""
    from confluent_kafka import TopicPartition

    known = [TopicPartition(*where) for where in todo if where in ends]
    for tp in consumer.position(known) if known else []:
        if tp.offset >= ends[(tp.topic, tp.partition)]:
            _finish(consumer, todo, (tp.topic, tp.partition))


__all__ = ["KeyValues", "TopicMissing", "UnfinishedRead", "partitions_of", "read_to_end",
           "read_topic"]
