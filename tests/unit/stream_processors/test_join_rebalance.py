"""Assignment and revocation drive the per-partition state; the reader is an in-memory fake."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, NamedTuple

import msgspec
import pytest
from confluent_kafka import KafkaException
from prometheus_client import CollectorRegistry

from contracts.kafka_clients import KafkaRecord
from contracts.records import LabeledEvent, UserEvent
from contracts.settings import Settings
from contracts.topics import Topics
from stream_processors import join_rebalance
from stream_processors.join_rebalance import JoinRebalancer
from stream_processors.join_recovery import TailRange
from stream_processors.partitioned_join import PartitionedJoin
from stream_processors.tail_reader import TailRead

TOPICS = Topics("t.")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class TP(NamedTuple):
    topic: str
    partition: int


def assigned(*partitions: int) -> set[TP]:
    topics = (TOPICS.user_events, TOPICS.predictions, TOPICS.labels)
    return {TP(topic, p) for topic in topics for p in partitions}


class FakeReader:
    """Returns canned tails; fails the first ``failures`` calls like an unreachable broker."""

    def __init__(self, records: list[KafkaRecord], *, failures: int = 0,
                 ranges: list[TailRange] | None = None,
                 unfinished: list[TailRange] | None = None) -> None:
        self.records = records
        self.failures = failures
        self.ranges = ranges or []
        self.unfinished = unfinished or []
        self.calls: list[set[int]] = []

    def __call__(self, settings: Settings, **kwargs: Any) -> TailRead:
        asked = set(kwargs["partitions"])
        self.calls.append(asked)
        if self.failures:
            self.failures -= 1
            raise KafkaException("broker down")
        return TailRead(records=self.records, unfinished=self.unfinished,
                        ranges=[r for r in self.ranges if r.partition in asked])


class FakeConsumer:
    def __init__(self) -> None:
        self.seeks: list[dict[Any, int]] = []

    async def seek_wait(self, offsets: dict[Any, int]) -> None:
        self.seeks.append(dict(offsets))


class FakeApp:
    def __init__(self) -> None:
        self.consumer = FakeConsumer()


def tail() -> list[KafkaRecord]:
    event = UserEvent(event_id="e1", user_id="u1", ts=T0, features={})
    done = LabeledEvent(event_id="e0", user_id="u1", features={}, label=1, score=0.5,
                        version=1, ts=T0)
    return [
        KafkaRecord(topic=TOPICS.user_events, partition=1, offset=3, key=b"u1",
                    value=msgspec.json.encode(event), timestamp_ms=int(T0.timestamp() * 1000)),
        KafkaRecord(topic=TOPICS.labeled_events, partition=2, offset=8, key=b"u1",
                    value=msgspec.json.encode(done), timestamp_ms=int(T0.timestamp() * 1000)),
    ]


def rebalancer(reader: FakeReader, timeout: float = 5.0) -> tuple[JoinRebalancer, Any]:
    registry = CollectorRegistry()
    joins = PartitionedJoin(partitions=3, capacity=30, ttl_seconds=10**9)
    return JoinRebalancer(Settings(), group="joiner", topics=TOPICS, joins=joins,
                          registry=registry, timeout_seconds=timeout, reader=reader), registry


def test_assignment_restores_new_partitions_and_drops_revoked_ones() -> None:
    reader = FakeReader(tail())
    rb, registry = rebalancer(reader)

    async def scenario() -> None:
        await rb.on_assigned(None, assigned(0, 1))
        first = rb.joins.get(1)
        assert first is not None and "e1" in first.events
        await rb.on_revoked(None, assigned(0, 1))
        assert not rb.ready.is_set()
        await rb.on_assigned(None, assigned(1, 2))
        assert rb.joins.get(1) is first  # kept, not read again
        two = rb.joins.get(2)
        assert two is not None and "e0" in two.joined

    asyncio.run(scenario())

    assert reader.calls == [{0, 1}, {2}]
    assert list(rb.joins) == [1, 2] and rb.ready.is_set()
    assert registry.get_sample_value("streamml_join_assigned_partitions") == 2
    assert registry.get_sample_value("streamml_join_recoveries_total",
                                     {"outcome": "complete"}) == 3
    assert registry.get_sample_value("streamml_join_restored_total",
                                     {"kind": "pending-events"}) == 1


def test_streams_are_held_until_the_assigned_partitions_are_restored() -> None:
    rb, _ = rebalancer(FakeReader([]))

    async def scenario() -> None:
        held = asyncio.create_task(rb.hold_streams(None))
        await asyncio.sleep(0.01)
        assert not held.done()
        await rb.on_assigned(None, assigned(0))
        await asyncio.wait_for(held, 1)

    asyncio.run(scenario())


def test_an_assignment_with_nothing_new_reads_nothing() -> None:
    reader = FakeReader([])
    rb, _ = rebalancer(reader)

    async def scenario() -> None:
        await rb.on_assigned(None, assigned(0))
        await rb.on_revoked(None, assigned(0))
        await rb.on_assigned(None, assigned(0))
        await rb.on_assigned(None, set())

    asyncio.run(scenario())

    assert reader.calls == [{0}]
    assert len(rb.joins) == 0 and rb.ready.is_set()


def test_a_broker_that_fails_briefly_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(join_rebalance, "RETRY_SECONDS", 0.01)
    reader = FakeReader(tail(), failures=2)
    rb, _ = rebalancer(reader)

    asyncio.run(rb.on_assigned(None, assigned(1)))

    assert len(reader.calls) == 3
    one = rb.joins.get(1)
    assert one is not None and "e1" in one.events


def test_a_broker_that_stays_down_fails_the_assignment_and_holds_the_streams(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(join_rebalance, "RETRY_SECONDS", 0.05)
    rb, _ = rebalancer(FakeReader([], failures=10**6), timeout=0.3)

    with pytest.raises(KafkaException):
        asyncio.run(rb.on_assigned(None, assigned(0)))

    assert not rb.ready.is_set()


def test_reading_cut_short_by_the_deadline_is_counted(caplog: pytest.LogCaptureFixture) -> None:
    cut = [TailRange(TOPICS.user_events, 1, 0, 10)]
    rb, registry = rebalancer(FakeReader(tail(), unfinished=cut))

    asyncio.run(rb.on_assigned(None, assigned(0, 1)))

    assert registry.get_sample_value("streamml_join_recoveries_total",
                                     {"outcome": "cut-short"}) == 1
    assert registry.get_sample_value("streamml_join_recoveries_total",
                                     {"outcome": "complete"}) == 1
    assert "read back only in part" in caplog.text


def test_sources_resume_where_the_tail_ends_or_after_the_last_joined_record() -> None:
    ranges = [TailRange(TOPICS.user_events, 0, 0, 0), TailRange(TOPICS.labels, 0, 0, 0),
              TailRange(TOPICS.user_events, 1, 20, 55), TailRange(TOPICS.labels, 1, 40, 50),
              TailRange(TOPICS.labeled_events, 1, 0, 39)]
    rb, _ = rebalancer(FakeReader([], ranges=ranges))
    app = FakeApp()

    async def scenario() -> None:
        await rb.on_assigned(app, assigned(0))
        await rb.hold_streams(app)
        rb.joins.fed(TOPICS.user_events, 0, 41)  # the agent joined up to offset 41
        await rb.on_revoked(app, assigned(0))
        await rb.on_assigned(app, assigned(0, 1))
        await rb.hold_streams(app)

    asyncio.run(scenario())

    first, second = app.consumer.seeks
    assert first == {(TOPICS.user_events, 0): 0, (TOPICS.labels, 0): 0}  # never committed
    assert second == {(TOPICS.user_events, 0): 42,  # kept: after the last record joined
                      (TOPICS.user_events, 1): 55, (TOPICS.labels, 1): 50}  # committed
