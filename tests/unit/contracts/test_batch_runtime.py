from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from confluent_kafka import TopicPartition

from contracts import batch_runtime
from contracts.batch_runtime import (
    Assignment,
    BatchRuntime,
    CommitPolicy,
    Outgoing,
    Subscription,
    record_of,
)
from contracts.http_server import Heartbeat
from contracts.settings import Settings


class Message:
    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self._at = (topic, partition, offset)

    def topic(self) -> str:
        return self._at[0]

    def partition(self) -> int:
        return self._at[1]

    def offset(self) -> int:
        return self._at[2]

    def error(self) -> None:
        return None

    def key(self) -> bytes:
        return b"u1"

    def value(self) -> bytes:
        return f"v{self._at[2]}".encode()

    def timestamp(self) -> tuple[int, int]:
        return 1, 1000

    def headers(self) -> None:
        return None


class Consumer:
    """Hands out ``batches`` one per poll, then stops the runtime; records the rest."""

    def __init__(self, runtime: BatchRuntime, batches: list[list[Message]],
                 log: list[str]) -> None:
        self.runtime, self.batches, self.log = runtime, batches, log
        self.assigned: list[TopicPartition] = []

    def subscribe(self, topics: list[str], **_callbacks: Any) -> None:
        self.log.append(f"subscribe {topics}")

    def consume(self, _n: int, _timeout: float) -> list[Message]:
        if not self.batches:
            self.runtime.stop()
            return []
        return self.batches.pop(0)

    def store_offsets(self, offsets: list[TopicPartition]) -> None:
        self.log.append("store " + " ".join(f"{tp.topic}[{tp.partition}]@{tp.offset}"
                                            for tp in offsets))

    def commit(self, asynchronous: bool = True) -> None:
        self.log.append("commit")

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned = partitions

    def close(self) -> None:
        self.log.append("close")


class Output:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def send_to(self, topic: str, records: Iterable[Any]) -> None:
        self.log.append(f"send {topic} {len(list(records))}")

    def send_with_headers(self, topic: str, records: Iterable[Any]) -> None:
        self.log.append(f"send+headers {topic} {len(list(records))}")

    def wait_blocking(self) -> None:
        self.log.append("acknowledged")


class Step:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def process(self, batch: list[Any]) -> Iterable[Outgoing]:
        return [Outgoing("out", [(m.key(), m.value(), m.partition()) for m in batch])]

    def tick(self) -> Iterable[Outgoing]:
        return [Outgoing("fwd", [], headers=True)]

    def assigned(self, consumer: Any, partitions: list[Any]) -> dict[tuple[str, int], int]:
        return {("in", 1): 42}

    def revoked(self, partitions: list[Any], *, lost: bool) -> None:
        self.log.append(f"revoked {[p.partition for p in partitions]} lost={lost}")


def runtime_with(log: list[str], policy: CommitPolicy) -> BatchRuntime:
    step = Step(log)
    return BatchRuntime(Settings(), group="g", source=Subscription(["in"], step), step=step,
                        output=Output(log), heartbeat=Heartbeat(),  # type: ignore[arg-type]
                        policy=policy, max_batch=10, poll_seconds=0.0)


def test_offsets_are_stored_only_after_the_outputs_they_came_from_are_acknowledged(
        monkeypatch: Any) -> None:
    log: list[str] = []
    runtime = runtime_with(log, CommitPolicy(seconds=3600, events=3, when_dry=False))
    runtime.assigned = {0, 1}
    batches = [[Message("in", 0, 5), Message("in", 1, 9)], [Message("in", 0, 6)]]
    monkeypatch.setattr(batch_runtime, "make_consumer",
                        lambda *_a, **_k: Consumer(runtime, batches, log))
    runtime.run()

    assert log == [
        "subscribe ['in']",
        "send out 2", "send+headers fwd 0",
        "send out 1", "send+headers fwd 0",
        # three events: the policy's count is reached
        "acknowledged", "store in[0]@7 in[1]@10", "commit",
        "send+headers fwd 0",
        "acknowledged", "commit", "close",  # on the way out, nothing new to store
    ]


def test_what_a_step_holds_until_a_commit_is_sent_before_it_and_acknowledged_with_the_rest(
        monkeypatch: Any) -> None:
    log: list[str] = []
    held: list[int] = []
    step = Step(log)

    def process(batch: list[Any]) -> Iterable[Outgoing]:
        held.extend(m.offset() for m in batch)
        return Step.process(step, batch)

    def take() -> Iterable[Outgoing]:
        out = [Outgoing("summaries", list(held))]
        held.clear()
        return out
    monkeypatch.setattr(step, "process", process)
    runtime = BatchRuntime(Settings(), group="g", source=Subscription(["in"], step), step=step,
                           output=Output(log), heartbeat=Heartbeat(),  # type: ignore[arg-type]
                           policy=CommitPolicy(seconds=3600, events=3, when_dry=False),
                           max_batch=10, poll_seconds=0.0, held=take)
    runtime.assigned = {0, 1}
    batches = [[Message("in", 0, 5), Message("in", 1, 9)], [Message("in", 0, 6)]]
    monkeypatch.setattr(batch_runtime, "make_consumer",
                        lambda *_a, **_k: Consumer(runtime, batches, log))
    runtime.run()

    assert [line for line in log if not line.startswith("send+headers")] == [
        "subscribe ['in']", "send out 2", "send out 1",
        "send summaries 3", "acknowledged", "store in[0]@7 in[1]@10", "commit",
        "send summaries 0", "acknowledged", "commit", "close",
    ]


def test_an_assignment_starts_partitions_where_the_step_says_and_a_loss_drops_offsets() -> None:
    log: list[str] = []
    runtime = runtime_with(log, CommitPolicy(seconds=1, events=1))
    consumer = Consumer(runtime, [], log)
    runtime.on_assign(consumer, [TopicPartition("in", 0), TopicPartition("in", 1)])
    assert [(tp.partition, tp.offset) for tp in consumer.assigned] == [(0, -1001), (1, 42)]
    assert runtime.assigned == {0, 1}

    runtime._uncommitted = {("in", 0): 3, ("in", 1): 4}
    runtime.on_lost(consumer, [TopicPartition("in", 1)])
    assert runtime._uncommitted == {("in", 0): 3}
    assert runtime.assigned == {0}
    assert log[-1] == "revoked [1] lost=True"


class EndOfPartition(Message):
    def error(self) -> Any:
        from confluent_kafka import KafkaError

        return KafkaError(KafkaError._PARTITION_EOF)


class Reader:
    """A step that sends nothing: it only keeps what it read."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def process(self, batch: list[Any]) -> Iterable[Outgoing]:
        self.log.append("read " + " ".join(str(m.offset()) for m in batch))
        return ()

    def tick(self) -> Iterable[Outgoing]:
        return ()


def test_a_reader_assigns_its_own_partitions_hears_their_ends_and_never_commits(
        monkeypatch: Any) -> None:
    log: list[str] = []
    reader = Reader(log)
    source = Assignment(lambda _consumer: [TopicPartition("in", 0, 5), TopicPartition("in", 2, 0)],
                        at_end=lambda t, p, o: log.append(f"end {t}[{p}]@{o}"))
    runtime = BatchRuntime(Settings(), group="g", source=source, step=reader, output=None,
                           heartbeat=Heartbeat(), policy=None, max_batch=10, poll_seconds=0.0)
    batches = [[Message("in", 0, 5), Message("in", 0, 6), EndOfPartition("in", 0, 7)],
               [EndOfPartition("in", 2, 0)]]
    consumer = Consumer(runtime, batches, log)
    monkeypatch.setattr(batch_runtime, "make_consumer", lambda *_a, **_k: consumer)
    runtime.run()

    assert [(tp.partition, tp.offset) for tp in consumer.assigned] == [(0, 5), (2, 0)]
    assert runtime.assigned == {0, 2}
    assert runtime.consumer_config["enable.partition.eof"] is True
    assert log == ["read 5 6", "end in[0]@7", "end in[2]@0", "close"]


def test_a_record_carries_what_the_message_said() -> None:
    record = record_of(Message("in", 2, 7))
    assert (record.topic, record.partition, record.offset, record.value,
            record.timestamp_ms) == ("in", 2, 7, b"v7", 1000)


class Pacer:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def pace(self, consumer: Any) -> None:
        self.log.append("pace")

    def release(self, consumer: Any, partitions: list[Any]) -> None:
        self.log.append(f"release {[p.partition for p in partitions]}")


def test_a_pacer_is_asked_at_every_turn_and_releases_partitions_before_they_go(
        monkeypatch: Any) -> None:
    log: list[str] = []
    step = Step(log)
    runtime = BatchRuntime(Settings(), group="g", source=Subscription(["in"], step), step=step,
                           output=Output(log), heartbeat=Heartbeat(),  # type: ignore[arg-type]
                           policy=CommitPolicy(seconds=3600, events=100), max_batch=10,
                           poll_seconds=0.0, pacer=Pacer(log))
    runtime.assigned = {0, 1}
    batches: list[list[Message]] = [[Message("in", 0, 5)], []]
    consumer = Consumer(runtime, batches, log)
    monkeypatch.setattr(batch_runtime, "make_consumer", lambda *_a, **_k: consumer)
    runtime.run()
    assert log[1:] == ["send out 1", "send+headers fwd 0", "pace",
                       "send+headers fwd 0", "pace", "acknowledged", "store in[0]@6", "commit",
                       "send+headers fwd 0", "pace", "acknowledged", "commit", "close"]

    log.clear()
    runtime.on_revoke(consumer, [TopicPartition("in", 0)])
    runtime.on_lost(consumer, [TopicPartition("in", 1)])
    assert [e for e in log if e.startswith(("release", "revoked"))] == [
        "release [0]", "revoked [0] lost=False", "release [1]", "revoked [1] lost=True"]


def test_what_a_step_makes_of_acknowledgements_is_acknowledged_itself_before_the_commit(
        monkeypatch: Any) -> None:
    """The joiner's outcomes name the offsets its labeled events got: made once those
    are acknowledged, and acknowledged in turn before the offsets they cover commit."""
    log: list[str] = []
    step = Step(log)

    def made() -> Iterable[Outgoing]:
        log.append("made")
        return [Outgoing("outcomes", [(b"k", b"v", 0)])]
    runtime = BatchRuntime(Settings(), group="g", source=Subscription(["in"], step), step=step,
                           output=Output(log), heartbeat=Heartbeat(),  # type: ignore[arg-type]
                           policy=CommitPolicy(seconds=3600, events=2, when_dry=False),
                           max_batch=10, poll_seconds=0.0, acknowledged=made)
    runtime.assigned = {0}
    batches = [[Message("in", 0, 5), Message("in", 0, 6)]]
    monkeypatch.setattr(batch_runtime, "make_consumer",
                        lambda *_a, **_k: Consumer(runtime, batches, log))
    runtime.run()

    assert [line for line in log if not line.startswith("send+headers")] == [
        "subscribe ['in']", "send out 2", "acknowledged", "made", "send outcomes 1",
        "acknowledged", "store in[0]@7", "commit",
        "acknowledged", "made", "send outcomes 1", "acknowledged", "commit", "close",
    ]
