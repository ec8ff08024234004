from __future__ import annotations

import asyncio

from contracts.batch_output import BatchOutput
from contracts.settings import Settings


class FlakyProducer:
    """Refuses each record's first delivery, then accepts it; keeps what landed."""

    def __init__(self, queue_limit: int = 1000) -> None:
        self.landed: list[tuple] = []
        self._attempts: dict[bytes, int] = {}
        self._queued: list[tuple] = []
        self.queue_limit = queue_limit

    def produce(self, topic, value, key, partition, on_delivery, headers=None):  # noqa: ANN001
        if len(self._queued) >= self.queue_limit:
            raise BufferError("queue full")
        self._queued.append((topic, key, value, partition, on_delivery, headers))

    def poll(self, timeout: float = 0) -> int:
        return self.flush(timeout)

    def flush(self, timeout: float = -1) -> int:
        queued, self._queued = self._queued, []
        for topic, key, value, partition, on_delivery, headers in queued:
            attempt = self._attempts.get(value, 0) + 1
            self._attempts[value] = attempt
            message = type("M", (), {"key": lambda _s, k=key: k, "value": lambda _s, v=value: v,
                                     "partition": lambda _s, p=partition: p,
                                     "headers": lambda _s, h=headers: h})()
            if attempt == 1:
                on_delivery("broker said no", message)
            else:
                self.landed.append((topic, key, value, partition, *([headers] if headers else [])))
                on_delivery(None, message)
        return 0


def test_every_record_lands_in_its_partition_even_when_the_broker_refuses_it_once():
    producer = FlakyProducer(queue_limit=3)
    output = BatchOutput(Settings(), producer=producer, max_backoff_seconds=0.01)
    records = [("predictions", f"u{i}".encode(), f"v{i}".encode(), i % 3) for i in range(10)]
    asyncio.run(output.deliver(records))
    assert sorted(producer.landed) == sorted(records)


def test_a_refused_record_with_headers_is_sent_again_with_them():
    producer = FlakyProducer()
    output = BatchOutput(Settings(), producer=producer, max_backoff_seconds=0.01)
    headers = (("streamml-source-topic", b"labels"),)
    output.send_with_headers("join-repartition", [(b"u1", b"v1", 2, headers)])
    output.wait_blocking()
    assert producer.landed == [("join-repartition", b"u1", b"v1", 2, list(headers))]
