"""Alert records for the ``alerts`` topic, built from transitions, with their cause."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping

import msgspec

from contracts.change_point import change_point_details
from contracts.records import Alert
from monitor.engine import Transition
from monitor.report import Scope

_ENCODE = msgspec.json.encode


def fingerprint(rule: str, scope: Scope) -> str:
    """The stable identity of an alert: one rule on one model version and route.

    >>> fingerprint("feature-drift", Scope("conversion", 3, "champion"))
    '234023d1c9bc01761b05bf73'
    """
    text = f"{scope.model}|{scope.version}|{scope.route}|{rule}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def summary(t: Transition) -> str:
    """One line for a pager: what breached, where, by how much."""
    rule, scope = t.rule, t.scope
    where = f"{scope.model} v{scope.version} ({scope.route})"
    verdict = t.cause if t.status == "firing" else t.verdict
    if t.status == "resolved":
        return f"resolved: {rule.name} on {where}" + (
            f"; {rule.metric} now {verdict.value:.4g}" if verdict else "")
    if verdict is None:
        return f"{rule.name} on {where}"
    sign = ">" if rule.direction == "above" else "<"
    if verdict.causes:
        named = ", ".join(f"{c['feature']} {c[rule.metric]} {sign} {c['threshold']}"
                          for c in verdict.causes[:5])
        return f"{rule.summary or rule.name} on {where}: {rule.metric} {named}"
    return (f"{rule.summary or rule.name} on {where}: "
            f"{rule.metric} {verdict.value:.4g} {sign} {verdict.threshold:g}")


def to_alert(t: Transition) -> Alert:
    """The ``alerts`` record of a transition; details carry the cause, the window and
    where the change began (:mod:`contracts.change_point`)."""
    rule, verdict = t.rule, t.verdict if t.status == "resolved" else t.cause
    details: dict[str, object] = {
        "summary": summary(t),
        "route": t.scope.route,
        "rule": {"name": rule.name, "metric": rule.metric, rule.direction: rule.threshold,
                 "for_windows": rule.for_windows, "clear_windows": rule.clear_windows,
                 "clear_seconds": rule.clear_seconds},
    }
    if t.cause is not None and t.cause.causes:
        details["features"] = list(t.cause.causes)
        details["drifted_features"] = [c["feature"] for c in t.cause.causes]
    if t.status == "resolved":
        details["fired_on"] = _finite(t.cause.value) if t.cause else None
    if t.window_end is not None:
        details["window_end"] = t.window_end
    raw = _raw(details)
    if t.change_point is not None:
        raw.update(change_point_details(t.change_point))
    return Alert(
        fingerprint=fingerprint(rule.name, t.scope), kind=rule.kind, severity=rule.severity,  # type: ignore[arg-type]
        status=t.status, model=t.scope.model, version=t.scope.version, metric=rule.metric,
        value=_finite(verdict.value) if verdict else None,
        threshold=verdict.threshold if verdict else rule.threshold,
        window=t.window, details=raw, started_at=t.started_at, runbook=rule.runbook,
    )


def _finite(value: float) -> float | None:
    return round(value, 6) if math.isfinite(value) else None


def _raw(details: Mapping[str, object]) -> dict[str, msgspec.Raw]:
    return {k: msgspec.Raw(_ENCODE(_clean(v))) for k, v in details.items()}


def _clean(value: object) -> object:
    """JSON has no NaN: non-finite numbers travel as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def detail(alert: Alert, key: str) -> object:
    """One decoded entry of an alert's details (None when absent)."""
    raw = alert.details.get(key)
    return msgspec.json.decode(raw) if raw is not None else None


__all__ = ["detail", "fingerprint", "summary", "to_alert"]
