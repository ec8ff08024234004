"""An in-memory stand-in for a confluent-kafka producer, for applications' unit tests.

It keeps what was produced and answers delivery callbacks on ``poll``/``flush``, as
the real client does; ``fail`` decides which messages to refuse and why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from producers.delivery import DeliveryCallback


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A message as the in-memory client received it."""

    topic: str
    key: bytes | None
    value: bytes | None


class _Error:
    """The part of ``confluent_kafka.KafkaError`` delivery callbacks read."""

    def __init__(self, code: str) -> None:
        self._code = code

    def name(self) -> str:
        return self._code

    def str(self) -> str:
        return f"refused by the in-memory client ({self._code})"

    def retriable(self) -> bool:
        return False


class _Delivered:
    """The part of ``confluent_kafka.Message`` delivery callbacks read."""

    def __init__(self, message: SentMessage) -> None:
        self._message = message

    def topic(self) -> str:
        return self._message.topic

    def key(self) -> bytes | None:
        return self._message.key

    def value(self) -> bytes | None:
        return self._message.value


class InMemoryClient:
    """Keeps produced messages in ``messages``; refuses those ``fail`` names an error code for.

    Parameters
    ----------
    fail : callable or None
        Given each message, returns an error code to refuse it with, or None to accept.

    Examples
    --------
    >>> client = InMemoryClient(fail=lambda m: "MSG_SIZE_TOO_LARGE" if m.key == b"x" else None)
    >>> answers = []
    >>> client.produce("t", b"{}", b"x", on_delivery=lambda err, msg: answers.append(err.name()))
    >>> client.flush(), answers, len(client.messages)
    (0, ['MSG_SIZE_TOO_LARGE'], 0)
    """

    def __init__(self, *, fail: Callable[[SentMessage], str | None] | None = None) -> None:
        self.messages: list[SentMessage] = []
        self._fail = fail
        self._queue: list[tuple[SentMessage, DeliveryCallback | None]] = []

    def produce(
        self, topic: str, value: bytes | None = None, key: bytes | None = None,
        *, on_delivery: DeliveryCallback | None = None,
    ) -> None:
        self._queue.append((SentMessage(topic, key, value), on_delivery))

    def poll(self, timeout: float = -1) -> int:
        served = len(self._queue)
        queue, self._queue = self._queue, []
        for message, callback in queue:
            code = self._fail(message) if self._fail is not None else None
            if code is None:
                self.messages.append(message)
            if callback is not None:
                callback(_Error(code) if code else None, _Delivered(message))
        return served

    def flush(self, timeout: float = -1) -> int:
        self.poll(0)
        return 0
