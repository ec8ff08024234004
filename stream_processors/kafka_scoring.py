"""The scoring processor on a plain confluent-kafka consumer: the same pure scoring step,
model watcher and output path as the faust app, without faust's per-event cost.

Order of work per batch: consume, score, send every output and wait for the broker's
acknowledgement, then commit the batch's offsets. A crash between the last two
repeats the batch (at-least-once); it never skips one.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from contracts.kafka_clients import KafkaRecord, make_consumer
from contracts.settings import Settings
from contracts.topics import Topics
from stream_processors.batch_output import BatchOutput
from stream_processors.http_api import serve
from stream_processors.metrics import scoring_metrics
from stream_processors.model_watcher import Loader, ModelWatcher
from stream_processors.recent_ids import RecentIds
from stream_processors.scoring_step import score_messages

logger = logging.getLogger(__name__)

MAX_BATCH = 2000
POLL_SECONDS = 0.05


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
        self._stopping = threading.Event()
        self._seen = RecentIds()

    def stop(self) -> None:
        self._stopping.set()

    def health(self) -> dict[str, Any]:
        state = self.watcher.state
        return {"status": "ok", "model_ready": state.ready,
                "champion": state.deployment.champion if state.deployment else None,
                "partitions": sorted(self.assigned)}

    def run(self) -> None:
        server = serve(self.settings.web_host, self.web_port, self.metrics.registry,
                       lambda: self.watcher.state, self.health)
        self.watcher.start()
        try:
            if self._wait_for_model():
                self._consume()
        finally:
            self.watcher.stop()
            self.output.close()
            server.shutdown()

    def _wait_for_model(self) -> bool:
        if not self.watcher.ready.is_set():
            logger.warning("no model version yet: not consuming user-events until one is "
                           "published")
        while not self.watcher.ready.wait(0.1):
            if self._stopping.is_set():
                return False
        logger.info("model ready: consuming user-events")
        return True

    def _consume(self) -> None:
        consumer = make_consumer(self.settings, "scoring")
        consumer.subscribe([self.topics.user_events], on_assign=self._on_assign,
                           on_revoke=self._revoker(consumer), on_lost=self._on_lost)
        try:
            while not self._stopping.is_set():
                batch = consumer.consume(MAX_BATCH, POLL_SECONDS)
                records = [_record(m) for m in batch if not m.error()]
                if records:
                    self._process(records)
                    # Outputs are acknowledged by now; only then do offsets move.
                    consumer.store_offsets(offsets=_next_offsets(records))
                    consumer.commit(asynchronous=True)
        finally:
            _commit_quietly(consumer)
            consumer.close()

    def _process(self, records: list[KafkaRecord]) -> None:
        began = time.perf_counter()
        result = score_messages(records, self.watcher.state, self._seen)
        self.output.deliver_blocking(
            [(self.topics.predictions, k, v) for k, v in result.predictions]
            + [(self.topics.dead_letters, k, v) for k, v in result.dead_letters]
        )
        m = self.metrics
        m.events_in.inc(len(records))
        m.batch_size.observe(len(records))
        m.scoring_seconds.observe(time.perf_counter() - began)
        for (version, route), n in result.scored.items():
            m.predictions_out.labels(version=str(version), route=route).inc(n)
        for reason, n in result.rejected.items():
            m.dead_letters.labels(reason=reason).inc(n)
        for lag in result.event_lag_seconds:
            m.event_lag_seconds.observe(lag)

    def _on_assign(self, _consumer: Any, partitions: list[Any]) -> None:
        self.assigned.update(p.partition for p in partitions)
        logger.info("assigned partitions=%s", sorted(self.assigned))

    def _revoker(self, consumer: Any) -> Callable[[Any, list[Any]], None]:
        def on_revoke(_consumer: Any, partitions: list[Any]) -> None:
            # Everything consumed so far was processed and acknowledged (the loop is
            # single-threaded), so committing now hands the partitions over cleanly.
            _commit_quietly(consumer)
            self.assigned.difference_update(p.partition for p in partitions)
        return on_revoke

    def _on_lost(self, _consumer: Any, partitions: list[Any]) -> None:
        self.assigned.difference_update(p.partition for p in partitions)


def _record(message: Any) -> KafkaRecord:
    return KafkaRecord(
        topic=message.topic(), partition=message.partition(), offset=message.offset(),
        key=message.key(), value=message.value(), timestamp_ms=message.timestamp()[1],
        headers=tuple(message.headers() or ()),
    )


def _next_offsets(records: list[KafkaRecord]) -> list[Any]:
    from confluent_kafka import TopicPartition

    last: dict[tuple[str, int], int] = {}
    for r in records:
        last[(r.topic, r.partition)] = r.offset
    return [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]


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
