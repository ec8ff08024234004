"""One batch from the joiner's topics in; labeled events, dead letters and forwards out.

Test records are keyed by users whose murmur2 home, of three partitions, is
partition 1 (u1, u3, u6), where :func:`message` puts them, unless a test moves them.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import msgspec

from contracts.kafka_clients import KafkaRecord
from contracts.records import DeadLetter, Label, LabeledEvent, Prediction, Route, UserEvent
from contracts.topics import Topics
from stream_processors.joiner_step import expire_waiting, join_messages
from stream_processors.partitioned_join import PartitionedJoin
from stream_processors.repartition import original

TOPICS = Topics("t.")
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
T0 = NOW - timedelta(minutes=10)
_offsets = itertools.count()


def owning(*partitions: int, capacity: int = 1000, label_wait_seconds: float = 30.0
           ) -> PartitionedJoin:
    """Join state that owns ``partitions`` (partition 1, where messages land, by default)."""
    joins = PartitionedJoin(partitions=3, capacity=capacity,
                            label_wait_seconds=label_wait_seconds)
    joins.assign(partitions or {1})
    return joins


def message(topic: str, value: bytes, key: bytes = b"u1") -> KafkaRecord:
    return KafkaRecord(topic=topic, partition=1, offset=next(_offsets), key=key, value=value,
                       timestamp_ms=0)


def event_msg(event_id: str, user_id: str = "u1") -> KafkaRecord:
    record = UserEvent(event_id=event_id, user_id=user_id, ts=T0, features={"x": 1.5})
    return message(TOPICS.user_events, msgspec.json.encode(record), user_id.encode())


def prediction_msg(event_id: str, *, route: Route = "champion", score: float = 0.25,
                   user_id: str = "u1") -> KafkaRecord:
    record = Prediction(event_id=event_id, user_id=user_id, ts=T0, model="conversion",
                        version=2, route=route, score=score, decision=0, scored_at=T0)
    return message(TOPICS.predictions, msgspec.json.encode(record), user_id.encode())


def label_msg(event_id: str, value: int = 1, user_id: str = "u1") -> KafkaRecord:
    record = Label(event_id=event_id, user_id=user_id, ts=T0 + timedelta(seconds=30),
                   label=value)
    return message(TOPICS.labels, msgspec.json.encode(record), user_id.encode())


def labeled(records: list[tuple[bytes, bytes, int]]) -> list[tuple[bytes, LabeledEvent]]:
    return [(key, msgspec.json.decode(value, type=LabeledEvent)) for key, value, _ in records]


def dead(records: list[tuple[bytes | None, bytes, int | None]]) -> list[DeadLetter]:
    return [msgspec.json.decode(value, type=DeadLetter) for _, value, _ in records]


def test_a_batch_from_three_topics_yields_encoded_labeled_events() -> None:
    join = owning()
    batch = [label_msg("e1"), event_msg("e1", "u1"), event_msg("e2", "u3"),
             prediction_msg("e2", user_id="u3", score=0.9), prediction_msg("e1"),
             label_msg("e2", 0, "u3")]

    result = join_messages(batch, join, TOPICS, now=NOW)

    got = labeled(result.labeled_events)
    assert [(k, e.event_id, e.label, e.score, e.version, e.features) for k, e in got] == [
        (b"u1", "e1", 1, 0.25, 2, {"x": 1.5}),
        (b"u3", "e2", 0, 0.9, 2, {"x": 1.5}),
    ]
    assert [partition for _, _, partition in result.labeled_events] == [1, 1]
    assert result.records_in == {"user-events": 2, "predictions": 2, "labels": 2}
    assert result.label_delays == [("conversion", 30.0), ("conversion", 30.0)]
    assert result.dead_letters == []


def test_the_offset_after_each_record_fed_is_remembered() -> None:
    joins = owning()
    batch = [event_msg("e1"), message(TOPICS.labels, b"{"), event_msg("e2")]

    join_messages(batch, joins, TOPICS, now=NOW)

    assert joins.next_offsets() == {(TOPICS.user_events, 1): batch[2].offset + 1,
                                    (TOPICS.labels, 1): batch[1].offset + 1}


def test_pieces_of_a_join_can_span_batches() -> None:
    join = owning()

    first = join_messages([label_msg("e1")], join, TOPICS, now=NOW)
    second = join_messages([prediction_msg("e1")], join, TOPICS, now=NOW + timedelta(seconds=1))
    third = join_messages([event_msg("e1")], join, TOPICS, now=NOW + timedelta(seconds=2))

    assert first.labeled_events == second.labeled_events == []
    assert [e.event_id for _, e in labeled(third.labeled_events)] == ["e1"]


def test_duplicates_and_shadow_scores_give_one_labeled_event() -> None:
    join = owning()
    batch = [event_msg("e1"), prediction_msg("e1", route="shadow", score=0.99),
             prediction_msg("e1"), label_msg("e1"), label_msg("e1"), event_msg("e1"),
             prediction_msg("e1")]

    result = join_messages(batch, join, TOPICS, now=NOW)

    assert [e.score for _, e in labeled(result.labeled_events)] == [0.25]
    assert result.duplicates == {"label": 1, "event": 1, "prediction": 1}


def test_bad_label_bytes_are_dead_lettered_with_the_reason() -> None:
    bad = message(TOPICS.labels, b'{"event_id": "e1"', key=b"u6")

    result = join_messages([bad], owning(), TOPICS, now=NOW)

    [(key, _, partition)] = result.dead_letters
    [letter] = dead(result.dead_letters)
    assert (key, partition) == (b"u6", 1)
    assert (letter.reason, letter.stage, letter.original) == ("not-json", "join", bad.value)
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == (
        TOPICS.labels, 1, bad.offset)
    assert result.skipped == {("labels", "not-json"): 1}


def test_a_label_out_of_range_names_the_field() -> None:
    value = msgspec.json.encode(Label(event_id="e1", user_id="u1", ts=T0, label=1))
    bad = message(TOPICS.labels, value.replace(b'"label":1', b'"label":2'))

    [letter] = dead(join_messages([bad], owning(), TOPICS, now=NOW).dead_letters)

    assert letter.reason == "out-of-range" and "label" in letter.error


def test_bad_events_and_predictions_are_counted_not_dead_lettered() -> None:
    batch = [message(TOPICS.user_events, b"nope"), message(TOPICS.predictions, b"[]")]

    result = join_messages(batch, owning(), TOPICS, now=NOW)

    assert result.dead_letters == []
    assert result.skipped == {("user-events", "not-json"): 1,
                              ("predictions", "not-an-object"): 1}


def test_unmatched_labels_are_dead_lettered_after_the_wait() -> None:
    join = owning(label_wait_seconds=5)
    lost = label_msg("nobody")
    join_messages([lost, event_msg("e1"), label_msg("e1")], join, TOPICS, now=NOW)

    early = expire_waiting(join, now=NOW + timedelta(seconds=4))
    late = expire_waiting(join, now=NOW + timedelta(seconds=6))

    assert early.dead_letters == []
    letters = dead(late.dead_letters)
    assert [(d.reason, d.stage, d.source_topic, d.source_offset) for d in letters] == [
        ("no-scored-event", "join", TOPICS.labels, lost.offset),
        ("no-scored-event", "join", TOPICS.labels, lost.offset + 2),
    ]
    assert letters[0].original == lost.value
    assert letters[0].error.startswith(
        "no event with id `nobody` was seen in partition 1 within the 5s label wait")
    assert f"label from `{TOPICS.labels}` partition 1, key `u1`" in letters[0].error
    assert "no champion or canary prediction" in letters[1].error
    assert [(key, p) for key, _, p in late.dead_letters] == [(b"u1", 1), (b"u1", 1)]
    assert late.unmatched == {"no-scored-event": 2}


def test_labels_pushed_out_of_a_full_store_are_dead_lettered() -> None:
    join = owning(capacity=4)

    result = join_messages([label_msg(f"e{i}") for i in range(3)], join, TOPICS, now=NOW)

    assert [d.reason for d in dead(result.dead_letters)] == ["label-store-full"]
    assert result.unmatched == {"label-store-full": 1}


def test_a_record_from_another_topic_is_counted_and_skipped() -> None:
    result = join_messages([message("t.alerts", b"{}")], owning(), TOPICS, now=NOW)

    assert result.records_in == {"unexpected-topic": 1}
    assert result.skipped == {("unexpected-topic", "unexpected-topic"): 1}
    assert result.dead_letters == []


def test_records_of_a_partition_not_owned_are_skipped_not_joined() -> None:
    joins = owning(0)
    batch = [event_msg("e1"), prediction_msg("e1"), label_msg("e1")]  # all on partition 1

    result = join_messages(batch, joins, TOPICS, now=NOW)

    assert result.labeled_events == [] and result.dead_letters == []
    assert joins.next_offsets() == {}
    assert result.skipped == {("user-events", "not-assigned"): 1,
                              ("predictions", "not-assigned"): 1,
                              ("labels", "not-assigned"): 1}
    assert joins.pending_events == joins.waiting_labels == 0


def test_records_away_from_their_keys_home_are_forwarded_there_then_joined() -> None:
    """As when a client hashes keys with CRC32: the label is read in partition 0."""
    joins = owning(0, 1)
    away = replace(label_msg("e1"), partition=0)

    first = join_messages([event_msg("e1"), prediction_msg("e1"), away], joins, TOPICS, now=NOW)

    assert first.labeled_events == [] and first.forwarded == {"labels": 1}
    [sent] = first.forwards
    assert (sent.partition, sent.key, sent.value) == (1, b"u1", away.value)
    copy = KafkaRecord(topic=TOPICS.join_repartition, partition=sent.partition, offset=0,
                       key=sent.key, value=sent.value, timestamp_ms=0, headers=sent.headers)
    assert original(copy) == away
    second = join_messages([copy], joins, TOPICS, now=NOW)
    assert [(e.event_id, p) for (_, e), (_, _, p) in zip(
        labeled(second.labeled_events), second.labeled_events, strict=True)] == [("e1", 1)]
    assert second.records_in == {"join-repartition": 1}


def test_a_forwarded_label_left_unmatched_names_where_it_was_first_written() -> None:
    joins = owning(0, 1, label_wait_seconds=5)
    away = replace(label_msg("nobody"), partition=0)
    [sent] = join_messages([away], joins, TOPICS, now=NOW).forwards
    copy = KafkaRecord(topic=TOPICS.join_repartition, partition=1, offset=3, key=sent.key,
                       value=sent.value, timestamp_ms=0, headers=sent.headers)
    join_messages([copy], joins, TOPICS, now=NOW)

    late = expire_waiting(joins, now=NOW + timedelta(seconds=6))

    [letter] = dead(late.dead_letters)
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == (
        TOPICS.labels, 0, away.offset)
    assert "seen in partition 1" in letter.error and "partition 0, key `u1`" in letter.error
    assert [p for _, _, p in late.dead_letters] == [0]


def test_a_repartition_record_without_its_headers_is_skipped() -> None:
    stray = replace(label_msg("e1"), topic=TOPICS.join_repartition)

    result = join_messages([stray], owning(), TOPICS, now=NOW)

    assert result.skipped == {("join-repartition", "not-a-forwarded-record"): 1}
    assert result.dead_letters == [] and result.forwards == []
