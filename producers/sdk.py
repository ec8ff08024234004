"""The SDK applications call to send events and labels: validate, key, send, confirm.

Every record is checked against the contract before it leaves (a bad one raises
:class:`~producers.exceptions.InvalidRecordError` naming the field), keyed by
``user_id`` and sent with an idempotent, ``acks=all`` confluent-kafka producer.
Delivery is confirmed by a callback: a record Kafka did not take is never dropped
in silence; it goes to ``on_error`` at once and comes back from :meth:`flush`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self

import msgspec

from contracts.exceptions import StreamMLError
from contracts.kafka_clients import make_producer
from contracts.records import Label, UserEvent
from contracts.settings import Settings
from contracts.topics import Topics
from producers.delivery import DeliveryFailure, DeliveryReport, ProducerClient
from producers.exceptions import DeliveryError
from producers.validation import encode_event, encode_label, prepare_event, prepare_label

if TYPE_CHECKING:
    from confluent_kafka import KafkaError, Message

logger = logging.getLogger(__name__)

MAX_KEPT_FAILURES: Final = 1_000


class _Sender:
    """Shared send path: produce, serve callbacks, collect failures, flush on close."""

    default_topic: Callable[[Topics], str]

    def __init__(
        self,
        settings: Settings,
        *,
        topic: str | None = None,
        on_error: Callable[[DeliveryFailure], None] | None = None,
        config: Mapping[str, Any] | None = None,
        client: ProducerClient | None = None,
    ) -> None:
        self.topic = topic or type(self).default_topic(Topics(settings.topic_prefix))
        self._client: ProducerClient = client if client is not None else make_producer(
            settings, **(config or {})
        )
        self._on_error = on_error
        self._sent = self._delivered = self._failed = 0
        self._failures: list[DeliveryFailure] = []
        self._closed = False

    def _produce(self, key: str, value: bytes) -> None:
        if self._closed:
            raise StreamMLError(f"the producer for {self.topic} is closed; build a new one")
        while True:
            try:
                self._client.produce(self.topic, value, key.encode(), on_delivery=self._on_delivery)
                break
            except BufferError:
                # The local queue is full: serving delivery reports makes room (backpressure).
                self._client.poll(0.5)
        self._sent += 1
        self._client.poll(0)

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self._delivered += 1
            return
        self._failed += 1
        key = msg.key()
        failure = DeliveryFailure(
            topic=msg.topic() or self.topic,
            key=key.decode("utf-8", "replace") if key is not None else None,
            event_id=_event_id(msg.value()),
            code=err.name(),
            reason=err.str(),
            retriable=err.retriable(),
        )
        if len(self._failures) < MAX_KEPT_FAILURES:
            self._failures.append(failure)
        logger.warning("delivery failed topic=%s key=%s code=%s reason=%s",
                       failure.topic, failure.key, failure.code, failure.reason)
        if self._on_error is not None:
            self._on_error(failure)

    @property
    def report(self) -> DeliveryReport:
        """Counts so far, without waiting; pending is what was sent but not yet answered."""
        return DeliveryReport(self._sent, self._delivered, self._failed,
                              self._sent - self._delivered - self._failed, tuple(self._failures))

    def flush(self, timeout: float = 30.0, *, raise_on_error: bool = True) -> DeliveryReport:
        """Wait up to ``timeout`` s for every answer; raise :class:`DeliveryError` on failures.

        Failures are reported once: a later flush lists only new ones.
        """
        self._client.flush(timeout)
        report = self.report
        self._failures.clear()
        if raise_on_error and not report.ok:
            raise DeliveryError(report)
        return report

    def close(self, timeout: float = 30.0) -> DeliveryReport:
        """Flush and refuse further sends."""
        try:
            return self.flush(timeout)
        finally:
            self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
            return
        # An error is already on its way out; log failures rather than mask it.
        self._closed = True
        report = self.flush(raise_on_error=False)
        if not report.ok:
            logger.error("closing after an error: %s", report.summary())


class EventProducer(_Sender):
    """Send user events to ``user-events``, checked, keyed by ``user_id``, confirmed.

    Parameters
    ----------
    settings : Settings
        Bootstrap servers, security and the topic prefix.
    topic : str or None
        Topic to send to; default the prefixed ``user-events``.
    on_error : callable or None
        Called with each :class:`DeliveryFailure` as soon as Kafka reports it; the
        failures also come back from :meth:`flush` (as :class:`DeliveryError`).
    config : mapping or None
        librdkafka settings on top of the project's idempotent, ``acks=all`` ones.
    client : ProducerClient or None
        A ready client (tests pass :class:`~producers.memory.InMemoryClient`).

    Examples
    --------
    >>> from producers.memory import InMemoryClient
    >>> client = InMemoryClient()
    >>> with EventProducer(Settings(), client=client) as events:
    ...     sent = events.send(user_id="u1", features={"cart_value": 12.5, "device": "mobile"})
    ...     events.send(user_id="", features={})
    Traceback (most recent call last):
    ...
    producers.exceptions.InvalidRecordError: field `user_id` must not be empty
    >>> client.messages[0].key, events.report.delivered
    (b'u1', 1)
    """

    default_topic = staticmethod(lambda topics: topics.user_events)

    def send(
        self,
        *,
        user_id: str,
        features: Mapping[str, object],
        event_id: str | None = None,
        ts: datetime | None = None,
    ) -> UserEvent:
        """Check and send one event; a UUID and the current UTC time fill the gaps."""
        event, raw = prepare_event(user_id=user_id, features=features, event_id=event_id, ts=ts)
        self._produce(event.user_id, raw)
        return event

    def send_record(self, event: UserEvent) -> None:
        """Check and send an event built elsewhere (the simulator, a replayed file)."""
        self._produce(event.user_id, encode_event(event))


class LabelProducer(_Sender):
    """Send outcomes of earlier events to ``labels``, keyed by ``user_id`` like the events.

    Parameters
    ----------
    settings, topic, on_error, config, client
        As for :class:`EventProducer`; the default topic is the prefixed ``labels``.

    Examples
    --------
    >>> from producers.memory import InMemoryClient
    >>> with LabelProducer(Settings(), client=InMemoryClient()) as labels:
    ...     labels.send(event_id="e1", user_id="u1", label=1).label
    1
    """

    default_topic = staticmethod(lambda topics: topics.labels)

    def send(
        self, *, event_id: str, user_id: str, label: int | bool, ts: datetime | None = None
    ) -> Label:
        """Check and send one label; ``ts`` (default now, UTC) is when it became known."""
        record, raw = prepare_label(event_id=event_id, user_id=user_id, label=label, ts=ts)
        self._produce(record.user_id, raw)
        return record

    def send_record(self, label: Label) -> None:
        """Check and send a label built elsewhere."""
        self._produce(label.user_id, encode_label(label))


def _event_id(value: bytes | None) -> str | None:
    try:
        found = msgspec.json.decode(value or b"null")
    except msgspec.DecodeError:
        return None
    return found.get("event_id") if isinstance(found, dict) else None
