"""The limit of Python plus Kafka here: a bare confluent-kafka consume → decode → produce
loop with no model. Run by ``benchmarks.suite`` as a child process.

It reads and writes like the confluent-kafka scoring runner (same batch size, poll
wait, commit cadence and garbage-collector policy), so the gap between the two is
the scoring itself.

    python -m benchmarks.kafka_ceiling
"""

from __future__ import annotations

import os
import signal
import time
from types import FrameType
from typing import Any

from confluent_kafka import TopicPartition

from contracts.decoding import decode_event
from contracts.kafka_clients import make_consumer, make_producer
from contracts.records import UserEvent
from contracts.settings import Settings
from contracts.topics import Topics
from stream_processors.gc_policy import quiet_garbage_collector

# As in stream_processors.kafka_scoring (not imported: it would load the model stack).
MAX_BATCH = 2000
POLL_SECONDS = 0.01
COMMIT_SECONDS = 0.25
COMMIT_EVENTS = 10_000
PREFETCH_KBYTES = 16 * 1024


def main() -> int:
    settings = Settings.from_mapping(os.environ)
    topics = Topics(settings.topic_prefix)
    consumer = make_consumer(settings, "kafka-ceiling",
                             **{"queued.max.messages.kbytes": PREFETCH_KBYTES})
    producer = make_producer(settings, **{"delivery.report.only.error": True})
    running = True

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    consumer.subscribe([topics.user_events])
    quiet_garbage_collector()
    uncommitted: dict[tuple[Any, Any], int] = {}
    last_commit, since = time.monotonic(), 0
    try:
        while running:
            batch = [m for m in consumer.consume(MAX_BATCH, POLL_SECONDS) if m.error() is None]
            since += len(batch)
            for message in batch:
                if isinstance(decode_event(message.value()), UserEvent):
                    producer.produce(topics.predictions, key=message.key(),
                                     value=message.value())
                uncommitted[(message.topic(), message.partition())] = (message.offset() or 0) + 1
            now = time.monotonic()
            if uncommitted and (not batch or since >= COMMIT_EVENTS
                                or now - last_commit >= COMMIT_SECONDS):
                producer.flush()
                consumer.store_offsets(offsets=[TopicPartition(t, p, o)
                                                for (t, p), o in uncommitted.items()])
                consumer.commit(asynchronous=True)
                uncommitted.clear()
                last_commit, since = now, 0
    finally:
        producer.flush(10)
        consumer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
