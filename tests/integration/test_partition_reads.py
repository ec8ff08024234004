"""Reading partitions to their ends, as every service rebuilding state on start does."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import OFFSET_BEGINNING, Producer, TopicPartition

from contracts.kafka_clients import make_consumer, producer_config
from contracts.partition_reads import TopicMissing, UnfinishedRead, read_to_end, read_topic
from contracts.settings import Settings
from contracts.topics import Topics


def _write(settings: Settings, topic: str, values: list[tuple[int, bytes]], *,
           transactional: bool = False, abort: bool = False) -> None:
    extra = {"transactional.id": f"t-{uuid.uuid4().hex[:8]}"} if transactional else {}
    producer = Producer(producer_config(settings, **extra))
    if transactional:
        producer.init_transactions(30)
        producer.begin_transaction()
    for partition, value in values:
        producer.produce(topic, value=value, partition=partition)
    if transactional:
        (producer.abort_transaction if abort else producer.commit_transaction)(30)
    assert producer.flush(30) == 0


def _ends(settings: Settings, topic: str) -> dict[tuple[str, int], int]:
    consumer = make_consumer(settings, "ends")
    try:
        return {(topic, p): consumer.get_watermark_offsets(TopicPartition(topic, p), 15)[1]
                for p in range(3)}
    finally:
        consumer.close()


def test_partitions_ending_in_transaction_markers_are_read_to_their_ends(
        kafka_settings: Settings) -> None:
    """The last offset of every partition is a commit or abort marker, never delivered:
    the read still finishes at the given ends, with the committed records only."""
    topic = Topics(kafka_settings.topic_prefix).labels
    _write(kafka_settings, topic, [(p, f"kept-{p}-{i}".encode()) for p in range(3)
                                   for i in range(4)], transactional=True)
    _write(kafka_settings, topic, [(p, b"aborted") for p in range(3)], transactional=True,
           abort=True)
    ends = _ends(kafka_settings, topic)
    consumer = make_consumer(kafka_settings, "reader")  # no partition EOF: ends decide
    try:
        values = [m.value() for m in read_to_end(
            consumer, [TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(3)],
            ends=ends, timeout=30)]
    finally:
        consumer.close()
    assert sorted(values) == sorted(f"kept-{p}-{i}".encode() for p in range(3) for i in range(4))


def test_a_read_cut_by_its_deadline_names_the_unfinished_partitions_after_what_it_read(
        kafka_settings: Settings) -> None:
    topic = Topics(kafka_settings.topic_prefix).user_events
    _write(kafka_settings, topic, [(p, f"{p}".encode()) for p in range(3) for _ in range(5)])
    ends = _ends(kafka_settings, topic)
    ends[(topic, 1)] += 10  # never reached
    consumer = make_consumer(kafka_settings, "reader")
    read: list[bytes | None] = []
    try:
        with pytest.raises(UnfinishedRead) as cut:
            for m in read_to_end(consumer, [TopicPartition(topic, p, OFFSET_BEGINNING)
                                            for p in range(3)], ends=ends, timeout=3):
                read.append(m.value())
    finally:
        consumer.close()
    assert cut.value.unfinished == [(topic, 1)]
    assert f"{topic}[1]" in str(cut.value)
    assert sorted(read) == sorted(f"{p}".encode() for p in range(3) for _ in range(5))


def test_a_topic_is_read_whole_or_by_its_tail_and_a_missing_one_is_named(
        kafka_settings: Settings) -> None:
    topic = Topics(kafka_settings.topic_prefix).predictions
    _write(kafka_settings, topic, [(p, f"{p}-{i}".encode()) for p in range(3) for i in range(8)])
    assert len(read_topic(kafka_settings, topic)) == 24
    tail = sorted(v for _, v in read_topic(kafka_settings, topic, tail=3) if v)
    assert tail == sorted(f"{p}-{i}".encode() for p in range(3) for i in (5, 6, 7))
    with pytest.raises(TopicMissing, match="streamml topics create"):
        read_topic(kafka_settings, f"{topic}-nowhere", timeout=5)
