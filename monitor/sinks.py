"""Where alerts go: the ``alerts`` topic, Alertmanager, a webhook, or a list in tests.

Every sink has the same small interface (:class:`AlertSink`) and passes the same
contract tests. ``send`` delivers one alert or raises :class:`SinkError`; slow sinks
(HTTP) run behind a :class:`BackgroundSink`, which retries them, so the consumer loop
never waits on them.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from contracts.records import Alert
from monitor.exceptions import RetryableSinkError, SinkError

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


@dataclass
class _Pending:
    seq: int
    alert: Alert
    due: float
    attempt: int = 0


@dataclass
class DeliveryCounts:
    """What a background sink did with the alerts given to it.

    ``delivered`` counts acknowledged deliveries by alert status; ``retried`` the
    failed attempts queued again; ``dropped`` alerts abandoned by reason
    (``queue-full``: the oldest made room; ``superseded``: a retry older than a newer
    status of the same alert). Alerts given up on are reported to ``on_failure``.
    """

    delivered: Counter[str] = field(default_factory=Counter)
    retried: int = 0
    dropped: Counter[str] = field(default_factory=Counter)


class BackgroundSink:
    """Runs another sink on its own thread behind a bounded queue, retrying with backoff.

    ``send`` only enqueues. A :class:`RetryableSinkError` queues the alert again after
    ``backoff * 2**n`` seconds (with jitter, capped by ``max_backoff``; longer if the
    receiver asked), until ``attempts`` tries have failed; any other error gives up at
    once. A full queue drops its oldest alert, counted and logged, since an alert is
    worth more fresh. A retry is dropped when a newer status of the same alert is
    queued, so a receiver never gets a stale status after a newer one. Sinks with a
    ``tick()`` (Alertmanager's re-sends) are ticked every ``tick_every`` seconds.
    """

    def __init__(self, inner: AlertSink, *, capacity: int = 1000, tick_every: float = 5.0,
                 attempts: int = 10, backoff: float = 1.0, max_backoff: float = 300.0,
                 on_failure: Callable[[str, Alert, Exception], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.inner = inner
        self.name = inner.name
        self.capacity, self.tick_every = capacity, tick_every
        self.attempts, self.backoff, self.max_backoff = attempts, backoff, max_backoff
        self.on_failure = on_failure
        self.clock = clock
        self._counts = DeliveryCounts()
        self._pending: dict[int, _Pending] = {}
        self._seq = itertools.count()
        self._closing = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"alerts-{inner.name}",
                                        daemon=True)
        self._thread.start()

    def send(self, alert: Alert) -> None:
        with self._cond:
            for old in [p for p in self._pending.values()
                        if p.attempt and p.alert.fingerprint == alert.fingerprint]:
                self._drop(old, "superseded")
            self._make_room()
            entry = _Pending(next(self._seq), alert, self.clock())
            self._pending[entry.seq] = entry
            self._cond.notify()

    def counts(self) -> DeliveryCounts:
        """A copy of the counts, safe to read while the sink works."""
        with self._cond:
            c = self._counts
            return DeliveryCounts(Counter(c.delivered), c.retried, Counter(c.dropped))

    def _make_room(self) -> None:
        while len(self._pending) >= self.capacity:
            self._drop(self._pending[min(self._pending)], "queue-full")

    def _drop(self, entry: _Pending, reason: str) -> None:
        self._pending.pop(entry.seq, None)
        self._counts.dropped[reason] += 1
        logger.warning("sink=%s dropped %s alert %s (%s); %d dropped so far", self.name,
                       entry.alert.status, entry.alert.fingerprint, reason,
                       sum(self._counts.dropped.values()))

    def _run(self) -> None:
        last_tick = self.clock()
        while True:
            with self._cond:
                entry, wait = self._next()
                if entry is None and self._closing:
                    return
                if entry is None:
                    self._cond.wait(min(wait, self.tick_every))
            if entry is not None:
                self._deliver(entry)
            if self.clock() - last_tick >= self.tick_every:
                last_tick = self.clock()
                self._tick()

    def _next(self) -> tuple[_Pending | None, float]:
        """The entry due first if it is due (any, when closing), else the wait for it."""
        if not self._pending:
            return None, self.tick_every
        entry = min(self._pending.values(), key=lambda p: (p.due, p.seq))
        wait = entry.due - self.clock()
        if wait > 0 and not self._closing:
            return None, wait
        del self._pending[entry.seq]
        return entry, 0.0

    def _deliver(self, entry: _Pending) -> None:
        try:
            self.inner.send(entry.alert)
        except RetryableSinkError as exc:
            if self._requeued(entry, exc):
                return
            self._give_up(entry, exc)
        except Exception as exc:  # noqa: BLE001 - a sink failure must not end the thread
            self._give_up(entry, exc)
        else:
            with self._cond:
                self._counts.delivered[entry.alert.status] += 1

    def _requeued(self, entry: _Pending, exc: RetryableSinkError) -> bool:
        with self._cond:
            if any(p.alert.fingerprint == entry.alert.fingerprint and p.seq > entry.seq
                   for p in self._pending.values()):
                self._drop(entry, "superseded")
                return True
            if entry.attempt + 1 >= self.attempts or self._closing:
                return False
            # Jitter keeps many monitors from retrying in step.
            delay = min(self.max_backoff, max(exc.retry_after, self.backoff * 2 ** entry.attempt
                                              * (0.5 + random.random() / 2)))  # noqa: S311
            entry.attempt += 1
            entry.due = self.clock() + delay
            self._make_room()
            self._pending[entry.seq] = entry
            self._counts.retried += 1
        logger.warning("sink=%s attempt %d for %s %s failed (%s); next in %.1fs", self.name,
                       entry.attempt, entry.alert.status, entry.alert.fingerprint, exc, delay)
        return True

    def _give_up(self, entry: _Pending, exc: Exception) -> None:
        logger.error("sink=%s gave up on %s %s after %d attempt(s): %s", self.name,
                     entry.alert.status, entry.alert.fingerprint, entry.attempt + 1, exc)
        if self.on_failure is not None:
            self.on_failure(self.name, entry.alert, exc)

    def _tick(self) -> None:
        tick = getattr(self.inner, "tick", None)
        if tick is None:
            return
        try:
            tick()
        except Exception as exc:  # noqa: BLE001
            logger.warning("sink=%s tick failed: %s", self.name, exc)

    def close(self, timeout: float = 30.0) -> None:
        """Try what is queued once more, retries included (within ``timeout``), then close
        the inner sink."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)
        self.inner.close()


__all__ = ["AlertSink", "BackgroundSink", "DeliveryCounts", "KafkaSink", "MemorySink",
           "ProducerLike"]
