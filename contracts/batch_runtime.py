"""The batch loop every confluent-kafka service of streamml runs on.

Order of work: consume a batch, hand it to the service's step (which returns the
records to send), hand those to the producer, and go on with the next batch while
they are in flight. When the :class:`CommitPolicy` says so (and before a rebalance
hands partitions over, and on the way out) send what the step held back until then
(``held``), wait until the broker has acknowledged every output sent so far, send and
wait for what the step makes of those acknowledgements (``acknowledged``: the joiner's
outcomes, which name the offsets its labeled events got), then store and commit the
offsets of the batches they came from. A crash in between repeats those
batches (at-least-once); it never skips one.

A runtime reads either as a member of a consumer group (:class:`Subscription`) or
partitions it assigns itself (:class:`Assignment`), as the monitor, the retrainer and
the model watcher do: they rebuild state from bounded tails and need every partition.

For a group, assignment, revocation and loss are handled here once: a revocation
commits what was processed, then the step drops the partitions' state; a loss drops
their uncommitted offsets (another worker may own them already), then the state; an
assignment lets the step rebuild the new partitions' state, and start them where that
state ends, before any of their records is consumed.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol

from contracts.batch_output import BatchOutput
from contracts.http_server import Heartbeat
from contracts.kafka_clients import KafkaRecord, make_consumer
from contracts.settings import SharedSettings

if TYPE_CHECKING:
    from confluent_kafka import Consumer, Message, TopicPartition

logger = logging.getLogger(__name__)

Headers = tuple[tuple[str, bytes], ...]
# A batch allocates thousands of short-lived records; at CPython's default (a young
# collection every 700 allocations, which also scans the join's waiting state when
# older generations come due) collection took a fifth of the joiner step's CPU.
# With these the join step takes about 11% less CPU (50,000 synthetic events).
GC_THRESHOLDS = (10_000, 20, 20)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """Records for one topic: ``(key, value, partition)`` each, with ``headers`` as a
    fourth element when ``headers`` is set."""

    topic: str
    records: Iterable[Any]
    headers: bool = False


@dataclass(frozen=True)
class CommitPolicy:
    """Commit once ``seconds`` passed or ``events`` were consumed since the last commit,
    and (``when_dry``) whenever a poll comes back empty."""

    seconds: float
    events: int
    when_dry: bool = True

    def due(self, *, since_seconds: float, since_events: int, dry: bool) -> bool:
        """
        >>> policy = CommitPolicy(seconds=1.0, events=100, when_dry=False)
        >>> policy.due(since_seconds=0.5, since_events=10, dry=True)
        False
        >>> policy.due(since_seconds=0.5, since_events=100, dry=False)
        True
        """
        return ((dry and self.when_dry) or since_events >= self.events
                or since_seconds >= self.seconds)


class BatchStep(Protocol):
    """What a service plugs into :class:`BatchRuntime`."""

    def process(self, batch: list[Message]) -> Iterable[Outgoing]:
        """The records to send for a batch (never raises for bad input: dead-letter it)."""

    def tick(self) -> Iterable[Outgoing]:
        """Records to send at a turn of the loop, whether or not a batch came."""


class GroupMember(Protocol):
    """What a step of a consumer group does when partitions come and go."""

    def assigned(self, consumer: Consumer,
                 partitions: list[TopicPartition]) -> dict[tuple[str, int], int]:
        """Rebuild state of newly assigned ``partitions``; where they start, if not at
        the group's committed offsets."""

    def revoked(self, partitions: list[TopicPartition], *, lost: bool) -> None:
        """Drop the state of ``partitions``; processed records are committed unless ``lost``."""


class Pacer(Protocol):
    """Pauses and resumes partitions between batches, to choose what is read next."""

    def pace(self, consumer: Consumer) -> None:
        """Called at every turn of the loop, after the batch (if any) was processed."""

    def release(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Resume those of ``partitions`` it paused: they are about to be revoked or lost,
        and a paused partition would stay paused when assigned again."""


@dataclass(frozen=True)
class Subscription:
    """Partitions handed out by the group to ``member``, which rebuilds their state."""

    topics: Sequence[str]
    member: GroupMember


@dataclass(frozen=True)
class Assignment:
    """Partitions the service reads itself, whichever other readers there are.

    ``plan`` picks them and their start offsets once, with the runtime's consumer.
    ``at_end`` hears when a partition is read to its current end (then partition EOF
    is turned on), with the offset it ends at.
    """

    plan: Callable[[Consumer], list[TopicPartition]]
    at_end: Callable[[str, int, int], None] | None = None


class BatchRuntime:
    """One consumer running a :class:`BatchStep`; :meth:`run` returns after :meth:`stop`.

    ``output`` is None for a step that sends nothing through the runtime, ``policy``
    None for a reader that never commits, and ``pacer`` None for reading each partition
    as fast as it comes. ``held`` gives the records a step makes of the batches since
    the last commit (the scoring processor's summaries), sent before it;
    ``acknowledged`` those it makes once every output sent so far is acknowledged,
    acknowledged in turn before the commit."""

    def __init__(self, settings: SharedSettings, *, group: str, source: Subscription | Assignment,
                 step: BatchStep, output: BatchOutput | None, heartbeat: Heartbeat,
                 policy: CommitPolicy | None, max_batch: int, poll_seconds: float,
                 consumer_config: dict[str, Any] | None = None,
                 read_size: int | None = None, max_batch_bytes: int | None = None,
                 pacer: Pacer | None = None,
                 held: Callable[[], Iterable[Outgoing]] | None = None,
                 acknowledged: Callable[[], Iterable[Outgoing]] | None = None) -> None:
        self.settings = settings
        self.group = group
        self.source = source
        self.step = step
        self.output = output
        self.heartbeat = heartbeat
        self.policy = policy
        self.max_batch = max_batch
        self.read_size = read_size or max_batch
        self.max_batch_bytes = max_batch_bytes
        self.poll_seconds = poll_seconds
        self.pacer = pacer
        self.held = held
        self.acknowledged = acknowledged
        self.consumer_config = consumer_config or {}
        if isinstance(source, Assignment) and source.at_end is not None:
            self.consumer_config["enable.partition.eof"] = True
        # Partition numbers held (the topics of one runtime are co-partitioned).
        self.assigned: set[int] = set()
        self._stopping = threading.Event()
        # Next offsets of batches whose outputs were sent but not yet acknowledged.
        self._uncommitted: dict[tuple[str, int], int] = {}

    def stop(self) -> None:
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def run(self) -> None:
        consumer = make_consumer(self.settings, self.group, **self.consumer_config)
        try:
            self._start(consumer)
            self._loop(consumer)
        finally:
            self._settle(consumer, asynchronous=False)
            consumer.close()

    def _start(self, consumer: Consumer) -> None:
        if isinstance(self.source, Assignment):
            partitions = self.source.plan(consumer)
            consumer.assign(partitions)
            self.assigned.update(p.partition for p in partitions)
        else:
            consumer.subscribe(list(self.source.topics), on_assign=self.on_assign,
                               on_revoke=self.on_revoke, on_lost=self.on_lost)

    def _loop(self, consumer: Consumer) -> None:
        last_commit, since = time.monotonic(), 0
        while not self._stopping.is_set():
            self.heartbeat.beat()
            messages = gather(consumer.consume, max_messages=self.max_batch,
                              read_size=self.read_size, max_bytes=self.max_batch_bytes,
                              timeout=self.poll_seconds)
            batch = [m for m in messages if m.error() is None]
            if batch:
                self._send(self.step.process(batch))
                since += len(batch)
                if self.policy is not None:
                    self._uncommitted.update(_next_offsets(batch))
            if len(batch) < len(messages):  # after the batch: an end follows its records
                self._errors(m for m in messages if m.error() is not None)
            self._send(self.step.tick())
            if self.pacer is not None:
                self.pacer.pace(consumer)
            now = time.monotonic()
            if self._uncommitted and self.policy is not None and self.policy.due(
                    since_seconds=now - last_commit, since_events=since, dry=not batch):
                self._settle(consumer, asynchronous=True)
                last_commit, since = now, 0

    def _errors(self, messages: Iterable[Message]) -> None:
        from confluent_kafka import KafkaError, KafkaException

        at_end = self.source.at_end if isinstance(self.source, Assignment) else None
        for m in messages:
            error = m.error()
            if error is None:
                continue
            if error.code() == KafkaError._PARTITION_EOF:
                if at_end is not None:
                    at_end(m.topic() or "", m.partition() or 0, m.offset() or 0)
            elif error.fatal():
                raise KafkaException(error)
            else:  # librdkafka retries these itself
                logger.warning("consuming %s[%s]: %s", m.topic(), m.partition(), error)

    def _send(self, outgoing: Iterable[Outgoing]) -> None:
        for out in outgoing:
            if self.output is None:
                raise TypeError(f"a step without an output sent records to {out.topic}")
            if out.headers:
                self.output.send_with_headers(out.topic, out.records)
            else:
                self.output.send_to(out.topic, out.records)

    def _settle(self, consumer: Any, *, asynchronous: bool) -> None:
        """Wait for every output sent so far, then commit the offsets they came from."""
        from confluent_kafka import TopicPartition

        if self.output is not None:
            if self.held is not None:
                self._send(self.held())
            self.output.wait_blocking()
            if self.acknowledged is not None:
                self._send(self.acknowledged())
                self.output.wait_blocking()
        if self.policy is None:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._uncommitted.items()
                   if p in self.assigned]
        self._uncommitted.clear()
        if offsets:
            consumer.store_offsets(offsets=offsets)
        if not asynchronous:
            _commit_quietly(consumer)
        elif offsets:
            consumer.commit(asynchronous=True)

    def _member(self) -> GroupMember:
        assert isinstance(self.source, Subscription)  # noqa: S101 - only a group calls back
        return self.source.member

    def on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        start = self._member().assigned(consumer, partitions)
        if start:
            from confluent_kafka import TopicPartition

            consumer.assign([TopicPartition(p.topic, p.partition,
                                            start.get((p.topic, p.partition), p.offset))
                             for p in partitions])
        self.assigned.update(p.partition for p in partitions)
        logger.info("assigned partitions=%s", sorted(self.assigned))

    def on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        # Everything consumed so far was processed (the loop is single-threaded); once
        # its outputs are acknowledged, committing hands the partitions over.
        self._settle(consumer, asynchronous=False)
        if self.pacer is not None:
            self.pacer.release(consumer, partitions)
        revoked = {p.partition for p in partitions}
        self.assigned.difference_update(revoked)
        self._member().revoked(partitions, lost=False)
        logger.info("revoked partitions=%s kept=%s", sorted(revoked), sorted(self.assigned))

    def on_lost(self, consumer: Any, partitions: list[Any]) -> None:
        # Lost, not handed over: another worker may own them already, so their
        # uncommitted offsets are dropped and that worker repeats those records.
        lost = {p.partition for p in partitions}
        self.assigned.difference_update(lost)
        logger.warning("lost partitions=%s: the group rebalanced without this worker (no "
                       "heartbeat within the session timeout, or more than "
                       "max.poll.interval.ms between two polls)", sorted(lost))
        self._uncommitted = {tp: o for tp, o in self._uncommitted.items() if tp[1] not in lost}
        if self.pacer is not None:
            self.pacer.release(consumer, partitions)
        self._member().revoked(partitions, lost=True)


class Worker(Protocol):
    def run(self) -> None: ...

    def stop(self) -> None: ...


def run_until_signalled(worker: Worker) -> None:
    """Run ``worker`` until SIGTERM or SIGINT, which let it commit and close on its way out."""
    def stop(_signum: int, _frame: FrameType | None) -> None:
        worker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # What start-up left (imports, clients: some 175,000 objects in the monitor) lives
    # as long as the process: frozen, a full collection no longer walks it (85 ms each).
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    worker.run()


def gather(read: Callable[[int, float], list[Any]], *, max_messages: int, read_size: int,
           max_bytes: int | None, timeout: float) -> list[Any]:
    """One batch, in reads of at most ``read_size`` messages: until ``max_messages`` are
    held, or values of ``max_bytes`` or more, or a read comes back short (nothing more
    was waiting). Only the first read waits, up to ``timeout``.

    A fetch's byte limits count compressed bytes, and alike messages compress many
    times over, so only the values' own lengths bound what a batch holds: at most
    ``max_bytes`` plus one read of the largest messages.

    >>> class M:
    ...     def __init__(self, n): self.n = n
    ...     def value(self): return b"x" * self.n
    >>> waiting = [M(100)] * 10 + [M(60_000)] * 10
    >>> def read(n, _timeout):
    ...     got = waiting[:n]; del waiting[:n]; return got
    >>> [len(gather(read, max_messages=8, read_size=3, max_bytes=100_000, timeout=0.1))
    ...  for _ in range(5)]  # 8 small; 2 small and 4 large (2 reads); 3 large; 3; none
    [8, 6, 3, 3, 0]
    """
    batch: list[Any] = []
    held = 0
    while len(batch) < max_messages:
        want = min(read_size, max_messages - len(batch))
        got = read(want, timeout if not batch else 0.0)
        batch.extend(got)
        if max_bytes is not None:
            held += sum(len(m.value() or b"") for m in got)
            if held >= max_bytes:
                break
        if len(got) < want:
            break
    return batch


def record_of(message: Any) -> KafkaRecord:
    """A consumed message as the record that crosses package boundaries."""
    return KafkaRecord(
        topic=message.topic() or "", partition=message.partition() or 0,
        offset=message.offset() or 0, key=message.key(), value=message.value(),
        timestamp_ms=max(message.timestamp()[1], 0),
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


__all__ = ["GC_THRESHOLDS", "Assignment", "BatchRuntime", "BatchStep", "CommitPolicy",
           "GroupMember", "Outgoing", "Pacer", "Subscription", "Worker", "gather", "record_of",
           "run_until_signalled"]
