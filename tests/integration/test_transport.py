"""Both transports streamml uses talk plain Kafka: keys, headers, partitions, order per key."""

from __future__ import annotations

import asyncio
import uuid

from confluent_kafka import Consumer, Producer

from contracts.kafka_clients import aiokafka_config, consumer_config, producer_config
from contracts.settings import Settings
from contracts.topics import Topics

KEYS = [f"user-{i}" for i in range(12)]
PER_KEY = 25


def _produce_with_confluent(settings: Settings, topic: str) -> None:
    producer = Producer(producer_config(settings))
    errors: list[object] = []
    for seq in range(PER_KEY):
        for key in KEYS:
            producer.produce(
                topic, key=key, value=f"{key}:{seq}".encode(),
                headers=[("trace", f"t-{key}-{seq}".encode())],
                on_delivery=lambda err, _msg: errors.append(err) if err else None,
            )
            producer.poll(0)
    assert producer.flush(30) == 0
    assert errors == []


def _consume_with_confluent(settings: Settings, topic: str, count: int) -> list[tuple]:
    consumer = Consumer(consumer_config(settings, f"read-{uuid.uuid4().hex[:6]}"))
    consumer.subscribe([topic])
    seen: list[tuple] = []
    try:
        for _ in range(600):
            if len(seen) >= count:
                break
            msg = consumer.poll(0.1)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            seen.append((msg.key().decode(), msg.value().decode(), msg.partition(),
                         dict(msg.headers() or [])))
    finally:
        consumer.close()
    return seen


def _check(records: list[tuple]) -> None:
    assert len(records) == len(KEYS) * PER_KEY
    partitions_of: dict[str, set[int]] = {}
    order_of: dict[str, list[int]] = {}
    for key, value, partition, headers in records:
        value_key, seq = value.rsplit(":", 1)
        assert value_key == key
        assert headers["trace"] == f"t-{key}-{seq}".encode()
        partitions_of.setdefault(key, set()).add(partition)
        order_of.setdefault(key, []).append(int(seq))
    assert all(len(p) == 1 for p in partitions_of.values()), "a key must stay in one partition"
    assert len(set().union(*partitions_of.values())) > 1, "keys should spread over partitions"
    assert all(order == list(range(PER_KEY)) for order in order_of.values())


def test_confluent_round_trip_keeps_keys_headers_and_order_per_key(kafka_settings: Settings):
    topic = Topics(kafka_settings.topic_prefix).user_events
    _produce_with_confluent(kafka_settings, topic)
    _check(_consume_with_confluent(kafka_settings, topic, len(KEYS) * PER_KEY))


def test_aiokafka_reads_what_confluent_wrote_and_the_reverse(kafka_settings: Settings):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    topics = Topics(kafka_settings.topic_prefix)
    _produce_with_confluent(kafka_settings, topics.user_events)

    async def relay() -> list[tuple]:
        consumer = AIOKafkaConsumer(
            topics.user_events, group_id=f"{kafka_settings.group_prefix}.aio",
            auto_offset_reset="earliest", enable_auto_commit=False,
            **aiokafka_config(kafka_settings),
        )
        producer = AIOKafkaProducer(
            acks="all", enable_idempotence=True, **aiokafka_config(kafka_settings)
        )
        await consumer.start()
        await producer.start()
        read: list[tuple] = []
        try:
            while len(read) < len(KEYS) * PER_KEY:
                batch = await asyncio.wait_for(consumer.getmany(timeout_ms=500), 30)
                for messages in batch.values():
                    for msg in messages:
                        read.append((msg.key.decode(), msg.value.decode(), msg.partition,
                                     dict(msg.headers)))
                        await producer.send(topics.predictions, key=msg.key, value=msg.value,
                                            headers=list(msg.headers))
            await producer.flush()
        finally:
            await producer.stop()
            await consumer.stop()
        return read

    _check(asyncio.run(relay()))
    # The same keys land in the same partitions whichever client partitions them.
    relayed = _consume_with_confluent(kafka_settings, topics.predictions, len(KEYS) * PER_KEY)
    _check(relayed)
