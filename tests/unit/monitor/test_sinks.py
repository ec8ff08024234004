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
from monitor.exceptions import RetryableSinkError, SinkError
from monitor.http_sinks import AlertmanagerSink, WebhookSink, checked_url
from monitor.sinks import AlertSink, BackgroundSink, KafkaSink, MemorySink
from monitor.testing import FakeProducer, sample_alert
from streamml.broker.single_node import free_port

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


class Receiver:
    """A local HTTP server answering with scripted statuses (then 200), keeping the bodies."""

    def __init__(self, statuses: tuple[int, ...] = (), headers: dict[str, str] | None = None,
                 ) -> None:
        self.statuses = list(statuses)
        self.headers = headers or {}
        self.requests: list[tuple[str, object]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.requests.append((self.path, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                for name, value in receiver.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802 - where a followed redirect would land
                receiver.requests.append((self.path, "GET"))
                self.send_response(200)
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


def test_the_webhook_does_not_retry_a_refused_request() -> None:
    receiver = Receiver((400,))
    try:
        with pytest.raises(SinkError, match="HTTP 400, not retried") as caught:
            WebhookSink(receiver.url).send(sample_alert())
        assert not isinstance(caught.value, RetryableSinkError)
        assert len(receiver.requests) == 1
    finally:
        receiver.close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_the_webhook_does_not_follow_a_redirect_and_names_where_it_pointed(status: int) -> None:
    receiver = Receiver((status,), headers={"Location": "http://elsewhere.invalid/steal"})
    try:
        with pytest.raises(SinkError, match=f"HTTP {status} redirect to "
                           "'http://elsewhere.invalid/steal' not followed") as caught:
            WebhookSink(receiver.url + "/hook").send(sample_alert())
        assert not isinstance(caught.value, RetryableSinkError)
        assert [path for path, _ in receiver.requests] == ["/hook"]
    finally:
        receiver.close()


@pytest.mark.parametrize("status", [500, 503, 429, 408])
def test_server_errors_and_throttling_may_be_retried(status: int) -> None:
    receiver = Receiver((status,), headers={"Retry-After": "7"})
    try:
        with pytest.raises(RetryableSinkError, match=f"HTTP {status}") as caught:
            WebhookSink(receiver.url).send(sample_alert())
        assert caught.value.retry_after == 7.0
    finally:
        receiver.close()


def test_an_unreachable_host_may_be_retried() -> None:
    with pytest.raises(RetryableSinkError):
        WebhookSink(f"http://127.0.0.1:{free_port()}", timeout=1.0).send(sample_alert())


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
