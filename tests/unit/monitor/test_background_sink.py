"""Background delivery: retries with backoff against a real local HTTP server, a bounded
queue that counts what it drops, and delivered / failed counted apart."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pytest
from prometheus_client import generate_latest

from contracts.records import Alert
from monitor.config import load_config
from monitor.dispatch import Dispatcher
from monitor.exceptions import RetryableSinkError, SinkError
from monitor.exposition import MonitorCollector, Progress, monitor_registry
from monitor.http_sinks import AlertmanagerSink, WebhookSink
from monitor.pipeline import MonitorPipeline
from monitor.sinks import BackgroundSink
from monitor.testing import sample_alert
from tests.unit.monitor.test_sinks import Receiver


def wait_until(done: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_failed_webhook_delivery_is_queued_again_until_the_receiver_takes_it() -> None:
    receiver = Receiver((500, 503, 200))
    try:
        sink = BackgroundSink(WebhookSink(receiver.url), backoff=0.01)
        sink.send(sample_alert())
        wait_until(lambda: sink.counts().delivered["firing"] == 1)
        sink.close()

        assert len(receiver.requests) == 3
        assert sink.counts().retried == 2
    finally:
        receiver.close()


def test_alertmanager_deliveries_are_retried_the_same_way() -> None:
    receiver = Receiver((502,))
    try:
        sink = BackgroundSink(AlertmanagerSink(receiver.url), backoff=0.01)
        sink.send(sample_alert())
        wait_until(lambda: sink.counts().delivered["firing"] == 1)
        sink.close()

        assert [path for path, _ in receiver.requests] == ["/api/v2/alerts"] * 2
    finally:
        receiver.close()


def test_backoff_doubles_and_a_sink_gives_up_after_its_attempts() -> None:
    """Holds for every jitter draw: each wait lies in [backoff * 2**n / 2, backoff * 2**n]."""
    receiver = Receiver((500,) * 4)
    failed: list[tuple[str, Exception]] = []
    try:
        sink = BackgroundSink(WebhookSink(receiver.url), attempts=4, backoff=0.04,
                              on_failure=lambda name, a, e: failed.append((name, e)))
        sink.send(sample_alert())
        wait_until(lambda: bool(failed))
        sink.close()

        assert len(receiver.requests) == 4
        assert sink.counts().retried == 3 and not sink.counts().delivered
        assert failed[0][0] == "webhook" and "HTTP 500" in str(failed[0][1])
    finally:
        receiver.close()


def test_a_redirect_is_a_failure_at_once_and_is_logged_with_its_location(
        caplog: pytest.LogCaptureFixture) -> None:
    receiver = Receiver((302,), headers={"Location": "http://elsewhere.invalid/"})
    failed: list[str] = []
    try:
        sink = BackgroundSink(WebhookSink(receiver.url), backoff=0.01,
                              on_failure=lambda name, a, e: failed.append(name))
        with caplog.at_level(logging.ERROR, logger="monitor.sinks"):
            sink.send(sample_alert())
            wait_until(lambda: bool(failed))
            sink.close()

        assert len(receiver.requests) == 1 and sink.counts().retried == 0
        assert "'http://elsewhere.invalid/' not followed" in caplog.text
    finally:
        receiver.close()


class Blocked:
    """An inner sink that waits until released, then keeps what it was given."""

    name = "blocked"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.alerts: list[Alert] = []

    def send(self, alert: Alert) -> None:
        self.started.set()
        self.release.wait(10)
        self.alerts.append(alert)

    def close(self) -> None:
        pass


def test_a_full_queue_drops_its_oldest_alert_and_counts_and_logs_it(
        caplog: pytest.LogCaptureFixture) -> None:
    inner = Blocked()
    sink = BackgroundSink(inner, capacity=2)
    sink.send(sample_alert("firing", "a0"))
    inner.started.wait(5)  # a0 is in flight, out of the queue
    with caplog.at_level(logging.WARNING, logger="monitor.sinks"):
        for name in ("a1", "a2", "a3", "a4"):
            sink.send(sample_alert("firing", name))
    inner.release.set()
    sink.close()

    assert [a.fingerprint for a in inner.alerts] == ["a0", "a3", "a4"]
    assert sink.counts().dropped == {"queue-full": 2}
    assert sink.counts().delivered["firing"] == 3
    assert "dropped firing alert a1 (queue-full); 1 dropped so far" in caplog.text
    assert "dropped firing alert a2 (queue-full); 2 dropped so far" in caplog.text


def test_a_retry_never_delivers_a_status_older_than_one_already_queued() -> None:
    delivered: list[str] = []

    class FailsFiringOnce:
        name = "flaky"

        def send(self, alert: Alert) -> None:
            if alert.status == "firing" and "firing" not in tried:
                tried.append("firing")
                raise RetryableSinkError("HTTP 503")
            delivered.append(alert.status)

        def close(self) -> None:
            pass

    tried: list[str] = []
    sink = BackgroundSink(FailsFiringOnce(), backoff=60.0)
    sink.send(sample_alert("firing"))
    wait_until(lambda: sink.counts().retried == 1)
    sink.send(sample_alert("resolved"))
    sink.close()

    assert delivered == ["resolved"]
    assert sink.counts().dropped == {"superseded": 1}


def test_metrics_count_delivered_alerts_not_queued_ones_and_failures_apart() -> None:
    receiver = Receiver((400,))
    try:
        sink = BackgroundSink(WebhookSink(receiver.url), backoff=0.01)
        dispatcher = Dispatcher([sink])
        sink.on_failure = dispatcher.failed
        dispatcher.publish(sample_alert("firing", "a1"))
        dispatcher.publish(sample_alert("firing", "b2"))
        wait_until(lambda: len(receiver.requests) == 2)
        sink.close()

        assert dispatcher.delivered() == {("webhook", "firing"): 1}
        assert dispatcher.failures == {"webhook": 1}
    finally:
        receiver.close()


def test_the_delivery_counts_are_on_metrics() -> None:
    class Down:
        name = "down"

        def send(self, alert: Alert) -> None:
            raise SinkError("no")

        def close(self) -> None:
            pass

    dispatcher = Dispatcher([])
    sink = BackgroundSink(Down(), on_failure=dispatcher.failed)
    dispatcher.sinks.append(sink)
    dispatcher.publish(sample_alert())
    sink.close()
    collector = MonitorCollector(MonitorPipeline(load_config(), model="conversion"),
                                 dispatcher, Progress())

    text = generate_latest(monitor_registry(collector)).decode()

    for line in ('streamml_monitor_alert_failures_total{sink="down"} 1.0',
                 "# TYPE streamml_monitor_alert_retries_total counter",
                 "# TYPE streamml_monitor_alert_drops_total counter"):
        assert line in text
    assert 'streamml_monitor_alerts_sent_total{sink="down"' not in text
