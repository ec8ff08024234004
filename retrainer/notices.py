"""Info-severity alerts recording what the retrainer and the release controller decided."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Final, Literal

import msgspec

from contracts.records import Alert

RUNBOOK: Final = "README.md#retraining-and-releases"


def decision_alert(*, model: str, version: int | None, kind: str, reason: str,
                   metric: str, value: float | None, threshold: float | None,
                   details: dict[str, Any], now: datetime,
                   severity: Literal["info", "warning"] = "info") -> Alert:
    """An alert (info unless people must act) for one decision, unique to the decision.

    >>> from datetime import UTC, datetime
    >>> a = decision_alert(model="m", version=2, kind="release-promote", reason="better",
    ...                    metric="log_loss", value=0.3, threshold=0.01, details={},
    ...                    now=datetime(2026, 1, 1, tzinfo=UTC))
    >>> a.severity, a.kind, a.fingerprint == decision_alert(
    ...     model="m", version=2, kind="release-promote", reason="better", metric="log_loss",
    ...     value=0.3, threshold=0.01, details={}, now=datetime(2026, 1, 1, tzinfo=UTC)).fingerprint
    ('info', 'release-promote', True)
    """
    fingerprint = hashlib.sha256(
        f"{kind}/{model}/{version}/{now.isoformat()}".encode()).hexdigest()[:32]
    raw = {k: msgspec.Raw(msgspec.json.encode(v)) for k, v in {**details, "reason": reason}.items()}
    return Alert(fingerprint=fingerprint, kind=kind, severity=severity, status="firing",
                 model=model, version=version, metric=metric, value=value, threshold=threshold,
                 window="decision", details=raw, started_at=now, runbook=RUNBOOK)


__all__ = ["decision_alert"]
