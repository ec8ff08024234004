"""One contract over every alert sink; retries and Alertmanager's format over local HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import msgspec
import pytest

from contracts.records import Alert
from monitor.exceptions import SinkError
from monitor.http_sinks import AlertmanagerSink, WebhookSink, checked_url
from monitor.sinks import AlertSink, BackgroundSink, KafkaSink, MemorySink
from monitor.testing import FakeProducer, sample_alert
from streamml.local_broker import free_port

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


class Receiver:
    """A local HTTP server answering with scripted statuses (then 200), keeping the bodies."""

    def __init__(self, statuses: tuple[int, ...] = ()) -> None:
        self.statuses = list(statuses)
        self.requests: list[tuple[str, object]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.requests.append((self.path, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


Received = Callable[[], list[tuple[str, str]]]


@contextmanager
def memory() -> Iterator[tuple[AlertSink, Received]]:
    sink = MemorySink()
    yield sink, lambda: [(a.fingerprint, a.status) for a in sink.alerts]


@contextmanager
def kafka() -> Iterator[tuple[AlertSink, Received]]:
    producer = FakeProducer()
    decode = msgspec.json.Decoder(Alert).decode
    yield KafkaSink(producer, "alerts"), lambda: [
        (key.decode(), decode(value).status) for _, key, value in producer.records]


@contextmanager
def webhook() -> Iterator[tuple[AlertSink, Received]]:
    receiver = Receiver()
    try:
        yield WebhookSink(receiver.url + "/hook"), lambda: [
            (body["fingerprint"], body["status"]) for _, body in receiver.requests]  # type: ignore[index]
    finally:
        receiver.close()


@contextmanager
def alertmanager() -> Iterator[tuple[AlertSink, Received]]:
    receiver = Receiver()

    def received() -> list[tuple[str, str]]:
        out = []
        for _, body in receiver.requests:
            for a in body:  # type: ignore[attr-defined]
                ends = datetime.fromisoformat(a["endsAt"])
                out.append((a["labels"]["fingerprint"], "resolved" if ends <= NOW else "firing"))
        return out

    try:
        yield AlertmanagerSink(receiver.url, now=lambda: NOW), received
    finally:
        receiver.close()


@contextmanager
def background() -> Iterator[tuple[AlertSink, Received]]:
    inner = MemorySink()
    sink = BackgroundSink(inner)
    yield sink, lambda: (sink.close(), [(a.fingerprint, a.status) for a in inner.alerts])[1]


SINKS = {"memory": memory, "kafka": kafka, "webhook": webhook, "alertmanager": alertmanager,
         "background": background}


@pytest.mark.parametrize("make", SINKS.values(), ids=SINKS.keys())
def test_every_sink_delivers_firing_then_resolved_in_order(make: Callable) -> None:  # type: ignore[type-arg]
    with make() as (sink, received):
        sink.send(sample_alert("firing", "a1"))
        sink.send(sample_alert("firing", "b2"))
        sink.send(sample_alert("resolved", "a1"))

        assert received() == [("a1", "firing"), ("b2", "firing"), ("a1", "resolved")]
        assert isinstance(sink.name, str) and sink.name
        sink.close()


def test_the_webhook_retries_server_errors_with_growing_backoff() -> None:
    """Holds for every jitter draw: the first wait is at most 0.1 s, the third at least 0.2 s."""
    receiver = Receiver((503, 500, 429))
    sleeps: list[float] = []
    try:
        sink = WebhookSink(receiver.url, backoff=0.1, sleep=sleeps.append)  # type: ignore[arg-type]

        sink.send(sample_alert())

        assert len(receiver.requests) == 4
        assert len(sleeps) == 3 and sleeps[0] < sleeps[2]
        assert all(s <= 30 for s in sleeps)
    finally:
        receiver.close()


def test_the_webhook_does_not_retry_a_refused_request() -> None:
    receiver = Receiver((400,))
    try:
        with pytest.raises(SinkError, match="HTTP 400, not retried"):
            WebhookSink(receiver.url, sleep=lambda s: None).send(sample_alert())  # type: ignore[arg-type]
        assert len(receiver.requests) == 1
    finally:
        receiver.close()


def test_the_webhook_gives_up_on_an_unreachable_host_after_its_attempts() -> None:
    sleeps: list[float] = []
    sink = WebhookSink(f"http://127.0.0.1:{free_port()}", attempts=3, timeout=1.0,
                       sleep=sleeps.append)  # type: ignore[arg-type]

    with pytest.raises(SinkError, match="gave up after 3 attempts"):
        sink.send(sample_alert())
    assert len(sleeps) == 2


def test_urls_must_be_http() -> None:
    with pytest.raises(SinkError, match="http:// or https://"):
        checked_url("file:///etc/passwd", "webhook")


def test_the_kafka_sink_raises_when_the_broker_refuses() -> None:
    with pytest.raises(SinkError, match="delivery failed"):
        KafkaSink(FakeProducer(error="broker down"), "alerts").send(sample_alert())


def test_alertmanager_gets_labels_annotations_and_a_lease_on_firing_alerts() -> None:
    sink = AlertmanagerSink("http://am:9093", resend_seconds=60, now=lambda: NOW,
                            generator_url="http://monitor:6068/")

    payload = sink.payload(sample_alert(runbook="http://monitor:6068/runbooks#feature-drift"))

    assert payload["labels"] == {
        "alertname": "feature-drift", "severity": "warning", "kind": "data_drift",
        "model": "conversion", "version": "1", "route": "champion", "fingerprint": "f00d",
        "service": "streamml-monitor"}
    annotations = payload["annotations"]
    assert annotations["drifted_features"] == "cart_value"  # type: ignore[index]
    assert annotations["runbook_url"] == "http://monitor:6068/runbooks#feature-drift"  # type: ignore[index]
    assert payload["endsAt"] == (NOW + timedelta(seconds=240)).isoformat()
    assert sink.payload(sample_alert("resolved"))["endsAt"] == NOW.isoformat()


def test_alertmanager_re_posts_firing_alerts_until_they_resolve() -> None:
    receiver = Receiver()
    try:
        sink = AlertmanagerSink(receiver.url, resend_seconds=0.0, now=lambda: NOW)
        sink.send(sample_alert("firing"))
        sink.tick()
        sink.send(sample_alert("resolved"))
        sink.tick()

        assert [path for path, _ in receiver.requests] == ["/api/v2/alerts"] * 3
    finally:
        receiver.close()


def test_a_background_sink_reports_what_its_inner_sink_gave_up_on() -> None:
    failures: list[str] = []

    class Down:
        name = "down"

        def send(self, alert: Alert) -> None:
            raise SinkError("no")

        def close(self) -> None:
            pass

    sink = BackgroundSink(Down(), on_failure=lambda name, a, e: failures.append(name))
    sink.send(sample_alert())
    sink.close()

    assert failures == ["down"]
