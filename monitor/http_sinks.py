"""Alert sinks over HTTP: a generic webhook and Alertmanager's v2 API.

Each ``send`` is one POST. Connection errors, 408, 429 and 5xx raise
:class:`RetryableSinkError` (the :class:`~monitor.sinks.BackgroundSink` they run
behind queues the alert again with backoff); other 4xx mean the request itself is
wrong. Redirects are not followed: a 3xx is a failure naming its Location, since an
alert (and any token in the URL) must go only where the settings send it.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import msgspec

from contracts.records import Alert
from monitor.alerts import detail
from monitor.exceptions import RetryableSinkError, SinkError

_RETRYABLE_4XX = (408, 429)


def checked_url(url: str, what: str) -> str:
    """The URL if it is http(s) with a host; else a :class:`SinkError` saying so.

    >>> checked_url("http://127.0.0.1:9093", "alertmanager")
    'http://127.0.0.1:9093'
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SinkError(f"{what}: expected an http:// or https:// URL with a host")
    return url


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        return None  # urllib then raises the 3xx as an HTTPError


_OPENER = urllib.request.build_opener(_NoRedirects)


class Poster:
    """POSTs JSON once; raises :class:`SinkError` or :class:`RetryableSinkError`."""

    def __init__(self, url: str, what: str, *, timeout: float = 5.0) -> None:
        self.url = checked_url(url, what)
        self.what = what
        self.timeout = timeout

    def post(self, body: bytes) -> None:
        request = urllib.request.Request(  # noqa: S310 - scheme checked in checked_url
            self.url, data=body, method="POST", headers={"Content-Type": "application/json"})
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            raise _refusal(self.what, exc) from None
        except OSError as exc:  # refused, reset, timed out, unresolvable
            raise RetryableSinkError(f"{self.what}: {type(exc).__name__}: {exc}") from None


def _refusal(what: str, exc: urllib.error.HTTPError) -> SinkError:
    if 300 <= exc.code < 400:
        location = (exc.headers.get("Location") or "")[:200]
        return SinkError(f"{what}: HTTP {exc.code} redirect to {location!r} not followed; "
                         "set the URL to where alerts should be posted")
    if exc.code >= 500 or exc.code in _RETRYABLE_4XX:
        return RetryableSinkError(f"{what}: HTTP {exc.code}", retry_after=_retry_after(
            exc.headers.get("Retry-After")))
    return SinkError(f"{what}: HTTP {exc.code}, not retried")


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0


class WebhookSink:
    """POSTs each alert record, as on the ``alerts`` topic, to a URL (Slack relays, bots)."""

    name = "webhook"

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.poster = Poster(url, "webhook", timeout=timeout)

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
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 timeout: float = 5.0) -> None:
        self.poster = Poster(url.rstrip("/") + "/api/v2/alerts", "alertmanager",
                             timeout=timeout)
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
