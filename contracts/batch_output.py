"""Send a micro-batch's output with confluent-kafka and wait until the broker has it all.

faust's own send path costs tens of microseconds of Python per record; librdkafka
batches in C. Every record goes to the partition number it names (its input's),
never where a hash of its key would put it. The agent calls
:meth:`BatchOutput.deliver` before it asks for the next batch, and faust
acknowledges (and later commits) a batch only then, so an offset never moves past
an output that the broker has not acknowledged. The confluent-kafka runner sends
each batch with :meth:`BatchOutput.send` and waits with
:meth:`BatchOutput.wait_blocking` only before it commits, so batches keep
flowing while earlier outputs are in flight.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from contracts.kafka_clients import make_producer
from contracts.settings import SharedSettings

logger = logging.getLogger(__name__)

Output = tuple[str, bytes | None, bytes, int]  # topic, key, value, partition


class BatchOutput:
    """Produce records, then block (off the event loop) until each one is acknowledged.

    A record the broker refuses is sent again, with backoff, until it lands: the
    batch is never acknowledged with an output missing. Progress stops meanwhile,
    which shows as consumer lag, rather than events being lost.
    """

    def __init__(self, settings: SharedSettings, *, producer: Any | None = None,
                 max_backoff_seconds: float = 30.0,
                 reports: Mapping[str, Callable[[int, int | None], None]] | None = None,
                 ) -> None:
        # Delivery reports only for failures: a Python callback per acknowledged
        # record costs more than producing it.
        self._producer = producer if producer is not None else make_producer(
            settings, **{"delivery.report.only.error": True})
        self._max_backoff = max_backoff_seconds
        # Per topic, who hears of each record's partition and offset once the broker has
        # it (None when it was refused, and is sent again): a producer that reports
        # every delivery, not only failures, is needed for these.
        self._reports = dict(reports or {})
        self._failed: list[tuple[str, bytes | None, bytes | None, int, Any]] = []
        self._callbacks: dict[str, Any] = {}

    async def deliver(self, records: Iterable[Output]) -> None:
        """:meth:`deliver_blocking` off the event loop."""
        await asyncio.to_thread(self.deliver_blocking, list(records))

    def deliver_blocking(self, records: Iterable[Output]) -> None:
        """Return once every record is acknowledged, sending refused ones again."""
        self.send(records)
        self.wait_blocking()

    def send(self, records: Iterable[Output]) -> None:
        """Hand records to the producer; :meth:`wait_blocking` waits for them."""
        for topic, key, value, partition in records:
            self._produce(topic, key, value, partition, self._callback_for(topic))

    def send_to(self, topic: str,
                records: Iterable[tuple[bytes | None, bytes, int]]) -> None:
        """:meth:`send` for records of one topic, given as (key, value, partition)."""
        produce, callback = self._producer.produce, self._callback_for(topic)
        for key, value, partition in records:
            try:
                produce(topic, value=value, key=key, partition=partition, on_delivery=callback)
            except BufferError:
                self._produce(topic, key, value, partition, callback)

    def send_with_headers(self, topic: str, records: Iterable[
            tuple[bytes | None, bytes | None, int, tuple[tuple[str, bytes], ...]]]) -> None:
        """:meth:`send_to` for records that carry headers, given as (key, value, partition,
        headers); a refused one is sent again with its headers."""
        callback = self._callback_for(topic)
        for key, value, partition, headers in records:
            self._produce(topic, key, value, partition, callback, list(headers))

    def wait_blocking(self) -> None:
        """Return once every record sent so far is acknowledged, sending refused ones again."""
        backoff = 0.1
        while True:
            while self._producer.flush(1.0) > 0:
                logger.warning("waiting for the broker to acknowledge the batch's output")
            refused, self._failed = self._failed, []
            if not refused:
                return
            logger.error("%d output records were refused by the broker; sending again "
                         "in %.1f s", len(refused), backoff)
            time.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)
            for topic, key, value, partition, headers in refused:
                self._produce(topic, key, value, partition, self._callback_for(topic), headers)

    def _produce(self, topic: str, key: bytes | None, value: bytes | None, partition: int,
                 callback: Any, headers: list[tuple[str, str | bytes | None]] | None = None,
                 ) -> None:
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, partition=partition,
                                       headers=headers, on_delivery=callback)
                return
            except BufferError:
                self._producer.poll(0.05)  # the local queue is full: let deliveries drain it

    def _callback_for(self, topic: str) -> Any:
        callback = self._callbacks.get(topic)
        if callback is None:
            callback = self._callbacks[topic] = self._callback(topic)
        return callback

    def _callback(self, topic: str) -> Any:
        report = self._reports.get(topic)

        def delivered(error: Any, message: Any) -> None:
            if error is not None:
                self._failed.append((topic, message.key(), message.value(),
                                     message.partition(), message.headers()))
                if report is not None:
                    report(message.partition(), None)
            elif report is not None:
                report(message.partition(), message.offset())
        return delivered

    def close(self) -> None:
        self._producer.flush(30)


__all__ = ["BatchOutput"]
