"""What the demo's report marks and plots: readable alert names, reasons, whole buckets."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from contracts.records import Alert
from streamml.demo.timeline import REASON_CHARS, Timeline

AT = datetime(2026, 1, 1, tzinfo=UTC)


def alert(kind: str, metric: str, *, severity: str = "warning", status: str = "firing",
          reason: str | None = None) -> bytes:
    details = {} if reason is None else {"reason": msgspec.Raw(msgspec.json.encode(reason))}
    return msgspec.json.encode(Alert(
        fingerprint=f"{kind}-{metric}", kind=kind, severity=severity, status=status,
        model="conversion", version=1, metric=metric, value=None, threshold=None,
        window="w", details=details, started_at=AT, runbook=""))


def test_marks_name_an_alert_once_and_say_why_a_notice_was_given() -> None:
    t = Timeline(start=0.0)
    t.add_alert(alert("concept_drift", "concept_drift"), now=10.0)
    t.add_alert(alert("feature-drift", "feature_psi"), now=11.0)
    t.add_alert(alert("retrain-rejected", "", severity="info",
                      reason="no gain over the champion: " + "x" * 200), now=12.0)

    labels = [label for _, label in t.alert_log]
    assert labels[:2] == ["concept_drift firing", "feature-drift feature_psi firing"]
    assert labels[2].startswith("retrain-rejected: no gain over the champion")
    assert len(labels[2]) <= len("retrain-rejected: ") + REASON_CHARS


def test_a_bucket_still_filling_is_not_plotted() -> None:
    t = Timeline(start=0.0)
    prediction = (b'{"schema_version":1,"event_id":"e","user_id":"u","ts":"2026-01-01T00:00:00Z",'
                  b'"model":"m","version":1,"route":"champion","score":0.5,"decision":1,'
                  b'"scored_at":"2026-01-01T00:00:00Z"}')
    for now in (1.0, 2.0, 6.0, 7.0):
        t.add_prediction(prediction, now=now)

    assert t.rate_series(1) == [(2.5, 0.4)]  # 5 s to 10 s is still filling at 7 s
    t.add_prediction(prediction, now=10.5)
    assert t.rate_series(1) == [(2.5, 0.4), (7.5, 0.4)]
