"""The joiner worker's step: assignment and revocation drive the per-partition state, batches
and ticks give what to send. The tail reader and the consumer are in-memory fakes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import msgspec
import pytest
from confluent_kafka import KafkaException

from contracts.batch_runtime import Outgoing
from contracts.kafka_clients import KafkaRecord
from contracts.records import Label, LabeledEvent, LabeledOutcomes, UserEvent
from contracts.settings import Settings
from contracts.topics import Topics
from stream_processors import join_restore
from stream_processors.join_recovery import TailRange
from stream_processors.kafka_joiner import JoinerWorker
from stream_processors.labeled_outcomes import Outcomes, encode_outcomes
from stream_processors.tail_reader import TailRead

TOPICS = Topics("t.")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class TP(NamedTuple):
    topic: str
    partition: int


def assigned(*partitions: int) -> list[TP]:
    topics = (TOPICS.user_events, TOPICS.predictions, TOPICS.labels)
    return [TP(topic, p) for topic in topics for p in partitions]


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


def tail(*, outcomes: bool = True) -> list[KafkaRecord]:
    """An event waiting in partition 1, and a labeled event in partition 2 (with its
    outcomes written, unless not ``outcomes``)."""
    event = UserEvent(event_id="e1", user_id="u1", ts=T0, features={})
    done = LabeledEvent(event_id="e0", user_id="u1", features={}, label=1, score=0.5,
                        version=1, ts=T0)
    at = int(T0.timestamp() * 1000)
    return [
        KafkaRecord(topic=TOPICS.user_events, partition=1, offset=3, key=b"u1",
                    value=msgspec.json.encode(event), timestamp_ms=at),
        KafkaRecord(topic=TOPICS.labeled_events, partition=2, offset=8, key=b"u1",
                    value=msgspec.json.encode(done), timestamp_ms=at),
        *[KafkaRecord(topic=TOPICS.labeled_outcomes, partition=2, offset=0, key=None,
                      value=value, timestamp_ms=at)
          for _, value, _ in encode_outcomes(2, Outcomes.of([done]), [8]) if outcomes],
    ]


class Sent:
    """Stands in for the worker's output: what it was given to send."""

    def __init__(self) -> None:
        self.records: list[tuple[str, list[Any]]] = []

    def send_to(self, topic: str, records: Any) -> None:
        self.records.append((topic, list(records)))

    def close(self) -> None:
        pass


@pytest.fixture
def make_worker() -> Iterator[Any]:
    built: list[JoinerWorker] = []

    def make(reader: FakeReader, timeout: float = 5.0, label_wait: float = 30.0) -> JoinerWorker:
        settings = Settings(bootstrap_servers="127.0.0.1:9", topic_prefix="t.")
        worker = JoinerWorker(settings, web_port=0, capacity=30, ttl_seconds=10**9,
                              label_wait_seconds=label_wait, recovery_timeout_seconds=timeout)
        worker.restorer.reader = reader
        built.append(worker)
        return worker

    yield make
    for worker in built:
        worker.output.close()


def sample(worker: JoinerWorker, name: str, labels: dict[str, str] | None = None) -> float | None:
    return worker.metrics.registry.get_sample_value(name, labels or {})


def test_labeled_events_read_back_without_outcomes_get_them_on_assignment(
        make_worker: Any) -> None:
    """A worker that crashed after its labeled events landed, before their outcomes did."""
    worker, sent = make_worker(FakeReader(tail(outcomes=False))), Sent()
    worker.output = sent
    worker.assigned(None, assigned(1, 2))

    [(topic, [(_, value, partition)])] = sent.records
    outcomes = msgspec.json.decode(value, type=LabeledOutcomes)
    assert (topic, partition) == (TOPICS.labeled_outcomes, 2)
    assert (outcomes.event_ids, outcomes.first_offset, outcomes.consecutive) == (["e0"], 8, True)


def test_labeled_events_read_back_with_outcomes_get_none_again(make_worker: Any) -> None:
    worker, sent = make_worker(FakeReader(tail())), Sent()
    worker.output = sent
    worker.assigned(None, assigned(1, 2))

    assert sent.records == []


def test_assignment_restores_new_partitions_keeps_those_given_back_and_drops_others(
        make_worker: Any) -> None:
    reader = FakeReader(tail())
    worker = make_worker(reader)
    worker.assigned(None, assigned(0, 1))
    first = worker.joins.get(1)
    assert first is not None and "e1" in first.events
    worker.revoked(assigned(0, 1), lost=False)
    worker.assigned(None, assigned(1, 2))
    assert worker.joins.get(1) is first  # given straight back: kept, not read again
    two = worker.joins.get(2)
    assert two is not None and "e0" in two.joined

    assert reader.calls == [{0, 1}, {2}]
    assert list(worker.joins) == [1, 2] and worker._restoring is False
    assert sample(worker, "streamml_join_assigned_partitions") == 2
    assert sample(worker, "streamml_join_recoveries_total", {"outcome": "complete"}) == 3
    assert sample(worker, "streamml_join_restored_total", {"kind": "pending-events"}) == 1


def test_an_assignment_with_nothing_new_reads_nothing_and_a_loss_drops_the_state(
        make_worker: Any) -> None:
    reader = FakeReader([])
    worker = make_worker(reader)
    worker.assigned(None, assigned(0, 1))
    worker.revoked(assigned(0, 1), lost=False)
    worker.assigned(None, assigned(0, 1))
    worker.revoked(assigned(1), lost=True)

    assert reader.calls == [{0, 1}]
    assert list(worker.joins) == [0]


def test_a_broker_that_fails_briefly_is_retried(monkeypatch: pytest.MonkeyPatch,
                                                make_worker: Any) -> None:
    monkeypatch.setattr(join_restore, "RETRY_SECONDS", 0.01)
    reader = FakeReader(tail(), failures=2)
    worker = make_worker(reader)

    worker.assigned(None, assigned(1))

    assert len(reader.calls) == 3
    one = worker.joins.get(1)
    assert one is not None and "e1" in one.events


def test_a_broker_that_stays_down_fails_the_assignment(monkeypatch: pytest.MonkeyPatch,
                                                       make_worker: Any) -> None:
    monkeypatch.setattr(join_restore, "RETRY_SECONDS", 0.05)
    worker = make_worker(FakeReader([], failures=10**6), timeout=0.3)

    with pytest.raises(KafkaException):
        worker.assigned(None, assigned(0))


def test_reading_cut_short_by_the_deadline_is_counted(caplog: pytest.LogCaptureFixture,
                                                      make_worker: Any) -> None:
    cut = [TailRange(TOPICS.user_events, 1, 0, 10)]
    worker = make_worker(FakeReader(tail(), unfinished=cut))

    worker.assigned(None, assigned(0, 1))

    assert sample(worker, "streamml_join_recoveries_total", {"outcome": "cut-short"}) == 1
    assert sample(worker, "streamml_join_recoveries_total", {"outcome": "complete"}) == 1
    assert "read back only in part" in caplog.text


def test_sources_start_where_the_tail_ends_or_after_the_last_joined_record(
        make_worker: Any) -> None:
    ranges = [TailRange(TOPICS.user_events, 0, 0, 0), TailRange(TOPICS.labels, 0, 0, 0),
              TailRange(TOPICS.user_events, 1, 20, 55), TailRange(TOPICS.labels, 1, 40, 50),
              TailRange(TOPICS.labeled_events, 1, 0, 39)]
    worker = make_worker(FakeReader([], ranges=ranges))

    first = worker.assigned(None, assigned(0))
    worker.joins.fed(TOPICS.user_events, 0, 41)  # joined up to offset 41
    worker.revoked(assigned(0), lost=False)
    second = worker.assigned(None, assigned(0, 1))

    assert first == {(TOPICS.user_events, 0): 0, (TOPICS.labels, 0): 0}  # never committed
    assert second == {(TOPICS.user_events, 0): 42,  # kept: after the last record joined
                      (TOPICS.user_events, 1): 55, (TOPICS.labels, 1): 50}  # committed


class Message:
    def __init__(self, record: KafkaRecord) -> None:
        self.r = record

    def topic(self) -> str:
        return self.r.topic

    def partition(self) -> int:
        return self.r.partition

    def offset(self) -> int:
        return self.r.offset

    def key(self) -> bytes | None:
        return self.r.key

    def value(self) -> bytes | None:
        return self.r.value

    def timestamp(self) -> tuple[int, int]:
        return 1, self.r.timestamp_ms

    def headers(self) -> None:
        return None


def by_topic(outgoing: Any) -> dict[str, list[Any]]:
    sent: list[Outgoing] = list(outgoing)
    return {out.topic: list(out.records) for out in sent if list(out.records)}


def test_a_bad_label_is_dead_lettered_and_a_waiting_one_given_up_at_a_tick(
        make_worker: Any) -> None:
    worker = make_worker(FakeReader([]), label_wait=0.2)
    worker.assigned(None, assigned(0, 1, 2))
    label = Label(event_id="e9", user_id="u1", ts=datetime.now(UTC), label=1)
    home = 1  # murmur2(b"u1") % 3
    records = [KafkaRecord(topic=TOPICS.labels, partition=home, offset=0, key=b"u1",
                           value=b"{", timestamp_ms=0),
               KafkaRecord(topic=TOPICS.labels, partition=home, offset=1, key=b"u1",
                           value=msgspec.json.encode(label), timestamp_ms=0)]

    sent = by_topic(worker.process([Message(r) for r in records]))
    assert [p for _, _, p in sent[TOPICS.dead_letters]] == [home]
    assert sample(worker, "streamml_join_skipped_total",
                  {"topic": "labels", "reason": "not-json"}) == 1
    assert worker.health()["waiting_labels"] == 1

    time.sleep(0.3)
    worker._next_expiry = 0.0
    given_up = by_topic(worker.tick())
    assert len(given_up[TOPICS.dead_letters]) == 1
    assert sample(worker, "streamml_join_unmatched_labels_total",
                  {"reason": "no-scored-event"}) == 1
    assert by_topic(worker.tick()) == {}  # not due again yet


def test_a_record_read_outside_its_home_partition_is_forwarded_with_where_it_came_from(
        make_worker: Any) -> None:
    worker = make_worker(FakeReader([]))
    worker.assigned(None, assigned(0, 1, 2))
    record = KafkaRecord(topic=TOPICS.labels, partition=0, offset=5, key=b"u1", value=b"{}",
                         timestamp_ms=1000)

    sent = by_topic(worker.process([Message(record)]))

    [(key, value, partition, headers)] = sent[TOPICS.join_repartition]
    assert (key, value, partition) == (b"u1", b"{}", 1)
    assert dict(headers)["streamml-source-offset"] == b"5"


class PacedConsumer:
    """Ends as the broker gives them (or fails to), and what was paused or resumed."""

    def __init__(self, ends: dict[tuple[str, int], int], *, down: bool = False) -> None:
        self.ends, self.down = ends, down
        self.paused: list[tuple[str, int]] = []
        self.resumed: list[tuple[str, int]] = []

    def get_watermark_offsets(self, tp: Any, timeout: float | None = None,
                              cached: bool = False) -> tuple[int, int]:
        if self.down and not cached:
            raise KafkaException("broker down")
        return 0, -1001 if cached else self.ends[(tp.topic, tp.partition)]

    def pause(self, tps: list[Any]) -> None:
        self.paused += [(tp.topic, tp.partition) for tp in tps]

    def resume(self, tps: list[Any]) -> None:
        self.resumed += [(tp.topic, tp.partition) for tp in tps]


def fresh_sources() -> FakeReader:
    """Nothing to restore, and every source partition starts at offset 0."""
    return FakeReader([], ranges=[TailRange(t, p, 0, 0) for p in (0, 1, 2) for t in (
        TOPICS.user_events, TOPICS.predictions, TOPICS.labels)])


def labels_far_ahead(worker: JoinerWorker, n: int) -> list[Message]:
    """``n`` labels of partition 1, their event times an hour apart from the first."""
    home = 1  # murmur2(b"u1") % 3
    return [Message(KafkaRecord(
        topic=TOPICS.labels, partition=home, offset=i, key=b"u1", timestamp_ms=0,
        value=msgspec.json.encode(Label(event_id=f"e{i}", user_id="u1",
                                        ts=T0 + timedelta(hours=1 + i), label=1))))
        for i in range(n)]


def test_labels_ahead_of_unread_events_are_paused_once_their_store_is_crowded(
        make_worker: Any) -> None:
    worker = make_worker(fresh_sources())  # 30 entries, 10 a partition
    worker.assigned(None, assigned(0, 1, 2))
    consumer = PacedConsumer({tp: 100 for tp in
                              ((t, p) for t in (TOPICS.user_events, TOPICS.predictions,
                                                TOPICS.labels) for p in (0, 1, 2))})
    worker.process(labels_far_ahead(worker, 3))
    worker.pace(consumer)
    assert consumer.paused == []  # 3 labels waiting of 10: room enough

    worker.process(labels_far_ahead(worker, 8)[3:])
    worker.pace(consumer)
    assert consumer.paused == [(TOPICS.labels, 1)]
    assert sample(worker, "streamml_join_paused_partitions") == 1

    worker.revoked(assigned(0, 1, 2), lost=False)  # the runtime releases before revoking
    worker.release(consumer, assigned(0, 1, 2))
    assert consumer.resumed == [(TOPICS.labels, 1)]
    assert sample(worker, "streamml_join_paused_partitions") == 0


def test_a_broker_that_cannot_say_where_partitions_end_holds_nothing_back(
        make_worker: Any, caplog: pytest.LogCaptureFixture) -> None:
    worker = make_worker(fresh_sources())
    worker.assigned(None, assigned(0, 1, 2))
    consumer = PacedConsumer({}, down=True)
    worker.process(labels_far_ahead(worker, 8))
    worker.pace(consumer)
    assert consumer.paused == []
    assert "read without holding the others back" in caplog.text
