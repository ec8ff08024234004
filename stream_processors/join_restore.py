"""Rebuild the joiner's newly assigned partitions from the tails of their topics.

The join's stores live in memory while the joiner commits its offsets as it goes, so
a partition given to a worker (at start, or when another worker left) is rebuilt
before any of its records is joined: :mod:`~stream_processors.tail_reader` reads
the tails, :mod:`~stream_processors.join_recovery` restores them, and each source
partition then resumes where its restored tail ends (the group's committed offset).

If the tails cannot be read (the broker does not answer within the deadline, after
retries), the exception stops the worker rather than let it join with state it
knows to be missing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Set
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from contracts.decoding import JSON_INPUTS, InputDecoders
from contracts.settings import JoinerSettings
from contracts.topics import Topics
from stream_processors.join_recovery import RestoreReport, restore_partitions
from stream_processors.label_join import LabelJoin
from stream_processors.labeled_outcomes import Output, outcomes_after
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


class JoinRestorer:
    """Read and restore newly assigned partitions, with metrics and logs of each."""

    def __init__(self, settings: JoinerSettings, *, group: str, topics: Topics,
                 joins: PartitionedJoin,
                 registry: CollectorRegistry, timeout_seconds: float = 60.0,
                 reader: Reader = read_tails, inputs: InputDecoders = JSON_INPUTS) -> None:
        self.settings = settings
        self.inputs = inputs
        self.reader = reader
        self.group = group
        self.topics = topics
        self.joins = joins
        self.timeout_seconds = timeout_seconds
        self.metrics = rebalance_metrics(registry)
        self._sources = {topics.user_events, topics.predictions, topics.labels,
                         topics.join_repartition}

    def recover(self, partitions: Set[int]) -> tuple[dict[int, tuple[LabelJoin, RestoreReport]],
                                                     dict[tuple[str, int], int], list[Output]]:
        """Read and restore ``partitions``, retrying the broker until the deadline (blocking).

        Returns the restored joins, where each source partition's tail ends, and the
        outcomes of labeled events read back that no outcomes record covers
        (:func:`~stream_processors.labeled_outcomes.outcomes_after`).
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
        outcomes = self.topics.labeled_outcomes
        restored = restore_partitions([r for r in read.records if r.topic != outcomes],
                                      self.joins, partitions, self.topics, now=now,
                                      inputs=self.inputs)
        missing = [o for p in sorted(partitions) for o in outcomes_after(
            [r for r in read.records if r.topic == self.topics.labeled_events
             and r.partition == p],
            [r for r in read.records if r.topic == outcomes and r.partition == p], p)]
        cut = {r.partition for r in read.unfinished}
        for partition, (_, report) in sorted(restored.items()):
            spans = " ".join(f"{r.topic}[{r.start}:{r.end}]" for r in read.ranges
                             if r.partition == partition)
            self._report(partition, report, spans, cut_short=partition in cut)
        ends = {(r.topic, r.partition): r.end for r in read.ranges if r.topic in self._sources}
        return restored, ends, missing

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
