"""The scoring processor on a plain confluent-kafka consumer: the same pure scoring step,
model watcher and output path as the faust app, without faust's per-event cost.

Order of work: consume a batch, score it, hand its outputs to the producer, and go
on with the next batch while they are in flight. Every ``COMMIT_SECONDS`` or
``COMMIT_EVENTS`` (and when the topic runs dry, before a rebalance hands partitions
over, and on the way out) wait until the broker has acknowledged every output sent
so far, then commit the offsets of the batches they came from. A crash in between
repeats those batches (at-least-once); it never skips one.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from contracts.http_server import Heartbeat
from contracts.kafka_clients import KafkaRecord, make_consumer
from contracts.settings import Settings
from contracts.topics import Topics
from stream_processors.batch_output import BatchOutput
from stream_processors.gc_policy import quiet_garbage_collector
from stream_processors.http_api import serve
from stream_processors.metrics import scoring_metrics
from stream_processors.model_watcher import Loader, ModelWatcher
from stream_processors.recent_ids import RecentIds
from stream_processors.scoring_step import count_batch, score_values

logger = logging.getLogger(__name__)

MAX_BATCH = 2000
# How long a poll waits for a batch to fill: short, so a quiet topic's events are
# scored within milliseconds; a busy one fills MAX_BATCH first.
POLL_SECONDS = 0.01
# Commit (after every output so far is acknowledged) this often, or after this many
# events: what a crash can make the group score twice.
COMMIT_SECONDS = 0.25
COMMIT_EVENTS = 10_000
# librdkafka prefetches up to 64 MiB by default; 16 MiB (~45,000 events) keeps the
# loop fed, and the worker's memory 45 MiB smaller and flat after its first 400,000.
PREFETCH_KBYTES = 16 * 1024


class KafkaScoringWorker:
    """One worker of the scoring group; :meth:`run` returns after :meth:`stop`."""

    def __init__(self, settings: Settings, loader: Loader, *, web_port: int) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self.metrics = scoring_metrics()
        self.watcher = ModelWatcher(settings, loader, self.metrics)
        self.output = BatchOutput(settings)
        self.web_port = web_port
        self.assigned: set[int] = set()
        # Longer than the slowest turn of the loop: a rebalance's catch-up waits up to 30 s.
        self.heartbeat = Heartbeat(max_age=90.0)
        self._stopping = threading.Event()
        self._seen = RecentIds()
        # Next offsets of batches whose outputs were sent but not yet acknowledged.
        self._uncommitted: dict[tuple[str, int], int] = {}

    def stop(self) -> None:
        self._stopping.set()

    def health(self) -> dict[str, Any]:
        state = self.watcher.serving
        return {"status": "ok", "model_ready": state.ready,
                "champion": state.deployment.champion if state.deployment else None,
                "partitions": sorted(self.assigned)}

    def not_ready(self) -> str | None:
        """Why ``/ready`` says 503, or None when this worker scores partitions it holds."""
        if not self.watcher.ready.is_set():
            return "model-versions is not read to its end yet"
        if not self.watcher.serving.ready:
            return "no champion model is loaded"
        if not self.assigned:
            return "no partitions of user-events are assigned to this worker"
        return None

    def run(self) -> None:
        token = self.settings.http_token
        server = serve(self.settings.web_host, self.web_port, self.metrics.registry,
                       lambda: self.watcher.serving, self.health, live=self.heartbeat.check,
                       ready=self.not_ready, token=token.reveal() if token else None)
        self.watcher.start()
        try:
            if self._wait_for_model():
                quiet_garbage_collector()
                self._consume()
        finally:
            self.watcher.stop()
            self.output.close()
            server.close()

    def _wait_for_model(self) -> bool:
        if not self.watcher.ready.is_set():
            logger.warning("no model version yet: not consuming user-events until one is "
                           "published")
        while not self.watcher.ready.wait(0.1):
            self.heartbeat.beat()
            if self._stopping.is_set():
                return False
        logger.info("model ready: consuming user-events")
        return True

    def _consume(self) -> None:
        consumer = make_consumer(self.settings, "scoring",
                                 **{"queued.max.messages.kbytes": PREFETCH_KBYTES})
        consumer.subscribe([self.topics.user_events], on_assign=self._on_assign,
                           on_revoke=self._revoker(consumer), on_lost=self._on_lost)
        last_commit, since = time.monotonic(), 0
        try:
            while not self._stopping.is_set():
                self.heartbeat.beat()
                batch = [m for m in consumer.consume(MAX_BATCH, POLL_SECONDS)
                         if m.error() is None]
                if batch:
                    self._process(batch)
                    self._uncommitted.update(_next_offsets(batch))
                    since += len(batch)
                now = time.monotonic()
                if self._uncommitted and (not batch or since >= COMMIT_EVENTS
                                          or now - last_commit >= COMMIT_SECONDS):
                    self._settle(consumer, asynchronous=True)
                    last_commit, since = now, 0
        finally:
            self._settle(consumer, asynchronous=False)
            consumer.close()

    def _process(self, batch: list[Any]) -> None:
        began = time.perf_counter()
        result = score_values([m.value() for m in batch], [m.key() for m in batch],
                              [m.partition() for m in batch], lambda i: _record(batch[i]),
                              self.watcher.state, self._seen)
        self.output.send_to(self.topics.predictions, result.predictions)
        self.output.send_to(self.topics.dead_letters, result.dead_letters)
        count_batch(self.metrics, len(batch), result, time.perf_counter() - began)

    def _settle(self, consumer: Any, *, asynchronous: bool) -> None:
        """Wait for every output sent so far, then commit the offsets they came from."""
        from confluent_kafka import TopicPartition

        self.output.wait_blocking()
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._uncommitted.items()
                   if p in self.assigned]
        self._uncommitted.clear()
        if offsets:
            consumer.store_offsets(offsets=offsets)
        if not asynchronous:
            _commit_quietly(consumer)
        elif offsets:
            consumer.commit(asynchronous=True)

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        self.watcher.catch_up(consumer)
        self.assigned.update(p.partition for p in partitions)
        logger.info("assigned partitions=%s", sorted(self.assigned))

    def _revoker(self, consumer: Any) -> Callable[[Any, list[Any]], None]:
        def on_revoke(_consumer: Any, partitions: list[Any]) -> None:
            # Everything consumed so far was processed (the loop is single-threaded);
            # once its outputs are acknowledged, committing hands the partitions over.
            self._settle(consumer, asynchronous=False)
            self.assigned.difference_update(p.partition for p in partitions)
            logger.info("revoked partitions=%s kept=%s", sorted(p.partition for p in partitions),
                        sorted(self.assigned))
            # Partitions read again later start from the last commit: redeliveries, not
            # a producer's duplicates, so the memory of ids starts afresh.
            self._seen.clear()
        return on_revoke

    def _on_lost(self, _consumer: Any, partitions: list[Any]) -> None:
        # Lost, not handed over: another worker may own them already, so their
        # uncommitted offsets are dropped and that worker repeats those events.
        lost = {p.partition for p in partitions}
        self.assigned.difference_update(lost)
        logger.warning("lost partitions=%s: the group rebalanced without this worker (no "
                       "heartbeat within the session timeout, or more than "
                       "max.poll.interval.ms between two polls)", sorted(lost))
        self._seen.clear()
        self._uncommitted = {tp: o for tp, o in self._uncommitted.items() if tp[1] not in lost}


def _record(message: Any) -> KafkaRecord:
    return KafkaRecord(
        topic=message.topic(), partition=message.partition(), offset=message.offset(),
        key=message.key(), value=message.value(), timestamp_ms=message.timestamp()[1],
        headers=tuple(message.headers() or ()),
    )


def _next_offsets(batch: list[Any]) -> dict[tuple[str, int], int]:
    """Per partition, the offset after the last message of the batch (the last one wins)."""
    return {(m.topic(), m.partition()): m.offset() + 1 for m in batch}


def _commit_quietly(consumer: Any) -> None:
    from confluent_kafka import KafkaException

    try:
        consumer.commit(asynchronous=False)
    except KafkaException as exc:
        # Nothing to commit (no new offsets) is reported as an error too.
        logger.debug("commit: %s", exc)


def run_until_signalled(worker: KafkaScoringWorker) -> None:
    def stop(_signum: int, _frame: FrameType | None) -> None:
        worker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.run()
