"""``streamml monitor``: Kafka and HTTP around :class:`monitor.pipeline.MonitorPipeline`.

confluent-kafka rather than faust: the monitor observes, it does not transform, so it
reads every partition of the three data topics itself (assigned, no consumer group,
no rebalances, no commits) from a bounded tail, and takes records in batches for
vectorised work: ``prediction-summaries``, ``feature-summaries`` and
``labeled-outcomes`` (with ``STREAMML_MONITOR_SOURCE=records``, ``predictions``,
``user-events`` and ``labeled-events`` themselves instead). On start it reads
``model-versions`` to its end (references), the tail of ``alerts`` (what is firing:
not fired again, resolved when clean; only alerts signed by a trusted alert key),
then the tail of the data topics to rebuild its windows, sending only the net changes
of that replay. What it writes on ``alerts`` it signs with its alert key. The HTTP
server is the standard library's, in a thread.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition
from prometheus_client import generate_latest

from contracts.batch_runtime import Assignment, BatchRuntime, run_until_signalled
from contracts.decoding import InputDecoders, RecordDecoder, Rejection
from contracts.http_server import Heartbeat
from contracts.kafka_clients import make_consumer, make_producer
from contracts.partition_reads import TopicMissing, UnfinishedRead, partitions_of, read_to_end
from contracts.records import Alert
from contracts.settings import OUTCOMES_TAIL_SHARE, MonitorSettings
from contracts.topics import Topics
from contracts.wire_formats import wire_format
from monitor.config import MonitorConfig, load_config, with_runbook_base
from monitor.dispatch import Dispatcher, latest_by_fingerprint
from monitor.exceptions import MonitorError
from monitor.exposition import MonitorCollector, Progress, monitor_registry
from monitor.http_sinks import AlertmanagerSink, WebhookSink, checked_url
from monitor.page import render
from monitor.pipeline import MonitorPipeline
from monitor.registry_check import RegistryCheck
from monitor.signed_alerts import AlertRefusals, SigningSink
from monitor.sinks import AlertSink, BackgroundSink, KafkaSink
from monitor.time_range import Span, span_of
from monitor.web import METRICS_CONTENT_TYPE, WebServer, json_page, runbooks_page
from scorer.alert_signing import AlertGate, alert_signer_from, alert_trusted_keys
from scorer.signing import trusted_keys

logger = logging.getLogger(__name__)

BATCH = 2000
ALERTS_TAIL = 2000  # alert records per partition read back on start
STARTUP_TIMEOUT = 60.0


class MonitorService:
    """The running monitor: consumers, sinks, web server, and the loop between them."""

    def __init__(self, settings: MonitorSettings, config: MonitorConfig | None = None, *,
                 web_port: int | None = None) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        port = settings.monitor_port if web_port is None else web_port
        self.base_url = settings.monitor_url or f"http://{settings.web_host}:{port}/"
        config = with_runbook_base(config or load_config(settings.monitor_rules_file),
                                   self.base_url)
        self.pipeline = MonitorPipeline(config, model=settings.model_name, topics=self.topics,
                                        inputs=InputDecoders.of(wire_format(settings)))
        self.dispatcher = Dispatcher([])
        self.alert_gate = AlertGate(alert_trusted_keys(settings))
        self.dispatcher.sinks = build_sinks(settings, self.topics, self.base_url,
                                            self.dispatcher)
        self.progress = Progress()
        self.lock = threading.Lock()
        self.registry_check = RegistryCheck(settings.model_name, trusted_keys(settings))
        self.metrics = monitor_registry(MonitorCollector(self.pipeline, self.dispatcher,
                                                         self.progress,
                                                         self.registry_check.refusals))
        self.metrics.register(AlertRefusals(self.alert_gate))
        self.web_port = port
        self.web: WebServer | None = None
        self.heartbeat = Heartbeat(max_age=60.0)
        self.registry_read = False
        self.consumer: Consumer | None = None
        self._registry_end: dict[int, int] = {}
        self.runtime = BatchRuntime(
            settings, group="monitor", source=Assignment(self._plan), step=self, output=None,
            heartbeat=self.heartbeat, policy=None, max_batch=BATCH, poll_seconds=0.5)
        self._pending: dict[tuple[str, int], int] = {}
        self._replayed: list[Alert] = []
        self._gap_said = False

    # -- start --------------------------------------------------------------------
    def start(self) -> None:
        registry_end = self._read_registry()
        self.registry_read = True
        self.heartbeat.beat()
        self._restore_alerts()
        token = self.settings.http_token
        self.web = WebServer(self.settings.web_host, self.web_port, self._pages(),
                             queried={"/report": self._report},
                             probes={"/live": self.heartbeat.check, "/ready": self.not_ready},
                             token=token.reveal() if token else None)
        self.web_port = self.web.port
        self._registry_end = registry_end

    def _plan(self, consumer: Consumer) -> list[TopicPartition]:
        """Registry changes from where the start read it; the data topics' tails, replayed."""
        self.consumer = consumer
        tail = self.settings.monitor_tail_records
        assignment = [TopicPartition(self.topics.model_versions, p, o)
                      for p, o in self._registry_end.items()]
        summaries = self.settings.monitor_source == "summaries"
        topics = ((self.topics.prediction_summaries, tail), (self.topics.feature_summaries, tail),
                  (self.topics.labeled_outcomes, tail // OUTCOMES_TAIL_SHARE)) if summaries \
            else ((self.topics.predictions, tail), (self.topics.user_events, tail),
                  (self.topics.labeled_events, tail))
        for topic, records in topics:
            for tp, high in tail_offsets(consumer, topic, records):
                assignment.append(tp)
                if tp.offset < high:
                    self._pending[(topic, tp.partition)] = high
        logger.info("monitor started port=%d replaying=%d partitions tail=%d url=%s",
                    self.web_port, len(self._pending), tail, self.base_url)
        self._finish_replay_if_done()
        return assignment

    def _read_registry(self) -> dict[int, int]:
        consumer = make_consumer(self.settings, "monitor-registry",
                                 **{"enable.partition.eof": True})
        try:
            starts = [TopicPartition(self.topics.model_versions, p, OFFSET_BEGINNING)
                      for p in partitions(consumer, self.topics.model_versions)]
            ends = {tp.partition: 0 for tp in starts}
            for m in read_all(consumer, starts):
                admitted, refusal = self.registry_check.admit(m.key(), m.value())
                if admitted:
                    self.pipeline.apply_registry(m.key(), m.value())
                elif refusal is not None:  # sent with the replay's net changes
                    self._replayed.append(refusal)
                ends[m.partition() or 0] = (m.offset() or 0) + 1
        finally:
            consumer.close()
        logger.info("registry read served=%s versions=%s",
                    self.pipeline.monitor.registry.served(),
                    sorted(self.pipeline.monitor.registry.versions))
        return ends

    def _restore_alerts(self) -> None:
        decoder = RecordDecoder(Alert)
        consumer = make_consumer(self.settings, "monitor-alerts",
                                 **{"enable.partition.eof": True})
        alerts = []
        try:
            starts = [tp for tp, _ in tail_offsets(consumer, self.topics.alerts, ALERTS_TAIL)]
            for m in read_all(consumer, starts):
                alert = decoder.decode(m.value())
                if (not isinstance(alert, Rejection) and self.pipeline.owns(alert)
                        and self.alert_gate.admit(alert)):
                    alerts.append(alert)
        finally:
            consumer.close()
        latest = latest_by_fingerprint(alerts)
        self.dispatcher.seed(latest.values())
        restored = self.pipeline.restore(latest.values())
        logger.info("alerts read=%d firing_restored=%d refused=%d", len(alerts), restored,
                    self.alert_gate.refusals.total())

    # -- loop ---------------------------------------------------------------------
    def process(self, messages: list[Message]) -> tuple[()]:
        """Process one batch of messages: figures, rules, alerts."""
        registry: list[Message] = []
        data: dict[str, list[bytes | None]] = defaultdict(list)
        last: dict[tuple[str, int], int] = {}  # while replaying: the newest offset read
        replaying, versions = self.progress.replaying, self.topics.model_versions
        labeled = self.topics.labeled_events
        partitions: list[int] = []
        offsets: list[int] = []
        # One pass and no object per message: at tens of thousands of records a second,
        # each call per record here costs the monitor more than the figures do.
        for m in messages:
            topic, partition, offset = m.topic(), m.partition(), m.offset()
            if topic is None or partition is None or offset is None:
                continue  # only errors come without them, and the runtime keeps those
            if topic == versions:
                registry.append(m)
                continue
            data[topic].append(m.value())
            if topic == labeled:  # where a change began is named by these
                partitions.append(partition)
                offsets.append(offset)
            if replaying:
                last[(topic, partition)] = offset
        began = time.thread_time()
        with self.lock:
            alerts = self._apply_registry(registry)
            alerts += self.pipeline.process_values(data, labeled_positions=(partitions, offsets))
            self.progress.processing_seconds += time.thread_time() - began
            self.progress.batches += 1
            gap = None if self._gap_said else self.pipeline.monitor.source_gap()
        if gap is not None:
            logger.warning(gap)
            self._gap_said = True
        if replaying:
            self._mark_replayed(last)
            self._replayed += alerts
            self._finish_replay_if_done()
        else:
            self._deliver(alerts)
        return ()

    def tick(self) -> tuple[()]:
        # Partitions whose tails end in transaction markers deliver nothing more: their
        # positions end the replay, batch or no batch.
        if self.progress.replaying:
            self._mark_replayed({})
            self._finish_replay_if_done()
        return ()

    def _apply_registry(self, messages: list[Message]) -> list[Alert]:
        alerts = []
        for m in messages:
            admitted, refusal = self.registry_check.admit(m.key(), m.value())
            if admitted:
                alerts += self.pipeline.apply_registry(m.key(), m.value())
            elif refusal is not None:
                alerts.append(refusal)
        return alerts

    def _deliver(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            with self.lock:
                self.dispatcher.publish(alert)

    def _mark_replayed(self, last: dict[tuple[str, int], int]) -> None:
        pending = self._pending
        for where, offset in last.items():
            high = pending.get(where)
            if high is not None and offset + 1 >= high:
                del pending[where]
        if pending and self.consumer is not None:  # skipped offsets (markers) end a replay too
            positions = self.consumer.position([TopicPartition(t, p) for t, p in pending])
            for tp in positions:
                if tp.offset >= pending[(tp.topic, tp.partition)]:
                    del pending[(tp.topic, tp.partition)]

    def _finish_replay_if_done(self) -> None:
        if self._pending or not self.progress.replaying:
            return
        self.progress.replaying = False
        net = self.pipeline.end_replay(self._replayed)
        self._replayed = []
        logger.info("replay done; alert changes to send=%d", len(net))
        self._deliver(net)

    # -- web ----------------------------------------------------------------------
    def not_ready(self) -> str | None:
        """Why ``/ready`` says 503, or None once the references are read."""
        return None if self.registry_read else "model-versions is not read to its end yet"

    def _pages(self) -> dict[str, Any]:
        def page(*, export: bool = False, span: Span | None = None) -> tuple[int, str, bytes]:
            with self.lock:
                text = render(self.pipeline, self.dispatcher, replaying=self.progress.replaying,
                              export=export, span=span)
            return 200, "text/html; charset=utf-8", text.encode()

        def metrics() -> tuple[int, str, bytes]:
            with self.lock:
                return 200, METRICS_CONTENT_TYPE, generate_latest(self.metrics)

        def health() -> tuple[int, dict[str, object]]:
            with self.lock:
                counts = self.pipeline.monitor.counts
                return 200, {
                    "status": "replaying" if self.progress.replaying else "ok",
                    # Its start is done and it reads the data topics (replaying first).
                    "consuming": self.consumer is not None,
                    "model": self.settings.model_name,
                    "served": self.pipeline.monitor.registry.served(),
                    "records": sum(n for (_, o), n in counts.items() if o == "counted"),
                    "windows": self.pipeline.windows_closed,
                    "firing": len(self.dispatcher.firing),
                }

        return {"/": page, "/metrics": metrics, "/health": json_page(health),
                "/runbooks": runbooks_page}

    def _report(self, query: Mapping[str, str]) -> tuple[int, str, bytes]:
        """The page as a file to keep, for the windows that ended within ``since`` and
        ``until`` when given."""
        try:
            span = span_of(query.get("since"), query.get("until"), now=time.time())
        except ValueError as exc:
            return 400, "application/json", json.dumps({"error": str(exc)}).encode()
        with self.lock:
            text = render(self.pipeline, self.dispatcher, replaying=self.progress.replaying,
                          export=True, span=span)
        return 200, "text/html; charset=utf-8", text.encode()

    def close(self) -> None:
        self.dispatcher.close()
        if self.web is not None:
            self.web.close()


def build_sinks(settings: MonitorSettings, topics: Topics, base_url: str,
                dispatcher: Dispatcher) -> list[AlertSink]:
    """The ``alerts`` topic always (signed); Alertmanager and a webhook when configured."""
    sinks: list[AlertSink] = [SigningSink(KafkaSink(make_producer(settings), topics.alerts),
                                          alert_signer_from(settings))]
    if settings.alertmanager_url:
        url = checked_url(settings.alertmanager_url, "STREAMML_ALERTMANAGER_URL")
        sinks.append(BackgroundSink(AlertmanagerSink(url, generator_url=base_url),
                                    on_failure=dispatcher.failed))
    if settings.alert_webhook_url:
        url = checked_url(settings.alert_webhook_url.reveal(), "STREAMML_ALERT_WEBHOOK_URL")
        sinks.append(BackgroundSink(WebhookSink(url), on_failure=dispatcher.failed))
    return sinks


def partitions(consumer: Consumer, topic: str) -> list[int]:
    found = partitions_of(consumer, topic, timeout=15)
    if not found:
        raise MonitorError(str(TopicMissing(topic)))
    return found


def tail_offsets(consumer: Consumer, topic: str, tail: int) -> list[tuple[TopicPartition, int]]:
    """Each partition of ``topic`` from ``tail`` records before its end, with that end."""
    out = []
    for p in partitions(consumer, topic):
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15)
        out.append((TopicPartition(topic, p, max(low, high - tail)), high))
    return out


def read_all(consumer: Consumer, starts: list[TopicPartition]) -> Iterator[Message]:
    """Every message from ``starts`` to each partition's end; what is left unread after
    :data:`STARTUP_TIMEOUT` is logged, and the monitor starts without it."""
    try:
        yield from read_to_end(consumer, starts, timeout=STARTUP_TIMEOUT, errors="log")
    except UnfinishedRead as exc:
        logger.warning("gave up: %s", exc)


def run(settings: MonitorSettings, *, web_port: int | None = None) -> int:
    """Start the monitor and run until SIGTERM or SIGINT."""
    service = MonitorService(settings, web_port=web_port)
    try:
        service.start()
        run_until_signalled(service.runtime)
    finally:
        service.close()
    return 0


__all__ = ["MonitorService", "build_sinks", "run", "tail_offsets"]
