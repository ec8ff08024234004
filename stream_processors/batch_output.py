"""Send a micro-batch's output with confluent-kafka and wait until the broker has it all.

faust's own send path costs tens of microseconds of Python per record; librdkafka
batches in C. The agent calls :meth:`BatchOutput.deliver` before it asks for the
next batch, and faust acknowledges (and later commits) a batch only then, so an
offset never moves past an output that the broker has not acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

from contracts.kafka_clients import make_producer
from contracts.settings import Settings

logger = logging.getLogger(__name__)

Output = tuple[str, bytes | None, bytes]


class BatchOutput:
    """Produce records, then block (off the event loop) until each one is acknowledged.

    A record the broker refuses is sent again, with backoff, until it lands: the
    batch is never acknowledged with an output missing. Progress stops meanwhile,
    which shows as consumer lag, rather than events being lost.
    """

    def __init__(self, settings: Settings, *, producer: Any | None = None,
                 max_backoff_seconds: float = 30.0) -> None:
        self._producer = producer if producer is not None else make_producer(settings)
        self._max_backoff = max_backoff_seconds
        self._failed: list[Output] = []

    async def deliver(self, records: Iterable[Output]) -> None:
        """:meth:`deliver_blocking` off the event loop."""
        await asyncio.to_thread(self.deliver_blocking, list(records))

    def deliver_blocking(self, records: Iterable[Output]) -> None:
        """Return once every record is acknowledged, sending refused ones again."""
        pending = list(records)
        backoff = 0.1
        while pending:
            self._produce_and_flush(pending)
            pending, self._failed = self._failed, []
            if pending:
                logger.error("%d output records were refused by the broker; sending again "
                             "in %.1f s", len(pending), backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)

    def _produce_and_flush(self, records: list[Output]) -> None:
        produce, poll = self._producer.produce, self._producer.poll
        for topic, key, value in records:
            while True:
                try:
                    produce(topic, value=value, key=key, on_delivery=self._callback(topic))
                    break
                except BufferError:
                    poll(0.05)  # the local queue is full: let deliveries drain it
        while self._producer.flush(1.0) > 0:
            logger.warning("waiting for the broker to acknowledge the batch's output")

    def _callback(self, topic: str) -> Any:
        def delivered(error: Any, message: Any) -> None:
            if error is not None:
                self._failed.append((topic, message.key(), message.value()))
        return delivered

    def close(self) -> None:
        self._producer.flush(30)
