"""The scoring processor on a plain confluent-kafka consumer: the same pure scoring step,
model watcher and output path as the faust app, without faust's per-event cost.

It runs on :mod:`contracts.batch_runtime`: each batch is scored and its
outputs handed to the producer; every ``COMMIT_SECONDS`` or ``COMMIT_EVENTS`` (and
when the topic runs dry, before a rebalance hands partitions over, and on the way
out) the runtime sends the summaries of the batches since the last commit
(:mod:`stream_processors.summary_buffer`), waits until the broker has acknowledged
every output sent so far, then commits the offsets of the batches they came from. A
crash in between repeats those batches (at-least-once); it never skips one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from contracts.batch_output import BatchOutput
from contracts.batch_runtime import (
    BatchRuntime,
    CommitPolicy,
    Outgoing,
    Subscription,
    record_of,
)
from contracts.bounded_ids import RecentIds
from contracts.decoding import InputDecoders
from contracts.http_server import Heartbeat
from contracts.settings import ScoringSettings
from contracts.topics import Topics
from contracts.wire_formats import wire_format
from stream_processors.gc_policy import quiet_garbage_collector
from stream_processors.http_api import serve
from stream_processors.metrics import scoring_metrics
from stream_processors.model_watcher import Loader, ModelWatcher
from stream_processors.scoring_step import count_batch, score_values
from stream_processors.summary_buffer import SummaryBuffer

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

    def __init__(self, settings: ScoringSettings, loader: Loader, *, web_port: int) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self.metrics = scoring_metrics(settings.model_name)
        self.watcher = ModelWatcher(settings, loader, self.metrics)
        self.output = BatchOutput(settings)
        self.web_port = web_port
        # Longer than the slowest turn of the loop: a rebalance's catch-up waits up to 30 s.
        self.heartbeat = Heartbeat(max_age=90.0)
        self._seen = RecentIds()
        self.inputs = InputDecoders.of(wire_format(settings))
        self.summaries = SummaryBuffer() if settings.monitor_source == "summaries" else None
        self.runtime = BatchRuntime(
            settings, group="scoring", source=Subscription([self.topics.user_events], self),
            step=self,
            output=self.output, heartbeat=self.heartbeat,
            policy=CommitPolicy(seconds=COMMIT_SECONDS, events=COMMIT_EVENTS),
            max_batch=MAX_BATCH, poll_seconds=POLL_SECONDS,
            consumer_config={"queued.max.messages.kbytes": PREFETCH_KBYTES},
            held=self.held_summaries)

    def stop(self) -> None:
        self.runtime.stop()

    def health(self) -> dict[str, Any]:
        return self.watcher.health(self.runtime.assigned)

    def not_ready(self) -> str | None:
        """Why ``/ready`` says 503, or None when this worker scores partitions it holds."""
        return self.watcher.not_ready(self.runtime.assigned)

    def run(self) -> None:
        token = self.settings.http_token
        server = serve(self.settings.web_host, self.web_port, self.metrics.registry,
                       lambda: self.watcher.serving, self.health, live=self.heartbeat.check,
                       ready=self.not_ready, token=token.reveal() if token else None)
        self.watcher.start()
        try:
            if self._wait_for_model():
                quiet_garbage_collector()
                self.runtime.run()
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
            if self.runtime.stopping:
                return False
        logger.info("model ready: consuming user-events")
        return True

    def process(self, batch: list[Any]) -> Iterable[Outgoing]:
        began = time.perf_counter()
        result = score_values([m.value() for m in batch], [m.key() for m in batch],
                              [m.partition() for m in batch], lambda i: record_of(batch[i]),
                              self.watcher.state, self._seen,
                              explain_top_k=self.settings.explain_top_k, inputs=self.inputs,
                              summaries=self.summaries, offset_of=lambda i: batch[i].offset())
        count_batch(self.metrics, len(batch), result, time.perf_counter() - began)
        return (Outgoing(self.topics.predictions, result.predictions),
                Outgoing(self.topics.dead_letters, result.dead_letters))

    def held_summaries(self) -> Iterable[Outgoing]:
        """The summaries of the batches since the last commit (:mod:`~stream_processors.
        summary_buffer`): made once for them all, so their runs fill whatever the batch
        size."""
        if self.summaries is None:
            return ()
        features, predictions = self.summaries.take()
        return (Outgoing(self.topics.feature_summaries, features),
                Outgoing(self.topics.prediction_summaries, predictions))

    def tick(self) -> Iterable[Outgoing]:
        return ()

    def assigned(self, consumer: Any, partitions: list[Any]) -> dict[tuple[str, int], int]:
        self.watcher.catch_up(consumer)
        return {}

    def revoked(self, partitions: list[Any], *, lost: bool) -> None:
        # Partitions read again later start from the last commit: redeliveries, not
        # a producer's duplicates, so the memory of ids starts afresh.
        self._seen.clear()
        if lost and self.summaries is not None:
            self.summaries.forget({p.partition for p in partitions})
