"""Rebuilding a partition's join from its topics' tails: what is read, kept, and never sent."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from contracts.kafka_clients import KafkaRecord
from contracts.records import Label, LabeledEvent, Prediction, Route, UserEvent
from contracts.topics import Topics
from stream_processors.join_recovery import (
    RestoreReport,
    lookback_seconds,
    restore,
    restore_partitions,
    tail_range,
)
from stream_processors.label_join import NO_SCORED_EVENT, JoinOutput, LabelJoin
from stream_processors.partitioned_join import PartitionedJoin
from stream_processors.repartition import forward

TOPICS = Topics("t.")
T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
NOW = T0.timestamp() + 600  # ten minutes after the events
_offsets = itertools.count()


def record(topic: str, value: object, *, at: float, partition: int = 0) -> KafkaRecord:
    """Keyed ``u1``; of one partition (what :func:`restored` restores) its home is 0, of
    three it is 1 (``u2``'s is 0, ``u5``'s 2)."""
    raw = value if isinstance(value, bytes) else msgspec.json.encode(value)
    return KafkaRecord(topic=topic, partition=partition, offset=next(_offsets), key=b"u1",
                       value=raw, timestamp_ms=int(at * 1000))


def copied(first: KafkaRecord, *, at: float, partition: int = 0) -> KafkaRecord:
    """``first`` as the joiner forwarded it to ``partition`` of ``join-repartition``."""
    sent = forward(first, partition)
    return KafkaRecord(topic=TOPICS.join_repartition, partition=partition,
                       offset=next(_offsets), key=sent.key, value=sent.value,
                       timestamp_ms=int(at * 1000), headers=sent.headers)


def event(event_id: str, at: float = NOW - 300, partition: int = 0) -> KafkaRecord:
    value = UserEvent(event_id=event_id, user_id="u1", ts=T0, features={"x": 2.0})
    return record(TOPICS.user_events, value, at=at, partition=partition)


def prediction(event_id: str, at: float = NOW - 300, route: Route = "champion",
               partition: int = 0) -> KafkaRecord:
    value = Prediction(event_id=event_id, user_id="u1", ts=T0, model="m", version=3,
                       route=route, score=0.4, decision=0, scored_at=T0)
    return record(TOPICS.predictions, value, at=at, partition=partition)


def label(event_id: str, at: float = NOW - 5, partition: int = 0) -> KafkaRecord:
    value = Label(event_id=event_id, user_id="u1", ts=T0 + timedelta(minutes=9), label=1)
    return record(TOPICS.labels, value, at=at, partition=partition)


def labeled(event_id: str, at: float = NOW - 60, partition: int = 0) -> KafkaRecord:
    value = LabeledEvent(event_id=event_id, user_id="u1", features={"x": 2.0}, label=1,
                         score=0.4, version=3, ts=T0)
    return record(TOPICS.labeled_events, value, at=at, partition=partition)


def live_label(event_id: str) -> Label:
    return Label(event_id=event_id, user_id="u1", ts=T0 + timedelta(minutes=10), label=0)


def restored(records: list[KafkaRecord], **bounds: float) -> tuple[LabelJoin, RestoreReport]:
    join = LabelJoin(ttl_seconds=bounds.get("ttl", 3600.0),
                     label_wait_seconds=bounds.get("label_wait", 30.0))
    return join, restore(records, join, TOPICS, partitions=1, now=NOW)


def test_restored_events_wait_for_a_later_label_and_nothing_is_emitted_meanwhile() -> None:
    join, report = restored([event("e1"), prediction("e1"), prediction("e1", route="shadow")])

    assert (report.pending_events, report.waiting_labels, report.rejoined) == (1, 0, 0)
    out = JoinOutput()
    join.on_label(live_label("e1"), NOW, out)
    assert [(e.event_id, e.score, e.version, e.features) for e in out.labeled] == [
        ("e1", 0.4, 3, {"x": 2.0})]


def test_a_restored_waiting_label_joins_its_later_event_and_keeps_its_origin() -> None:
    early = label("e1")
    join, report = restored([early])
    assert report.waiting_labels == 1

    out = JoinOutput()
    join.on_event(UserEvent(event_id="e1", user_id="u1", ts=T0, features={}), NOW, out)
    join.on_prediction(Prediction(event_id="e1", user_id="u1", ts=T0, model="m", version=1,
                                  route="canary", score=0.9, decision=1, scored_at=T0), NOW, out)
    assert [(e.event_id, e.label) for e in out.labeled] == [("e1", 1)]

    stale = label("e2")
    lost, _ = restored([stale])
    late = JoinOutput()
    lost.expire(NOW + 30, late)
    assert [(u.reason, u.origin) for u in late.unmatched_labels] == [(NO_SCORED_EVENT, stale)]


def test_joined_ids_are_restored_so_repeats_never_join_again() -> None:
    tail = [labeled("e1"), event("e1"), prediction("e1"), label("e1", at=NOW - 100),
            event("e2"), prediction("e2")]
    join, report = restored(tail)

    assert (report.joined_ids, report.pending_events, report.rejoined) == (1, 1, 0)
    out = JoinOutput()
    join.on_label(live_label("e1"), NOW, out)  # a repeated label after the restart
    join.on_event(UserEvent(event_id="e1", user_id="u1", ts=T0, features={}), NOW, out)
    assert out.labeled == []
    assert out.duplicates == {"label": 1, "event": 1}


def test_joins_found_in_the_tail_are_remembered_but_not_emitted() -> None:
    join, report = restored([event("e1"), prediction("e1"), label("e1")])

    assert report.rejoined == 1 and "e1" in join.joined
    assert (report.pending_events, report.waiting_labels) == (0, 0)


def test_the_labeled_events_tail_counts_first_whatever_the_order() -> None:
    tail = [event("e1"), prediction("e1"), label("e1"), labeled("e1", at=NOW - 1)]
    for seed in range(5):
        random.Random(seed).shuffle(tail)
        _, report = restored(tail)
        assert (report.joined_ids, report.rejoined, report.pending_events) == (1, 0, 0)


def test_restored_state_expires_by_the_time_its_records_were_written() -> None:
    join, _ = restored([event("old", at=NOW - 3500), event("young", at=NOW - 10),
                        label("waiting", at=NOW - 25)], ttl=3600, label_wait=30)

    out = JoinOutput()
    join.expire(NOW + 101, out)

    assert out.events_dropped == {"expired": 1}
    assert "young" in join.events and "old" not in join.events
    assert [u.label.event_id for u in out.unmatched_labels] == ["waiting"]


def test_records_that_do_not_decode_are_counted_and_skipped() -> None:
    tail = [record(TOPICS.labels, b"{", at=NOW - 1), record(TOPICS.labeled_events, b"[]",
                                                            at=NOW - 1),
            record(TOPICS.user_events, b"nope", at=NOW - 1), record("t.alerts", b"{}", at=NOW)]
    join, report = restored(tail)

    assert report.skipped == {"labels": 1, "labeled-events": 1, "user-events": 1,
                              "unexpected-topic": 1}
    assert len(join.joined) == len(join.events) == len(join.waiting_labels) == 0


def test_restore_partitions_builds_fresh_joins_and_leaves_the_live_state_alone() -> None:
    joins = PartitionedJoin(partitions=3, capacity=30)
    joins.assign({0})
    live = joins.get(0)
    tail = [event("a", partition=1), prediction("a", partition=1),
            copied(label("b", partition=0), at=NOW - 1, partition=2),
            labeled("c", partition=2), event("z", partition=0)]

    result = restore_partitions(tail, joins, {1, 2}, TOPICS, now=NOW)

    assert sorted(result) == [1, 2]
    one, two = result[1][0], result[2][0]
    assert "a" in one.events and "b" in two.waiting_labels and "c" in two.joined
    assert one.events.capacity == joins.share == 10
    assert (one.partition, two.partition) == (1, 2)
    assert live is not None and joins.get(0) is live and len(live.events) == 0
    assert result[1][1].read == {"user-events": 1, "predictions": 1}


def test_source_records_away_from_home_are_left_to_their_home_partition() -> None:
    """``u1``'s home of three partitions is 1: read in 0, it was forwarded to 1."""
    join = LabelJoin()
    tail = [event("e1"), label("e2"), labeled("e3")]

    report = restore(tail, join, TOPICS, partitions=3, now=NOW)

    assert report.elsewhere == 2 and "e3" in join.joined
    assert len(join.events) == len(join.waiting_labels) == 0


def test_forwarded_copies_are_restored_as_the_records_they_carry() -> None:
    first = label("e1", partition=2)
    tail = [copied(event("e1", partition=2), at=NOW - 300),
            copied(first, at=NOW - 5), copied(label("old"), at=NOW - 31),
            record(TOPICS.join_repartition, b"{}", at=NOW - 1)]

    join, report = restored(tail, label_wait=30)

    assert "e1" in join.events and len(join.waiting_labels) == 1
    waiting = join.waiting_labels.get("e1")
    assert waiting is not None and waiting.origin == first
    assert report.skipped == {"join-repartition": 1}
    assert report.read == {"join-repartition": 4}


@pytest.mark.parametrize(("low", "high", "since", "upto", "limit", "expected"), [
    (0, 100, 40, 90, 1000, (40, 90)),  # from the window's start to the committed offset
    (0, 100, 40, 90, 20, (70, 90)),  # only the last ``limit`` records
    (0, 100, 40, None, 1000, (0, 0)),  # never committed: faust reads it all again
    (0, 100, None, 90, 1000, (90, 90)),  # every record is older than the window
    (50, 100, 40, 90, 1000, (50, 90)),  # retention removed the start of the window
    (0, 100, 40, 150, 1000, (40, 100)),  # a committed offset beyond the end
    (0, 100, 95, 90, 1000, (90, 90)),  # the window starts after the committed offset
])
def test_tail_range_reads_the_window_up_to_the_stop_within_the_limit(
        low: int, high: int, since: int | None, upto: int | None, limit: int,
        expected: tuple[int, int]) -> None:
    got = tail_range("t", 0, low=low, high=high, since=since, upto=upto, limit=limit)

    assert (got.start, got.end) == expected
    assert got.empty == (expected[0] >= expected[1])


def test_labels_look_back_the_label_wait_and_the_rest_the_ttl() -> None:
    assert lookback_seconds("labels", ttl_seconds=3600, label_wait_seconds=30) == 30
    for kind in ("user-events", "predictions", "labeled-events"):
        assert lookback_seconds(kind, ttl_seconds=3600, label_wait_seconds=30) == 3600
