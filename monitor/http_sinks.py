"""Alert sinks over HTTP: a generic webhook and Alertmanager's v2 API, with retries.

Both retry connection errors, 5xx and 429 with exponential backoff (and jitter, so
many monitors do not retry in step); other 4xx answers mean the request itself is
wrong and are not retried.
"""

from __future__ import annotations

import json
import logging
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import msgspec

from contracts.records import Alert
from monitor.alerts import detail
from monitor.exceptions import SinkError

logger = logging.getLogger(__name__)


def checked_url(url: str, what: str) -> str:
    """The URL if it is http(s) with a host; else a :class:`SinkError` saying so.

    >>> checked_url("http://127.0.0.1:9093", "alertmanager")
    'http://127.0.0.1:9093'
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SinkError(f"{what}: expected an http:// or https:// URL with a host")
    return url


class Poster:
    """POSTs JSON with retries and exponential backoff; raises :class:`SinkError` at the end."""

    def __init__(self, url: str, what: str, *, attempts: int = 5, backoff: float = 0.5,
                 max_backoff: float = 30.0, timeout: float = 5.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.url = checked_url(url, what)
        self.what = what
        self.attempts, self.backoff, self.max_backoff = attempts, backoff, max_backoff
        self.timeout = timeout
        self.sleep = sleep

    def post(self, body: bytes) -> None:
        last = ""
        for attempt in range(1, self.attempts + 1):
            delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
            try:
                self._once(body)
                return
            except urllib.error.HTTPError as exc:
                if exc.code < 500 and exc.code != 429:
                    raise SinkError(f"{self.what}: HTTP {exc.code}, not retried") from None
                last = f"HTTP {exc.code}"
                delay = max(delay, _retry_after(exc.headers.get("Retry-After"), self.max_backoff))
            except OSError as exc:  # refused, reset, timed out, unresolvable
                last = type(exc).__name__
            if attempt < self.attempts:
                # Jitter keeps many monitors from retrying in step.
                self.sleep(delay * (0.5 + random.random() / 2))  # noqa: S311
        raise SinkError(f"{self.what}: gave up after {self.attempts} attempts ({last})")

    def _once(self, body: bytes) -> None:
        request = urllib.request.Request(  # noqa: S310 - scheme checked in checked_url
            self.url, data=body, method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
            response.read()


def _retry_after(value: str | None, cap: float) -> float:
    try:
        return min(cap, float(value)) if value else 0.0
    except ValueError:
        return 0.0


class WebhookSink:
    """POSTs each alert record, as on the ``alerts`` topic, to a URL (Slack relays, bots)."""

    name = "webhook"

    def __init__(self, url: str, **retry: float) -> None:
        self.poster = Poster(url, "webhook", **retry)  # type: ignore[arg-type]

    def send(self, alert: Alert) -> None:
        self.poster.post(msgspec.json.encode(alert))

    def close(self) -> None:
        pass


class AlertmanagerSink:
    """Posts alerts to Alertmanager (``POST /api/v2/alerts``) and keeps firing ones alive.

    Like Prometheus, it re-posts every firing alert each ``resend_seconds`` with an
    ``endsAt`` a few intervals ahead, so Alertmanager resolves them by itself if the
    monitor dies, and posts ``endsAt`` = now when an alert resolves. Alertmanager
    merges re-posts of the same labels into one alert.
    """

    name = "alertmanager"

    def __init__(self, url: str, *, resend_seconds: float = 60.0, generator_url: str = "",
                 now: Callable[[], datetime] = lambda: datetime.now(UTC), **retry: float) -> None:
        self.poster = Poster(url.rstrip("/") + "/api/v2/alerts", "alertmanager",
                             **retry)  # type: ignore[arg-type]
        self.resend_seconds = resend_seconds
        self.generator_url = generator_url
        self.now = now
        self.active: dict[str, Alert] = {}
        self._last_post = 0.0

    def send(self, alert: Alert) -> None:
        if alert.status == "firing":
            self.active[alert.fingerprint] = alert
        else:
            self.active.pop(alert.fingerprint, None)
        self.poster.post(json.dumps([self.payload(alert)]).encode())
        self._last_post = time.monotonic()

    def tick(self) -> None:
        """Re-post the firing alerts when ``resend_seconds`` have passed."""
        if self.active and time.monotonic() - self._last_post >= self.resend_seconds:
            self.poster.post(json.dumps([self.payload(a) for a in self.active.values()]).encode())
            self._last_post = time.monotonic()

    def payload(self, alert: Alert) -> dict[str, object]:
        """Alertmanager's postable alert: labels identify it, annotations explain it."""
        now = self.now()
        ends = now if alert.status == "resolved" else now + timedelta(
            seconds=4 * self.resend_seconds)
        rule = detail(alert, "rule")
        name = rule.get("name") if isinstance(rule, dict) else None
        features = detail(alert, "drifted_features")
        annotations = {
            "summary": str(detail(alert, "summary") or alert.metric),
            "runbook_url": alert.runbook,
            "metric": alert.metric,
            "value": "" if alert.value is None else f"{alert.value:.6g}",
            "threshold": "" if alert.threshold is None else f"{alert.threshold:g}",
            "window": alert.window,
        }
        if features:
            annotations["drifted_features"] = ", ".join(map(str, features))  # type: ignore[call-overload]
        return {
            "labels": {
                "alertname": str(name or alert.metric), "severity": alert.severity,
                "kind": alert.kind, "model": alert.model, "version": str(alert.version),
                "route": str(detail(alert, "route") or ""), "fingerprint": alert.fingerprint,
                "service": "streamml-monitor",
            },
            "annotations": annotations,
            "startsAt": alert.started_at.isoformat(),
            "endsAt": ends.isoformat(),
            "generatorURL": self.generator_url,
        }

    def close(self) -> None:
        pass


__all__ = ["AlertmanagerSink", "Poster", "WebhookSink", "checked_url"]
