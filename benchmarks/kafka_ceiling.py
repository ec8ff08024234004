"""The limit of Python plus Kafka here: a bare confluent-kafka consume → decode → produce
loop with no model. Run by ``benchmarks.scoring_throughput`` as a child process.

    python -m benchmarks.kafka_ceiling
"""

from __future__ import annotations

import os
import signal
from types import FrameType

from contracts.decoding import decode_event
from contracts.kafka_clients import make_consumer, make_producer
from contracts.records import UserEvent
from contracts.settings import Settings
from contracts.topics import Topics


def main() -> int:
    settings = Settings.from_mapping(os.environ)
    topics = Topics(settings.topic_prefix)
    consumer = make_consumer(settings, "kafka-ceiling")
    producer = make_producer(settings)
    running = True

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    consumer.subscribe([topics.user_events])
    try:
        while running:
            batch = consumer.consume(2000, 0.05)
            for message in batch:
                if message.error():
                    continue
                event = decode_event(message.value())
                if isinstance(event, UserEvent):
                    producer.produce(topics.predictions, key=message.key(), value=message.value())
                producer.poll(0)
            if batch:
                producer.flush()
                consumer.commit(asynchronous=True)
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
