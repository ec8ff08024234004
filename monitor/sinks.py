"""Where alerts go: the ``alerts`` topic, Alertmanager, a webhook, or a list in tests.

Every sink has the same small interface (:class:`AlertSink`) and passes the same
contract tests. ``send`` delivers one alert or raises :class:`SinkError`; slow sinks
(HTTP with retries) run behind a :class:`BackgroundSink` so the consumer loop never
waits on them.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, Protocol

import msgspec

from contracts.records import Alert
from monitor.exceptions import SinkError

logger = logging.getLogger(__name__)

_ENCODE = msgspec.json.encode


class AlertSink(Protocol):
    """Delivers alerts; ``send`` raises :class:`SinkError` when it gave up."""

    name: str

    def send(self, alert: Alert) -> None: ...

    def close(self) -> None: ...


class MemorySink:
    """Keeps every alert in a list: the in-memory sink of tests and of the ops page.

    >>> from monitor.testing import sample_alert
    >>> sink = MemorySink(); sink.send(sample_alert()); [a.status for a in sink.alerts]
    ['firing']
    """

    name = "memory"

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def send(self, alert: Alert) -> None:
        self.alerts.append(alert)

    def close(self) -> None:
        pass


class ProducerLike(Protocol):
    """The part of ``confluent_kafka.Producer`` the topic sink uses (a fake in tests)."""

    def produce(self, topic: str, *, key: bytes, value: bytes,
                on_delivery: Callable[[Any, Any], None]) -> None: ...

    def poll(self, timeout: float) -> int: ...

    def flush(self, timeout: float) -> int: ...


class KafkaSink:
    """Sends alerts to the ``alerts`` topic, keyed by fingerprint, and waits for the ack.

    Alerts are rare, so each waits for its acknowledgement: when ``send`` returns, the
    record is on the broker.
    """

    name = "kafka"

    def __init__(self, producer: ProducerLike, topic: str, *, timeout: float = 10.0) -> None:
        self.producer = producer
        self.topic = topic
        self.timeout = timeout

    def send(self, alert: Alert) -> None:
        errors: list[object] = []
        self.producer.produce(self.topic, key=alert.fingerprint.encode(), value=_ENCODE(alert),
                              on_delivery=lambda err, _msg: errors.append(err))
        if self.producer.flush(self.timeout) > 0 or not errors:
            raise SinkError(f"{self.topic}: no acknowledgement within {self.timeout}s")
        if errors[0] is not None:
            raise SinkError(f"{self.topic}: delivery failed: {errors[0]}")

    def close(self) -> None:
        self.producer.flush(self.timeout)


class BackgroundSink:
    """Runs another sink on its own thread behind a bounded queue.

    ``send`` only enqueues; a full queue drops the oldest alert (logged), since an
    alert is worth more fresh. Sinks with a ``tick(now)`` (Alertmanager's re-sends)
    are ticked while idle.
    """

    def __init__(self, inner: AlertSink, *, capacity: int = 1000, tick_every: float = 5.0,
                 on_failure: Callable[[str, Alert, Exception], None] | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.tick_every = tick_every
        self.on_failure = on_failure
        self._queue: queue.Queue[Alert | None] = queue.Queue(maxsize=capacity)
        self._thread = threading.Thread(target=self._run, name=f"alerts-{inner.name}",
                                        daemon=True)
        self._thread.start()

    def send(self, alert: Alert) -> None:
        while True:
            try:
                self._queue.put_nowait(alert)
                return
            except queue.Full:
                dropped = self._queue.get_nowait()
                logger.warning("sink=%s queue full; dropped alert %s", self.name,
                               dropped.fingerprint if dropped else None)

    def _run(self) -> None:
        tick = getattr(self.inner, "tick", None)
        while True:
            try:
                alert = self._queue.get(timeout=self.tick_every)
            except queue.Empty:
                if tick is not None:
                    self._guard(tick)
                continue
            if alert is None:
                return
            try:
                self.inner.send(alert)
            except Exception as exc:  # noqa: BLE001 - a sink failure must not end the thread
                logger.error("sink=%s could not deliver %s %s: %s", self.name, alert.status,
                             alert.fingerprint, exc)
                if self.on_failure is not None:
                    self.on_failure(self.name, alert, exc)

    def _guard(self, call: Callable[[], object]) -> None:
        try:
            call()
        except Exception as exc:  # noqa: BLE001
            logger.warning("sink=%s tick failed: %s", self.name, exc)

    def close(self, timeout: float = 30.0) -> None:
        """Deliver what is queued (within ``timeout``), then close the inner sink."""
        self._queue.put(None)
        self._thread.join(timeout)
        self.inner.close()


__all__ = ["AlertSink", "BackgroundSink", "KafkaSink", "MemorySink", "ProducerLike"]
