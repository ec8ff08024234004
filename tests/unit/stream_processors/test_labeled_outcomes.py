"""The joiner's outcomes name each labeled event's offset only when the broker's word makes
it certain, and a restore writes the outcomes a crash left unwritten, once."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import numpy as np
import pytest

from contracts.kafka_clients import KafkaRecord
from contracts.packed import FLOAT, LABEL, VERSION, unpack
from contracts.records import MAX_OUTCOMES, LabeledEvent, LabeledOutcomes
from contracts.topics import Topics
from stream_processors.labeled_outcomes import (
    OutcomeBuffer,
    Outcomes,
    encode_outcomes,
    outcomes_after,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TOPICS = Topics()
DECODE = msgspec.json.Decoder(LabeledOutcomes).decode


def labeled(n: int, prefix: str = "e") -> list[LabeledEvent]:
    return [LabeledEvent(event_id=f"{prefix}{i}", user_id="u", features={"x": 1.0},
                         label=i % 2, score=(i % 10) / 10, version=1 + i % 2, ts=T0)
            for i in range(n)]


def outcomes(outputs: list[tuple[bytes | None, bytes, int]]) -> list[LabeledOutcomes]:
    return [DECODE(value) for _, value, _ in outputs]


def test_labeled_events_acknowledged_in_order_get_their_offsets_and_columns() -> None:
    buffer, events = OutcomeBuffer(), labeled(5)
    buffer.hold(2, events[:3])
    buffer.hold(2, events[3:])
    for offset in range(100, 105):
        buffer.delivered(2, offset)

    [o] = outcomes(buffer.take())

    assert (o.partition, o.first_offset, o.last_offset, o.consecutive) == (2, 100, 104, True)
    assert o.event_ids == [e.event_id for e in events]
    assert (unpack(o.versions, VERSION, np.int64).tolist(),
            unpack(o.labels, LABEL, np.int64).tolist(),
            unpack(o.scores, FLOAT, np.float64).tolist()) == ([1, 2, 1, 2, 1], [0, 1, 0, 1, 0],
                                                              [0.0, 0.1, 0.2, 0.3, 0.4])
    assert unpack(o.ts, FLOAT, np.float64).tolist() == [T0.timestamp()] * 5
    assert buffer.take() == []  # taken once


def test_offsets_are_not_named_when_another_writer_came_between_or_one_was_sent_again() -> None:
    interleaved, resent = OutcomeBuffer(), OutcomeBuffer()
    interleaved.hold(0, labeled(3))
    for offset in (10, 11, 13):  # someone else wrote offset 12
        interleaved.delivered(0, offset)
    resent.hold(0, labeled(3))
    resent.delivered(0, 20)
    resent.delivered(0, None)  # refused, sent again: it lands after the third
    resent.delivered(0, 21)
    resent.delivered(0, 22)

    [a], [b] = outcomes(interleaved.take()), outcomes(resent.take())

    assert (a.first_offset, a.last_offset, a.consecutive) == (10, 13, False)
    assert (b.first_offset, b.last_offset, b.consecutive) == (20, 22, False)


def test_many_labeled_events_are_split_into_records_each_with_its_own_offsets() -> None:
    buffer, events = OutcomeBuffer(), labeled(MAX_OUTCOMES + 5)
    buffer.hold(1, events)
    for offset in range(len(events)):
        buffer.delivered(1, 1000 + offset)

    first, second = outcomes(buffer.take())

    assert (first.first_offset, first.last_offset, len(first.event_ids)) == (
        1000, 1000 + MAX_OUTCOMES - 1, MAX_OUTCOMES)
    assert (second.first_offset, second.last_offset, second.event_ids) == (
        1000 + MAX_OUTCOMES, 1000 + MAX_OUTCOMES + 4, [f"e{MAX_OUTCOMES + i}" for i in range(5)])
    assert first.consecutive and second.consecutive


def test_a_lost_partitions_labeled_events_are_left_to_its_next_owner() -> None:
    buffer = OutcomeBuffer()
    buffer.hold(0, labeled(2))
    buffer.hold(1, labeled(2, "f"))
    buffer.forget({1})
    for offset in (0, 1):
        buffer.delivered(0, offset)
        buffer.delivered(1, offset)  # reports of what was sent before the loss

    assert [o.partition for o in outcomes(buffer.take())] == [0]


def test_labeled_events_without_the_brokers_word_on_each_are_not_guessed_at() -> None:
    buffer = OutcomeBuffer()
    buffer.hold(0, labeled(3))
    buffer.delivered(0, 7)

    assert buffer.take() == []


def test_outcomes_are_not_written_without_their_offsets_or_a_span_they_lie_within() -> None:
    with pytest.raises(ValueError, match="needs the offsets, or a span"):
        encode_outcomes(0, Outcomes.of(labeled(2)))

    assert encode_outcomes(0, Outcomes.of([])) == []  # nothing to place, nothing written


def tail(events: list[LabeledEvent], first: int) -> list[KafkaRecord]:
    return [KafkaRecord(TOPICS.labeled_events, 0, first + i, b"u", msgspec.json.encode(e), 0)
            for i, e in enumerate(events)]


def test_a_restore_writes_the_outcomes_of_labeled_events_after_the_last_one_covered() -> None:
    events = labeled(10)
    covered = [KafkaRecord(TOPICS.labeled_outcomes, 0, k, None, value, 0)
               for k, (_, value, _) in enumerate(encode_outcomes(0, Outcomes.of(events[:6]),
                                                                 range(50, 56)))]

    [o] = outcomes(outcomes_after(tail(events, 50), covered, 0))

    assert o.event_ids == ["e6", "e7", "e8", "e9"]
    assert (o.first_offset, o.last_offset, o.consecutive) == (56, 59, True)


def test_a_restore_with_no_outcomes_read_back_writes_them_all_and_skips_what_is_not_json() -> None:
    records = tail(labeled(3), 0)
    records[1] = KafkaRecord(TOPICS.labeled_events, 0, 1, b"u", b"{not json", 0)
    garbage = [KafkaRecord(TOPICS.labeled_outcomes, 0, 0, None, b"\x00\x01", 0)]

    [o] = outcomes(outcomes_after(records, garbage, 0))

    assert o.event_ids == ["e0", "e2"]
    assert (o.first_offset, o.last_offset, o.consecutive) == (0, 2, False)
    assert outcomes_after([], [], 0) == []
