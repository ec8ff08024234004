"""Keep the joiner's per-partition state in step with faust's partition assignment.

faust (eager rebalancing, through aiokafka) revokes every partition, then assigns
the new set; both callbacks run one after the other, on the app's loop. On
assignment the state of partitions no longer owned is dropped, and each newly owned
partition is rebuilt from the tails of its topics (:mod:`~stream_processors.tail_reader`
reads, :mod:`~stream_processors.join_recovery` restores) before any of its records
is joined. Two holds make sure of that:

- ``on_rebalance_complete``: faust's table-recovery service sends this signal and
  awaits it just before it resumes the paused partitions and seeks them to the
  committed offsets; while it waits for the restore, nothing new is fetched.
- the agent awaits :attr:`JoinRebalancer.ready` before each batch, which holds even
  if faust ever resumes streams earlier.

While holding, the source partitions are also sought to where joining must resume,
since faust only seeks partitions that have a committed offset, and otherwise
resumes where the consumer happened to be (seen with faust-streaming 0.15 and
aiokafka: a partition the group never committed starts at its end when assigned in a
rebalance, and a kept one skips the records fetched but dropped by the rebalance):

- a newly assigned partition resumes where its restored tail ends: the group's
  committed offset, or the partition's first offset if the group never committed;
- a kept partition resumes just after the last record this worker joined.

faust's own seek then moves every committed partition to its commit, so records
after the commit come again; the state has them, so they count as duplicates.

If the tails cannot be read (the broker does not answer within the deadline, after
retries), the exception reaches faust, which crashes the worker rather than join
with state it knows to be missing; the partitions stay paused until then.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Set
from dataclasses import dataclass
from typing import Any

from faust.types import TP
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from contracts.settings import Settings
from contracts.topics import Topics
from stream_processors.join_recovery import RestoreReport, restore_partitions
from stream_processors.label_join import LabelJoin
from stream_processors.partitioned_join import PartitionedJoin
from stream_processors.tail_reader import TailRead, TailWindows, read_tails

logger = logging.getLogger(__name__)

RECOVERY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
RETRY_SECONDS = 1.0

Reader = Callable[..., TailRead]


@dataclass(frozen=True)
class RebalanceMetrics:
    recoveries: Counter
    restored: Counter
    recovery_seconds: Histogram
    assigned_partitions: Gauge


def rebalance_metrics(registry: CollectorRegistry) -> RebalanceMetrics:
    return RebalanceMetrics(
        recoveries=Counter("streamml_join_recoveries",
                           "Partitions whose join state was rebuilt from the topics' tails, "
                           "by outcome (cut-short: the deadline stopped the reading)",
                           ["outcome"], registry=registry),
        restored=Counter("streamml_join_restored",
                         "Joined ids, pending events and waiting labels rebuilt on assignment",
                         ["kind"], registry=registry),
        recovery_seconds=Histogram("streamml_join_recovery_seconds",
                                   "Time to rebuild the state of newly assigned partitions",
                                   buckets=RECOVERY_BUCKETS, registry=registry),
        assigned_partitions=Gauge("streamml_join_assigned_partitions",
                                  "Partitions this worker joins", registry=registry),
    )


class JoinRebalancer:
    """Drop revoked partitions' state and restore newly assigned ones before joining them."""

    def __init__(self, settings: Settings, *, group: str, topics: Topics, joins: PartitionedJoin,
                 registry: CollectorRegistry, timeout_seconds: float = 60.0,
                 reader: Reader = read_tails) -> None:
        self.settings = settings
        self.reader = reader
        self.group = group
        self.topics = topics
        self.joins = joins
        self.timeout_seconds = timeout_seconds
        self.metrics = rebalance_metrics(registry)
        self.ready = asyncio.Event()
        self._sources = {topics.user_events, topics.predictions, topics.labels,
                         topics.join_repartition}
        self._start_at: dict[tuple[str, int], int] = {}

    def connect(self, app: Any) -> None:
        app.on_partitions_revoked.connect(self.on_revoked)
        app.on_partitions_assigned.connect(self.on_assigned)
        app.on_rebalance_complete.connect(self.hold_streams)

    async def on_revoked(self, app: Any, revoked: Set[Any], **_: Any) -> None:
        self.ready.clear()

    async def on_assigned(self, app: Any, assigned: Set[Any], **_: Any) -> None:
        self.ready.clear()
        owned = {tp.partition for tp in assigned if tp.topic in self._sources}
        dropped, added = self.joins.assign(owned)
        logger.info("joiner partitions=%s dropped=%s restoring=%s",
                    sorted(owned), sorted(dropped), sorted(added))
        self._start_at = {}
        if added:
            began = time.monotonic()
            restored, self._start_at = await asyncio.to_thread(self.recover, added)
            for partition, (join, _report) in restored.items():
                self.joins.install(partition, join)
            self.metrics.recovery_seconds.observe(time.monotonic() - began)
        self.metrics.assigned_partitions.set(len(owned))
        self.ready.set()

    async def hold_streams(self, app: Any, **_: Any) -> None:
        await self.ready.wait()
        offsets = self.resume_offsets()
        if offsets:
            await app.consumer.seek_wait(offsets)

    def resume_offsets(self) -> dict[TP, int]:
        """Where each source partition resumes: see the module's docstring."""
        offsets = {**self.joins.next_offsets(), **self._start_at}
        return {TP(topic, partition): offset for (topic, partition), offset in offsets.items()}

    def recover(self, partitions: Set[int]) -> tuple[dict[int, tuple[LabelJoin, RestoreReport]],
                                                     dict[tuple[str, int], int]]:
        """Read and restore ``partitions``, retrying the broker until the deadline (blocking).

        Returns the restored joins, and where each source partition's tail ends.
        """
        from confluent_kafka import KafkaException

        deadline = time.monotonic() + self.timeout_seconds
        windows = TailWindows(ttl_seconds=self.joins.ttl_seconds,
                              label_wait_seconds=self.joins.label_wait_seconds,
                              limit=2 * self.joins.share)
        while True:
            now = time.time()
            try:
                read = self.reader(self.settings, group=self.group, topics=self.topics,
                                  partitions=partitions, windows=windows,
                                  timeout=max(1.0, deadline - time.monotonic()), now=now)
                break
            except KafkaException as exc:
                if time.monotonic() + RETRY_SECONDS >= deadline:
                    raise
                logger.warning("reading back partitions %s failed (%s); retrying",
                               sorted(partitions), exc)
                time.sleep(RETRY_SECONDS)
        restored = restore_partitions(read.records, self.joins, partitions, self.topics,
                                      now=now)
        cut = {r.partition for r in read.unfinished}
        for partition, (_, report) in sorted(restored.items()):
            spans = " ".join(f"{r.topic}[{r.start}:{r.end}]" for r in read.ranges
                             if r.partition == partition)
            self._report(partition, report, spans, cut_short=partition in cut)
        ends = {(r.topic, r.partition): r.end for r in read.ranges if r.topic in self._sources}
        return restored, ends

    def _report(self, partition: int, report: RestoreReport, spans: str, *,
                cut_short: bool) -> None:
        outcome = "cut-short" if cut_short else "complete"
        self.metrics.recoveries.labels(outcome=outcome).inc()
        self.metrics.restored.labels(kind="joined-ids").inc(report.joined_ids)
        self.metrics.restored.labels(kind="pending-events").inc(report.pending_events)
        self.metrics.restored.labels(kind="waiting-labels").inc(report.waiting_labels)
        log = logger.warning if cut_short else logger.info
        log("restored partition=%d outcome=%s offsets=%s read=%s joined_ids=%d "
            "pending_events=%d waiting_labels=%d rejoined=%d skipped=%d labels_pushed_out=%d",
            partition, outcome, spans, dict(report.read), report.joined_ids,
            report.pending_events, report.waiting_labels, report.rejoined,
            sum(report.skipped.values()), report.labels_pushed_out)
        if cut_short:
            logger.warning("partition=%d was read back only in part within %gs; labels of "
                           "events in the unread part will be dead-lettered as no-scored-event",
                           partition, self.timeout_seconds)
