"""What the demo saw, second by second: predictions per version, the running log loss of
labeled events, alerts, and deployment changes. Pure aggregation; the demo feeds it
records read from the topics."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import msgspec

from contracts.records import Alert, Deployment, LabeledEvent, Prediction

BUCKET_SECONDS = 5.0
REASON_CHARS = 60
_PREDICTION = msgspec.json.Decoder(Prediction)
_LABELED = msgspec.json.Decoder(LabeledEvent)
_ALERT = msgspec.json.Decoder(Alert)
_DEPLOYMENT = msgspec.json.Decoder(Deployment)


@dataclass
class Timeline:
    """Counts per time bucket since ``start`` (wall-clock seconds).

    >>> t = Timeline(start=0.0)
    >>> t.add_prediction(b'{"schema_version":1,"event_id":"e","user_id":"u",'
    ...   b'"ts":"2026-01-01T00:00:00Z","model":"m","version":1,"route":"champion",'
    ...   b'"score":0.5,"decision":1,"scored_at":"2026-01-01T00:00:00Z"}', now=6.0)
    >>> dict(t.predictions[1])
    {'champion': 1}
    """

    start: float
    predictions: dict[int, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    per_bucket: dict[int, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    loss: dict[int, list[float]] = field(default_factory=lambda: defaultdict(lambda: [0.0, 0]))
    labeled: int = 0
    firing: dict[str, Alert] = field(default_factory=dict)
    alert_log: list[tuple[float, str]] = field(default_factory=list)
    deployments: list[tuple[float, Deployment]] = field(default_factory=list)
    # The newest time a record was seen at: a bucket ending after it is still filling.
    last: float = -math.inf

    def bucket(self, now: float) -> int:
        self.last = max(self.last, now)
        return int((now - self.start) // BUCKET_SECONDS)

    def _complete(self, b: int) -> bool:
        return self.start + (b + 1) * BUCKET_SECONDS <= self.last

    def add_prediction(self, raw: bytes, now: float) -> None:
        p = _PREDICTION.decode(raw)
        self.predictions[p.version][p.route] += 1
        if p.route != "shadow":
            self.per_bucket[self.bucket(now)][p.version] += 1

    def add_labeled(self, raw: bytes, now: float) -> None:
        e = _LABELED.decode(raw)
        p = min(max(e.score, 1e-6), 1 - 1e-6)
        total = self.loss[self.bucket(now)]
        total[0] += -math.log(p if e.label == 1 else 1 - p)
        total[1] += 1
        self.labeled += 1

    def add_alert(self, raw: bytes, now: float) -> None:
        alert = _ALERT.decode(raw)
        if alert.severity == "info":  # a notice (a release decision), not a problem
            self.alert_log.append((now - self.start, _with_reason(alert)))
            return
        if alert.status == "firing":
            if alert.fingerprint not in self.firing:
                self.alert_log.append((now - self.start, f"{_named(alert)} firing"))
            self.firing[alert.fingerprint] = alert
        elif self.firing.pop(alert.fingerprint, None) is not None:
            self.alert_log.append((now - self.start, f"{_named(alert)} resolved"))

    def add_deployment(self, raw: bytes, now: float) -> None:
        deployment = _DEPLOYMENT.decode(raw)
        if not self.deployments or self.deployments[-1][1] != deployment:
            self.deployments.append((now - self.start, deployment))

    @property
    def deployment(self) -> Deployment | None:
        return self.deployments[-1][1] if self.deployments else None

    def loss_series(self) -> list[tuple[float, float]]:
        """Log loss per complete bucket of at least 20 labeled events.

        >>> t = Timeline(start=0.0)
        >>> t.loss.update({0: [14.0, 20], 1: [30.0, 25]}); t.last = 9.0
        >>> t.loss_series()  # the second bucket, 5 s to 10 s, is still filling
        [(2.5, 0.7)]
        """
        return [((b + 0.5) * BUCKET_SECONDS, s / n) for b, (s, n) in sorted(self.loss.items())
                if n >= 20 and self._complete(b)]

    def rate_series(self, version: int) -> list[tuple[float, float]]:
        """Predictions a second of ``version``, per complete bucket."""
        return [((b + 0.5) * BUCKET_SECONDS, c[version] / BUCKET_SECONDS)
                for b, c in sorted(self.per_bucket.items()) if self._complete(b)]


def _named(alert: Alert) -> str:
    """The alert's kind, and its metric when that says more ("feature-drift feature_psi",
    but "concept_drift" once)."""
    return alert.kind if alert.metric in ("", alert.kind) else f"{alert.kind} {alert.metric}"


def _with_reason(alert: Alert) -> str:
    """A notice and why, shortened for a chart's label."""
    raw = alert.details.get("reason")
    try:
        reason = str(msgspec.json.decode(raw)) if raw is not None else ""
    except msgspec.DecodeError:
        reason = ""
    if len(reason) > REASON_CHARS:
        reason = reason[:REASON_CHARS - 1] + "…"
    return f"{alert.kind}: {reason}" if reason else alert.kind


__all__ = ["BUCKET_SECONDS", "Timeline"]
