"""What a send produced: the client protocol, each failure, and the running report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

DeliveryCallback = Callable[[Any, Any], None]


class ProducerClient(Protocol):
    """What the SDK needs of a confluent-kafka ``Producer`` (and of in-memory fakes)."""

    def produce(
        self, topic: str, value: bytes | None = None, key: bytes | None = None,
        *, on_delivery: DeliveryCallback | None = None,
    ) -> None: ...

    def poll(self, timeout: float = -1) -> int: ...

    def flush(self, timeout: float = -1) -> int: ...


@dataclass(frozen=True, slots=True)
class DeliveryFailure:
    """One record Kafka did not acknowledge, and why."""

    topic: str
    key: str | None
    event_id: str | None
    code: str
    reason: str
    retriable: bool


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """Counts since the producer was built; ``failures`` are those not reported before."""

    sent: int
    delivered: int
    failed: int
    pending: int
    failures: tuple[DeliveryFailure, ...]

    @property
    def ok(self) -> bool:
        return self.pending == 0 and not self.failures

    def summary(self) -> str:
        text = f"{self.sent} sent, {self.delivered} delivered, {self.failed} failed, " \
               f"{self.pending} still pending"
        if self.failures:
            first = self.failures[0]
            text += f"; first failure: {first.code} ({first.reason}) for key {first.key!r}"
        return text
