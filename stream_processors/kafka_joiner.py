"""The label joiner: ``user-events``, ``predictions`` and ``labels`` in; ``labeled-events``
out, and at each commit their outcomes (:mod:`stream_processors.labeled_outcomes`).

One consumer reads the three topics and ``join-repartition`` on the batch runtime
(:mod:`contracts.batch_runtime`). They share their partition count, and the
range assignor gives co-subscribed topics with equal partition counts the same
partition numbers. A record written to another partition than murmur2 gives its key
(by a client with another partitioner) is forwarded there through
``join-repartition`` (:mod:`stream_processors.repartition`), so every piece of a
join reaches the same worker, whichever clients wrote them. Each turn of the loop
also gives up on labels that waited too long, when nothing arrives to do it.

The join's stores live in memory, one per partition number this worker owns, while
offsets are committed as the outputs land. So when a partition is assigned (at
start, or when another worker left) its state is rebuilt from the tails of its
topics before its records are joined (:mod:`stream_processors.join_restore`), and
each source partition starts where its restored tail ends. Rebalancing revokes
every partition before assigning the new set: a revoked partition's state is
dropped then unless it comes straight back, in which case each topic resumes just
after the last record joined. Several workers can share the partitions, restart or
crash without forgetting waiting events and labels or joining twice. Every store is
bounded by count, age and bytes.

On a backlog the three topics are read in step by event time
(:mod:`stream_processors.event_time_alignment`): a partition whose records run ahead of
another topic's in the same partition number is paused until that one catches up, so
labels do not wait in the stores for events not read yet.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from contracts.batch_output import BatchOutput
from contracts.batch_runtime import (
    BatchRuntime,
    CommitPolicy,
    Outgoing,
    Subscription,
    record_of,
)
from contracts.dead_letters import dead_letter
from contracts.decoding import InputDecoders
from contracts.http_server import JSON, Answer, Heartbeat, HttpServer, Route, probe
from contracts.kafka_clients import KafkaRecord, make_producer
from contracts.settings import JoinerSettings
from contracts.topics import Topics
from contracts.wire_formats import SchemaUnavailable, wire_format
from stream_processors.event_time_alignment import EventTimeAlignment
from stream_processors.join_restore import JoinRestorer
from stream_processors.joiner_step import STAGE, JoinStepResult, expire_waiting, join_messages
from stream_processors.labeled_outcomes import OutcomeBuffer
from stream_processors.metrics import JoinerMetrics, joiner_metrics
from stream_processors.partitioned_join import PartitionedJoin

logger = logging.getLogger(__name__)

GROUP = "joiner"
# The stores' byte budget means nothing if the consumer holds tens of thousands of
# 64 KiB messages ahead of them: a batch, what librdkafka reads ahead and what one
# fetch brings are bounded too. Fetch sizes count compressed bytes, and alike events
# compress many times over, so a fetch asks for little (a larger record batch still
# comes whole), and a batch is read 250 messages at a time until its values reach
# 4 MiB: 2,000 small records (a batch of 250 left the joiner waiting on the broker
# for most of its time), a few dozen large ones.
MAX_BATCH = 2000
READ_SIZE = 250
MAX_BATCH_BYTES = 4 * 1024 * 1024
PREFETCH_KBYTES = 4 * 1024
# Outputs not yet acknowledged: dead letters of a flood of large events would
# otherwise queue up to librdkafka's 1 GiB while the broker catches up.
OUTPUT_QUEUE_KBYTES = 16 * 1024
PARTITION_FETCH_BYTES = 64 * 1024
FETCH_BYTES = 1024 * 1024
POLL_SECONDS = 0.05
COMMIT_SECONDS = 1.0
COMMIT_EVENTS = 10_000
DEFAULT_LABEL_WAIT_SECONDS = 120.0
DEFAULT_TTL_SECONDS = 3600.0
DEFAULT_CAPACITY = 200_000
DEFAULT_RECOVERY_TIMEOUT_SECONDS = 60.0
# How long the loop may wait, after an assignment, to learn where its partitions end.
ENDS_SECONDS = 5.0


class JoinerWorker:
    """One worker of the joiner group; :meth:`run` returns after :meth:`stop`."""

    def __init__(self, settings: JoinerSettings, *, web_port: int,
                 label_wait_seconds: float = DEFAULT_LABEL_WAIT_SECONDS,
                 ttl_seconds: float = DEFAULT_TTL_SECONDS, capacity: int = DEFAULT_CAPACITY,
                 recovery_timeout_seconds: float = DEFAULT_RECOVERY_TIMEOUT_SECONDS,
                 commit_seconds: float = COMMIT_SECONDS) -> None:
        self.settings = settings
        self.web_port = web_port
        self.topics = Topics(settings.topic_prefix)
        self.metrics = joiner_metrics()
        self.joins = PartitionedJoin(partitions=settings.partitions, capacity=capacity,
                                     ttl_seconds=ttl_seconds,
                                     label_wait_seconds=label_wait_seconds,
                                     max_bytes=settings.joiner_memory_budget_bytes)
        self.inputs = InputDecoders.of(wire_format(settings))
        self.restorer = JoinRestorer(settings, group=GROUP, topics=self.topics,
                                     joins=self.joins, registry=self.metrics.registry,
                                     timeout_seconds=recovery_timeout_seconds,
                                     inputs=self.inputs)
        self.alignment = EventTimeAlignment(
            [self.topics.user_events, self.topics.predictions, self.topics.labels])
        # The outcomes of labeled events name their offsets: every delivery is reported.
        self.outcomes = OutcomeBuffer()
        self.output = BatchOutput(settings, producer=make_producer(
            settings, **{"delivery.report.only.error": False,
                         "queue.buffering.max.kbytes": OUTPUT_QUEUE_KBYTES}),
            reports={self.topics.labeled_events: self.outcomes.delivered})
        # Longer than the slowest turn of the loop: restoring waits up to its deadline.
        self.heartbeat = Heartbeat(max_age=max(90.0, 2 * recovery_timeout_seconds))
        self.runtime = BatchRuntime(
            settings, group=GROUP, step=self, output=self.output, heartbeat=self.heartbeat,
            source=Subscription([self.topics.user_events, self.topics.predictions,
                                 self.topics.labels, self.topics.join_repartition], self),
            policy=CommitPolicy(seconds=commit_seconds, events=COMMIT_EVENTS, when_dry=False),
            max_batch=MAX_BATCH, read_size=READ_SIZE, max_batch_bytes=MAX_BATCH_BYTES,
            poll_seconds=POLL_SECONDS, pacer=self, acknowledged=self._outcomes,
            consumer_config={"partition.assignment.strategy": "range",
                             "queued.max.messages.kbytes": PREFETCH_KBYTES,
                             "max.partition.fetch.bytes": PARTITION_FETCH_BYTES,
                             "fetch.max.bytes": FETCH_BYTES})
        self.expiry_seconds = max(0.2, min(5.0, label_wait_seconds / 4))
        self._next_expiry = 0.0
        # Where newly assigned source partitions start, for the alignment to learn their ends.
        self._expected: dict[tuple[str, int], int] = {}
        self._restoring = False
        self._noticed: set[str] = set()
        # The HTTP threads read the stores the loop changes.
        self._lock = threading.Lock()
        logger.info("joiner label_wait_seconds=%g ttl_seconds=%g capacity=%d "
                    "per_partition_capacity=%d", label_wait_seconds, ttl_seconds, capacity,
                    self.joins.share)

    def stop(self) -> None:
        self.runtime.stop()

    def not_ready(self) -> str | None:
        """Why ``/ready`` says 503, or None when this worker joins partitions it holds."""
        if self._restoring:
            return "the state of newly assigned partitions is being rebuilt"
        if not self.runtime.assigned:
            return "no partitions of the joiner's topics are assigned to this worker"
        return None

    def health(self) -> dict[str, Any]:
        with self._lock:
            return {"status": "ok", "waiting_labels": self.joins.waiting_labels,
                    "pending_events": self.joins.pending_events,
                    "partitions": sorted(self.runtime.assigned),
                    "ready": self.not_ready() is None}

    def run(self) -> None:
        server = self._serve()
        try:
            self.runtime.run()
        finally:
            self.output.close()
            server.close()

    def _serve(self) -> HttpServer:
        def metrics(_body: bytes) -> Answer:
            return 200, CONTENT_TYPE_LATEST, generate_latest(self.metrics.registry)

        def health(_body: bytes) -> Answer:
            return 200, JSON, json.dumps(self.health()).encode()

        token = self.settings.http_token
        routes = {"/live": probe(self.heartbeat.check), "/ready": probe(self.not_ready),
                  "/metrics": Route(metrics, private=False), "/health": Route(health)}
        return HttpServer(self.settings.web_host, self.web_port, routes,
                          token=token.reveal() if token else None, name="joiner-http")

    def process(self, batch: list[Any]) -> Iterable[Outgoing]:
        began = time.perf_counter()
        records = [record_of(m) for m in batch]
        with self._lock:
            try:
                result = join_messages(records, self.joins, self.topics, inputs=self.inputs)
            except SchemaUnavailable:
                raise  # nothing to dead-letter: stop before committing the batch
            except Exception as exc:
                # An exception escaping the step would stop the worker: dead-letter the batch.
                logger.exception("joining failed for a batch of %d", len(batch))
                result = _whole_batch_failed(records, exc)
            _count(self.metrics, self.joins, result)
            offsets = self.joins.next_offsets()
        self.alignment.observe(offsets, result.event_times, now=time.time())
        _notice_forwarding(result, self._noticed, self.topics)
        self.metrics.batch_size.observe(len(batch))
        self.metrics.join_seconds.observe(time.perf_counter() - began)
        return self._outgoing(result)

    def tick(self) -> Iterable[Outgoing]:
        now = time.monotonic()
        if now < self._next_expiry:
            return ()
        self._next_expiry = now + self.expiry_seconds
        with self._lock:
            try:
                result = expire_waiting(self.joins)
            except Exception:
                logger.exception("expiring waiting labels failed; retrying at the next tick")
                return ()
            _count(self.metrics, self.joins, result)
        return self._outgoing(result)

    def pace(self, consumer: Any) -> None:
        from confluent_kafka import KafkaException, TopicPartition

        def high_watermark(topic: str, partition: int) -> int | None:
            try:
                _low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                            cached=True)
            except KafkaException:
                return None
            return int(high) if high >= 0 else None

        def crowded(topic: str, partition: int) -> bool:
            join = self.joins.get(partition)
            return join is not None and join.crowded(labels=topic == self.topics.labels)

        now = time.time()
        if self._expected:
            self._learn_ends(consumer, now)
        pause, resume = self.alignment.decide(high_watermark, crowded, now=now)
        if pause:
            consumer.pause([TopicPartition(t, p) for t, p in pause])
            for topic, _partition in pause:
                self.metrics.pauses.labels(topic=topic).inc()
            logger.debug("paused %s: ahead of the other topics' event time", pause)
        if resume:
            consumer.resume([TopicPartition(t, p) for t, p in resume])
        if pause or resume:
            self.metrics.paused.set(len(self.alignment.paused))

    def _learn_ends(self, consumer: Any, now: float) -> None:
        """Ask the broker where newly assigned partitions end, within ``ENDS_SECONDS`` in
        all: a partition left unanswered is read without holding the others back."""
        from confluent_kafka import KafkaException, TopicPartition

        expected, self._expected = self._expected, {}
        deadline = time.monotonic() + ENDS_SECONDS
        for (topic, partition), offset in expected.items():
            left = deadline - time.monotonic()
            if left <= 0:
                logger.warning("out of time learning where newly assigned partitions end: "
                               "%s[%d] and those after it are read without holding the "
                               "others back", topic, partition)
                break
            try:
                _low, end = consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                           timeout=left)
            except KafkaException as exc:
                logger.warning("no high watermark for %s[%d] (%s): it is read without "
                               "holding the others back", topic, partition, exc)
                continue
            self.alignment.expect((topic, partition), next_offset=offset, end=end, now=now)

    def release(self, consumer: Any, partitions: list[Any]) -> None:
        from confluent_kafka import KafkaException, TopicPartition

        paused = self.alignment.forget({p.partition for p in partitions})
        if paused:
            try:
                consumer.resume([TopicPartition(t, p) for t, p in paused])
            except KafkaException as exc:  # no longer assigned: nothing left to resume
                logger.debug("resuming %s on their way out: %s", paused, exc)
        self.metrics.paused.set(len(self.alignment.paused))

    def assigned(self, consumer: Any, partitions: list[Any]) -> dict[tuple[str, int], int]:
        owned = {p.partition for p in partitions}
        self._restoring = True
        try:
            with self._lock:
                dropped, added = self.joins.assign(owned)
                kept = self.joins.next_offsets()
            logger.info("joiner partitions=%s dropped=%s restoring=%s",
                        sorted(owned), sorted(dropped), sorted(added))
            start = dict(kept)
            if added:
                began = time.monotonic()
                restored, ends, missing = self.restorer.recover(added)
                with self._lock:
                    for partition, (join, _report) in restored.items():
                        self.joins.install(partition, join)
                if missing:  # acknowledged, as every output, before the next commit
                    logger.info("labeled events read back without outcomes: writing %d "
                                "outcomes records", len(missing))
                    self.output.send_to(self.topics.labeled_outcomes, missing)
                self.restorer.metrics.recovery_seconds.observe(time.monotonic() - began)
                start.update(ends)
            self._expected = {tp: offset for tp, offset in start.items()
                              if tp[0] in self.alignment.topics}
            with self._lock:
                _count(self.metrics, self.joins, JoinStepResult())
            self.restorer.metrics.assigned_partitions.set(len(owned))
            return start
        finally:
            self._restoring = False

    def revoked(self, partitions: list[Any], *, lost: bool) -> None:
        if not lost:
            # Dropped at the next assignment unless it gives them straight back.
            return
        gone = {p.partition for p in partitions}
        self.outcomes.forget(gone)
        with self._lock:
            self.joins.assign(set(self.joins) - gone)
            _count(self.metrics, self.joins, JoinStepResult())

    def _outcomes(self) -> tuple[Outgoing, ...]:
        return (Outgoing(self.topics.labeled_outcomes, self.outcomes.take()),)

    def _outgoing(self, result: JoinStepResult) -> tuple[Outgoing, ...]:
        for partition, labeled in result.labeled.items():
            self.outcomes.hold(partition, labeled)
        forwards = [(f.key, f.value, f.partition, f.headers) for f in result.forwards]
        letters = [(key, value, -1 if partition is None else partition)
                   for key, value, partition in result.dead_letters]
        return (Outgoing(self.topics.join_repartition, forwards, headers=True),
                Outgoing(self.topics.labeled_events, result.labeled_events),
                Outgoing(self.topics.dead_letters, letters))


def _whole_batch_failed(records: Sequence[KafkaRecord], exc: Exception) -> JoinStepResult:
    now = datetime.now(UTC)
    result = JoinStepResult()
    for record in records:
        result.skipped[("batch", "internal-error")] += 1
        result.dead_letters.append(
            (record.key, dead_letter(record, "internal-error", repr(exc), STAGE, now),
             record.partition)
        )
    return result


def _notice_forwarding(result: JoinStepResult, noticed: set[str], topics: Topics) -> None:
    """Say once per topic that its records are being repartitioned, and why."""
    for kind in sorted(result.forwarded.keys() - noticed):
        noticed.add(kind)
        logger.info("records of %s are in other partitions than murmur2 gives their key "
                    "(written by a client with another partitioner, such as librdkafka's "
                    "CRC32 default); they are joined after a hop through %s", kind,
                    topics.join_repartition)


def _count(metrics: JoinerMetrics, joins: PartitionedJoin, result: JoinStepResult) -> None:
    for topic, n in result.records_in.items():
        metrics.records_in.labels(topic=topic).inc(n)
    for topic, n in result.forwarded.items():
        metrics.forwarded.labels(topic=topic).inc(n)
    for (topic, reason), n in result.skipped.items():
        metrics.skipped.labels(topic=topic, reason=reason).inc(n)
    for model, n in Counter(model for model, _ in result.label_delays).items():
        metrics.labeled_out.labels(model=model).inc(n)
    for reason, n in result.unmatched.items():
        metrics.unmatched_labels.labels(reason=reason).inc(n)
    for kind, n in result.duplicates.items():
        metrics.duplicates.labels(kind=kind).inc(n)
    for reason, n in result.events_dropped.items():
        metrics.events_dropped.labels(reason=reason).inc(n)
    for kind, n in result.budget_evictions.items():
        metrics.budget_evictions.labels(kind=kind).inc(n)
    for model, delay in result.label_delays:
        metrics.label_delay_seconds.labels(model=model).observe(delay)
    waiting = joins.waiting_by_partition()
    for partition in waiting.keys() | metrics.waiting_partitions:
        if partition in waiting:
            metrics.waiting_labels.labels(partition=str(partition)).set(waiting[partition])
        else:
            metrics.waiting_labels.remove(str(partition))  # revoked: no longer this worker's
    metrics.waiting_partitions.clear()
    metrics.waiting_partitions.update(waiting)
    metrics.pending_events.set(joins.pending_events)
