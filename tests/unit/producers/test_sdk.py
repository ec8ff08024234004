"""The SDK: refuses what breaks the contract, keys by user, never loses a failure silently."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import numpy as np
import pytest

from contracts.exceptions import ContractError
from contracts.records import UserEvent
from contracts.settings import Settings
from producers import (
    DeliveryError,
    DeliveryFailure,
    EventProducer,
    InMemoryClient,
    InvalidRecordError,
    LabelProducer,
    ProducerClient,
    SentMessage,
)
from producers.delivery import DeliveryCallback

SETTINGS = Settings(topic_prefix="t.")
TS = datetime(2026, 1, 1, 12, tzinfo=UTC)


def events(client: ProducerClient | None = None, **kwargs: Any) -> EventProducer:
    return EventProducer(SETTINGS, client=client or InMemoryClient(), **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"user_id": "", "features": {}}, "field `user_id` must not be empty"),
        ({"user_id": "u" * 200, "features": {}}, "field `user_id` is too long"),
        ({"user_id": "u1", "features": {"cart_value": float("nan")}},
         "feature `cart_value` is nan; send None"),
        ({"user_id": "u1", "features": {"tags": ["a"]}}, "feature `tags` is list"),
        ({"user_id": "u1", "features": {"flag": True}}, "feature `flag` is bool"),
        ({"user_id": "u1", "features": {}, "ts": datetime(2026, 1, 1)},  # noqa: DTZ001
         "field `ts` needs a timezone"),
        ({"user_id": "u1", "features": {}, "ts": datetime(1990, 1, 1, tzinfo=UTC)},
         "expected a time after 2000-01-01"),
    ],
)
def test_send_refuses_an_invalid_event_naming_the_field(kwargs: dict[str, Any],
                                                        message: str) -> None:
    client = InMemoryClient()

    with pytest.raises(InvalidRecordError, match=message.replace("(", r"\(")) as error:
        events(client).send(**kwargs)

    assert isinstance(error.value, ContractError)
    assert client.messages == []


def test_send_record_checks_a_record_built_elsewhere() -> None:
    bad = UserEvent(event_id="", user_id="u1", ts=TS, features={})

    with pytest.raises(ContractError, match="event_id"):
        events().send_record(bad)


def test_label_must_be_zero_or_one() -> None:
    labels = LabelProducer(SETTINGS, client=InMemoryClient())

    with pytest.raises(InvalidRecordError, match="label"):
        labels.send(event_id="e1", user_id="u1", label=2)


def test_events_are_keyed_by_user_and_carry_schema_version_on_the_events_topic() -> None:
    client = InMemoryClient()

    events(client).send(user_id="u7", event_id="e1", ts=TS, features={"device": "mobile"})

    (message,) = client.messages
    value = msgspec.json.decode(message.value or b"")
    assert (message.topic, message.key) == ("t.user-events", b"u7")
    assert value == {"schema_version": 1, "event_id": "e1", "user_id": "u7",
                     "ts": "2026-01-01T12:00:00Z", "features": {"device": "mobile"}}


def test_labels_go_to_the_labels_topic_keyed_by_user() -> None:
    client = InMemoryClient()

    LabelProducer(SETTINGS, client=client).send(event_id="e1", user_id="u7", label=True, ts=TS)

    (message,) = client.messages
    assert (message.topic, message.key) == ("t.labels", b"u7")
    assert msgspec.json.decode(message.value or b"")["label"] == 1


def test_times_are_sent_in_utc_and_default_to_now() -> None:
    client = InMemoryClient()
    paris = timezone(timedelta(hours=1))

    sent = events(client).send(user_id="u1", features={}, ts=datetime(2026, 1, 1, 13, tzinfo=paris))
    default = events(client).send(user_id="u1", features={})

    assert sent.ts == TS and sent.ts.utcoffset() == timedelta(0)
    assert b'"ts":"2026-01-01T12:00:00Z"' in (client.messages[0].value or b"")
    assert abs(default.ts - datetime.now(UTC)) < timedelta(seconds=5)


def test_numpy_numbers_are_sent_as_plain_floats_and_ids_are_generated() -> None:
    sent = events().send(user_id="u1", features={"a": np.float64(1.5), "b": np.int64(2)})

    assert sent.features == {"a": 1.5, "b": 2.0}
    assert len(sent.event_id) == 32


def refuse(code: str) -> InMemoryClient:
    return InMemoryClient(fail=lambda m: code if m.key == b"bad" else None)


def test_a_delivery_failure_reaches_on_error_and_flush_raises_it() -> None:
    seen: list[DeliveryFailure] = []
    producer = events(refuse("MSG_SIZE_TOO_LARGE"), on_error=seen.append)

    producer.send(user_id="good", features={})
    producer.send(user_id="bad", event_id="e-bad", features={})
    with pytest.raises(DeliveryError, match="MSG_SIZE_TOO_LARGE") as error:
        producer.flush()

    assert [(f.key, f.event_id, f.code) for f in seen] == [("bad", "e-bad", "MSG_SIZE_TOO_LARGE")]
    report = error.value.report
    assert (report.sent, report.delivered, report.failed, report.pending) == (2, 1, 1, 0)
    assert report.failures == tuple(seen)


def test_failures_are_reported_once() -> None:
    producer = events(refuse("X"))
    producer.send(user_id="bad", features={})

    first = producer.flush(raise_on_error=False)
    second = producer.flush(raise_on_error=False)

    assert len(first.failures) == 1 and not first.ok
    assert second.failures == () and second.ok and second.failed == 1


def test_leaving_the_block_flushes_and_raises_undelivered_records() -> None:
    with pytest.raises(DeliveryError), events(refuse("X")) as producer:
        producer.send(user_id="bad", features={})


def test_an_error_inside_the_block_is_not_masked_by_delivery_failures() -> None:
    with pytest.raises(KeyError), events(refuse("X")) as producer:
        producer.send(user_id="bad", features={})
        raise KeyError("the application's own error")


def test_sending_after_close_is_refused() -> None:
    producer = events()
    producer.close()

    with pytest.raises(Exception, match="closed"):
        producer.send(user_id="u1", features={})


class FullQueueOnce:
    """A client whose local queue is full on the first attempt."""

    def __init__(self) -> None:
        self.inner = InMemoryClient()
        self.polls: list[float] = []
        self.full = True

    def produce(self, topic: str, value: bytes | None = None, key: bytes | None = None,
                *, on_delivery: DeliveryCallback | None = None) -> None:
        if self.full:
            self.full = False
            raise BufferError("Local: Queue full")
        self.inner.produce(topic, value, key, on_delivery=on_delivery)

    def poll(self, timeout: float = -1) -> int:
        self.polls.append(timeout)
        return self.inner.poll(timeout)

    def flush(self, timeout: float = -1) -> int:
        return self.inner.flush(timeout)


def test_a_full_local_queue_waits_for_room_instead_of_failing() -> None:
    client = FullQueueOnce()

    events(client).send(user_id="u1", features={})

    assert client.polls[0] > 0 and client.inner.messages == [
        SentMessage("t.user-events", b"u1", client.inner.messages[0].value)]


def test_an_unreachable_broker_is_reported_as_failed_on_flush() -> None:
    settings = Settings(bootstrap_servers="127.0.0.1:1")
    # log_level 0 keeps librdkafka's "connection refused" lines out of the test output.
    producer = EventProducer(settings, config={"message.timeout.ms": 500, "log_level": 0})

    producer.send(user_id="u1", event_id="e1", features={"cart_value": 1.0})
    with pytest.raises(DeliveryError) as error:
        producer.flush(timeout=10)

    (failure,) = error.value.report.failures
    assert (failure.key, failure.event_id, failure.code) == ("u1", "e1", "_MSG_TIMED_OUT")
