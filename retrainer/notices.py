"""Alerts recording what the retrainer and the release controller decided, and read back.

``streamml models status`` reads them: the newest says what the retrainer is doing
or waiting for.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final, Literal

import msgspec

from contracts.records import Alert

RUNBOOK: Final = "README.md#retraining-and-releases"
# Kinds the retrainer and its release controller write.
KINDS: Final = ("retrain-waiting", "retrain-gave-up", "retrain-published", "retrain-rejected",
                "release-promote", "release-rollback", "trial-expired")


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


def status_lines(alerts: Iterable[Alert], *, model: str, recent: int = 5) -> list[str]:
    """What the retrainer said last about ``model``, then its ``recent`` decisions before.

    >>> from datetime import UTC, datetime
    >>> a = decision_alert(model="m", version=1, kind="retrain-waiting",
    ...                    reason="waiting for 300 more post-change labels", metric="x",
    ...                    value=None, threshold=None, details={},
    ...                    now=datetime(2026, 1, 1, tzinfo=UTC))
    >>> status_lines([a], model="m")[0]
    'retrainer of m, 2026-01-01T00:00:00+00:00: waiting for 300 more post-change labels'
    """
    mine = sorted((a for a in alerts if a.model == model and a.kind in KINDS),
                  key=lambda a: a.started_at)
    if not mine:
        return [f"the retrainer of {model} has said nothing yet (no decision on alerts)"]
    newest = mine[-1]
    lines = [f"retrainer of {model}, {newest.started_at.isoformat()}: {_reason(newest)}"]
    if len(mine) > 1:
        lines.append("before:")
        lines += [f"  {a.started_at.isoformat(timespec='seconds')} {a.kind}: {_reason(a)}"
                  for a in reversed(mine[-recent - 1:-1])]
    return lines


def _reason(alert: Alert) -> str:
    raw = alert.details.get("reason")
    try:
        return str(msgspec.json.decode(raw)) if raw is not None else alert.kind
    except msgspec.DecodeError:
        return alert.kind


__all__ = ["KINDS", "decision_alert", "status_lines"]
