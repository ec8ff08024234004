"""The label joiner: ``user-events``, ``predictions`` and ``labels`` in; ``labeled-events`` out.

One agent reads the three topics and ``join-repartition`` as one stream. They share
their partition count, and faust's assignor gives co-subscribed topics with equal
partition counts the same partition numbers. A record written to another partition
than murmur2 gives its key (by a client with another partitioner) is forwarded
there through ``join-repartition`` (:mod:`stream_processors.repartition`), so every
piece of a join reaches the same worker, whichever clients wrote them.
The agent runs with concurrency 1 (faust-streaming #606), and a timer gives up on
waiting labels when nothing arrives to do it.

The join's stores live in memory, one per partition number this worker owns, while
faust commits offsets as it goes. So when a partition is assigned (at start, or when
another worker left) its state is rebuilt from the tails of its topics before its
records are joined, and a revoked partition's state is dropped
(:mod:`stream_processors.join_rebalance`). Several workers can share the partitions,
restart or crash without forgetting waiting events and labels or joining twice.
Every store is bounded by count and age.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust
from faust.types import EventT
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from contracts.settings import Settings
from contracts.topics import Topics
from stream_processors.faust_app import as_record, build_faust_app, raw_topic
from stream_processors.join_rebalance import JoinRebalancer
from stream_processors.joiner_step import STAGE, JoinStepResult, expire_waiting, join_messages
from stream_processors.metrics import JoinerMetrics, joiner_metrics
from stream_processors.partitioned_join import PartitionedJoin
from stream_processors.scoring_step import dead_letter

logger = logging.getLogger(__name__)

# The stores' byte budget means nothing if the consumer holds tens of thousands of
# 64 KiB messages ahead of them: a batch, what the stream reads ahead and what is
# fetched per partition are bounded too (250 such events in flight measured ~80 MB).
MAX_BATCH = 250
BUFFERED_EVENTS = 256
FETCH_BYTES = 1024 * 1024  # at least the largest message
BATCH_WITHIN_SECONDS = 0.1
DEFAULT_LABEL_WAIT_SECONDS = 120.0
DEFAULT_TTL_SECONDS = 3600.0
DEFAULT_CAPACITY = 200_000
DEFAULT_RECOVERY_TIMEOUT_SECONDS = 60.0
APP_NAME = "joiner"


def build_joiner_app(
    settings: Settings,
    *,
    web_port: int,
    datadir: Path,
    label_wait_seconds: float = DEFAULT_LABEL_WAIT_SECONDS,
    ttl_seconds: float = DEFAULT_TTL_SECONDS,
    capacity: int = DEFAULT_CAPACITY,
    recovery_timeout_seconds: float = DEFAULT_RECOVERY_TIMEOUT_SECONDS,
) -> faust.App:
    metrics = joiner_metrics()
    joins = PartitionedJoin(partitions=settings.partitions, capacity=capacity,
                            ttl_seconds=ttl_seconds, label_wait_seconds=label_wait_seconds,
                            max_bytes=settings.joiner_memory_budget_bytes)
    topics = Topics(settings.topic_prefix)
    app = build_faust_app(APP_NAME, settings, web_port=web_port, datadir=datadir,
                          stream_buffer_maxsize=BUFFERED_EVENTS,
                          broker_max_poll_records=MAX_BATCH,
                          consumer_max_fetch_size=FETCH_BYTES)
    # The tail reader's consumer carries faust's group id, to read its committed offsets.
    rebalancer = JoinRebalancer(settings, group=APP_NAME, topics=topics, joins=joins,
                                registry=metrics.registry,
                                timeout_seconds=recovery_timeout_seconds)
    rebalancer.connect(app)
    sources = app.topic(topics.user_events, topics.predictions, topics.labels,
                        topics.join_repartition, key_type=bytes, value_type=bytes,
                        key_serializer="raw", value_serializer="raw")
    labeled_events = raw_topic(app, topics.labeled_events)
    dead_letters = raw_topic(app, topics.dead_letters)
    repartition = raw_topic(app, topics.join_repartition)

    async def send(result: JoinStepResult) -> None:
        for forward in result.forwards:
            await repartition.send(key=forward.key, value=forward.value,
                                   partition=forward.partition, headers=list(forward.headers))
        for key, value, partition in result.labeled_events:
            await labeled_events.send(key=key, value=value, partition=partition)
        for original_key, letter, origin_partition in result.dead_letters:
            await dead_letters.send(key=original_key, value=letter, partition=origin_partition)

    noticed: set[str] = set()

    @app.agent(sources, concurrency=1)
    async def join_labels(stream: Any) -> None:
        async for batch in stream.take_events(MAX_BATCH, within=BATCH_WITHIN_SECONDS):
            await rebalancer.ready.wait()  # newly assigned partitions are restored first
            began = time.perf_counter()
            try:
                result = join_messages([as_record(e) for e in batch], joins, topics)
            except Exception as exc:
                # An exception escaping the agent would ack (lose) the batch: dead-letter it.
                logger.exception("joining failed for a batch of %d", len(batch))
                result = _whole_batch_failed(batch, exc)
            await send(result)
            _count(metrics, joins, result)
            _notice_forwarding(result, noticed, topics)
            metrics.batch_size.observe(len(batch))
            metrics.join_seconds.observe(time.perf_counter() - began)

    @app.timer(_expiry_interval(label_wait_seconds))  # type: ignore[untyped-decorator]
    async def expire_labels() -> None:
        try:
            result = expire_waiting(joins)
            await send(result)
            _count(metrics, joins, result)
        except Exception:
            logger.exception("expiring waiting labels failed; retrying at the next tick")

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        # aiohttp refuses a charset inside ``content_type``; as a header it passes intact.
        return web.bytes(generate_latest(metrics.registry),
                         headers={"Content-Type": CONTENT_TYPE_LATEST})

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        return web.json({"status": "ok", "waiting_labels": joins.waiting_labels,
                         "pending_events": joins.pending_events, "partitions": list(joins),
                         "ready": rebalancer.ready.is_set()})

    logger.info("joiner label_wait_seconds=%g ttl_seconds=%g capacity=%d "
                "per_partition_capacity=%d", label_wait_seconds, ttl_seconds, capacity,
                joins.share)
    return app


def _expiry_interval(label_wait_seconds: float) -> float:
    return max(0.2, min(5.0, label_wait_seconds / 4))


def _whole_batch_failed(batch: Sequence[EventT[Any]], exc: Exception) -> JoinStepResult:
    now = datetime.now(UTC)
    result = JoinStepResult()
    for event in batch:
        record = as_record(event)
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
    metrics.labeled_out.inc(len(result.labeled_events))
    for reason, n in result.unmatched.items():
        metrics.unmatched_labels.labels(reason=reason).inc(n)
    for kind, n in result.duplicates.items():
        metrics.duplicates.labels(kind=kind).inc(n)
    for reason, n in result.events_dropped.items():
        metrics.events_dropped.labels(reason=reason).inc(n)
    for kind, n in result.budget_evictions.items():
        metrics.budget_evictions.labels(kind=kind).inc(n)
    for delay in result.label_delays:
        metrics.label_delay_seconds.observe(delay)
    waiting = joins.waiting_by_partition()
    for partition in waiting.keys() | metrics.waiting_partitions:
        if partition in waiting:
            metrics.waiting_labels.labels(partition=str(partition)).set(waiting[partition])
        else:
            metrics.waiting_labels.remove(str(partition))  # revoked: no longer this worker's
    metrics.waiting_partitions.clear()
    metrics.waiting_partitions.update(waiting)
    metrics.pending_events.set(joins.pending_events)
