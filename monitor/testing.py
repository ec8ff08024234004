"""Small stand-ins for tests and examples: a sample alert and a fake Kafka producer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec

from contracts.records import Alert


def sample_alert(status: str = "firing", fingerprint: str = "f00d", **changes: Any) -> Alert:
    """A data-drift alert as the monitor would send it.

    >>> sample_alert("resolved").status
    'resolved'
    """
    values: dict[str, Any] = dict(
        fingerprint=fingerprint, kind="data_drift", severity="warning", status=status,
        model="conversion", version=1, metric="feature_psi", value=0.42, threshold=0.2,
        window="features: 1000 records, 2026-01-01T00:00:00Z to 2026-01-01T00:03:20Z",
        details={"summary": msgspec.Raw(b'"features drifted: cart_value"'),
                 "route": msgspec.Raw(b'"champion"'),
                 "rule": msgspec.Raw(b'{"name": "feature-drift"}'),
                 "drifted_features": msgspec.Raw(b'["cart_value"]')},
        started_at=datetime(2026, 1, 1, tzinfo=UTC), runbook="/runbooks#feature-drift",
    )
    values.update(changes)
    return Alert(**values)


class FakeProducer:
    """Acknowledges (or fails, with ``error``) every record, keeping what was produced."""

    def __init__(self, error: object = None) -> None:
        self.error = error
        self.records: list[tuple[str, bytes, bytes]] = []
        self._pending: list[Callable[[Any, Any], None]] = []

    def produce(self, topic: str, *, key: bytes, value: bytes,
                on_delivery: Callable[[Any, Any], None]) -> None:
        if self.error is None:
            self.records.append((topic, key, value))
        self._pending.append(on_delivery)

    def poll(self, timeout: float) -> int:
        return self.flush(timeout)

    def flush(self, timeout: float) -> int:
        pending, self._pending = self._pending, []
        for callback in pending:
            callback(self.error, None)
        return 0


__all__ = ["FakeProducer", "sample_alert"]
