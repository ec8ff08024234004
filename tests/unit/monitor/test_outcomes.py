"""The monitor reads ``labeled-outcomes`` as it reads labeled events: each event id counted
once, and a record it cannot check refused whole, counted, without raising."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import msgspec
import pytest

from contracts.kafka_clients import KafkaRecord
from contracts.packed import FLOAT, LABEL, VERSION, pack
from contracts.records import LabeledOutcomes
from contracts.topics import Topics
from monitor.config import WindowConfig
from monitor.core import Monitor
from monitor.records import outcome_columns

TOPICS = Topics()
NOW = datetime(2026, 6, 1, tzinfo=UTC).timestamp()
GOOD = LabeledOutcomes(partition=1, first_offset=10, last_offset=13, consecutive=True,
                       event_ids=["e1", "e2", "e3", "e4"], versions=[1, 1, 1, 1],
                       labels=[0, 1, 1, 0], scores=[0.1, 0.8, 0.6, 0.3],
                       ts=[NOW - 60, NOW - 50, NOW - 40, NOW - 30])
# The same events as the joiner writes them: numbers packed.
PACKED = msgspec.structs.replace(
    GOOD, versions=pack(GOOD.versions, VERSION), labels=pack(GOOD.labels, LABEL),
    scores=pack(GOOD.scores, FLOAT), ts=pack(GOOD.ts, FLOAT))


def record(value: bytes, offset: int = 0) -> KafkaRecord:
    return KafkaRecord(TOPICS.labeled_outcomes, 1, offset, None, value, 0)


def monitor() -> Monitor:
    return Monitor(model="conversion", windows=WindowConfig(labeled_events=4, labeled_stride=4,
                                                           min_events=1))


@pytest.mark.parametrize("written", [GOOD, PACKED], ids=["arrays", "packed"])
def test_outcomes_written_twice_count_each_event_once(written: LabeledOutcomes) -> None:
    m = monitor()
    value = msgspec.json.encode(written)

    [report] = m.ingest([record(value, 0)], now=NOW)
    m.ingest([record(value, 1)], now=NOW)

    assert report.figures["roc_auc"] == 1.0 and report.figures["accuracy"] == 1.0
    assert m.counts[("labeled", "counted")] == 4 and m.counts[("labeled", "duplicate")] == 4
    assert m.labeled[next(iter(m.labeled))].trail.first_offsets(since=0) == (
        (TOPICS.labeled_events, 1, 10),)


@pytest.mark.parametrize(("changes", "problem"), [
    ({"labels": [0, 1, 1]}, "outcomes-columns-differ"),
    ({"ts": [NOW] * 5}, "outcomes-columns-differ"),
    ({"last_offset": 12}, "outcomes-out-of-range"),
    ({"last_offset": 20}, "outcomes-out-of-range"),  # consecutive, yet not
    ({"ts": [NOW, NOW, NOW, NOW + 3 * 86400]}, "bad-timestamp"),
    ({"ts": [NOW, NOW, NOW, 100.0]}, "bad-timestamp"),
    ({"event_ids": ["e1", "e2", "e\u202e3", "e4"]}, "unsafe-id"),
    ({"event_ids": ["e1", "e2", "e\u0301", "e4"]}, "unsafe-id"),  # not NFC
])
def test_outcomes_the_monitor_cannot_check_are_refused_whole(changes: dict[str, object],
                                                             problem: str) -> None:
    m = monitor()
    bad = msgspec.structs.replace(GOOD, **changes)

    assert m.ingest([record(msgspec.json.encode(bad))], now=NOW) == []
    assert outcome_columns(bad, NOW) == problem
    assert m.counts[("outcomes", problem)] == 1 and m.counts[("labeled", "counted")] == 0


@pytest.mark.parametrize(("changes", "problem"), [
    ({"labels": pack([0, 1, 2, 0], LABEL)}, "outcomes-values-out-of-range"),
    ({"versions": pack([1, 0, 1, 1], VERSION)}, "outcomes-values-out-of-range"),
    ({"scores": pack([0.1, 1.5, 0.5, 0.5], FLOAT)}, "outcomes-values-out-of-range"),
    ({"scores": pack([0.1, float("nan"), 0.5, 0.5], FLOAT)}, "outcomes-values-out-of-range"),
    ({"scores": pack([0.1, 0.2, 0.5], FLOAT)}, "outcomes-columns-differ"),
    ({"ts": pack([NOW] * 4, FLOAT)[:-1]}, "outcomes-columns-differ"),
    ({"ts": pack([NOW, NOW, NOW, float("inf")], FLOAT)}, "bad-timestamp"),
])
def test_packed_numbers_are_checked_as_arrays_are_when_decoded(changes: dict[str, object],
                                                               problem: str) -> None:
    m = monitor()
    bad = msgspec.structs.replace(PACKED, **changes)

    assert m.ingest([record(msgspec.json.encode(bad))], now=NOW) == []
    assert m.counts[("outcomes", problem)] == 1 and m.counts[("labeled", "counted")] == 0


def test_packed_and_array_outcomes_give_the_same_figures() -> None:
    reports = [monitor().ingest([record(msgspec.json.encode(o))], now=NOW)
               for o in (GOOD, PACKED)]

    assert [repr(r.figures) for r in reports[0]] == [repr(r.figures) for r in reports[1]]
    assert len(reports[0]) == 1


def test_not_consecutive_outcomes_are_counted_without_naming_offsets() -> None:
    m = monitor()
    loose = msgspec.structs.replace(GOOD, last_offset=40, consecutive=False)

    m.ingest([record(msgspec.json.encode(loose))], now=NOW)

    assert m.counts[("labeled", "counted")] == 4
    assert m.labeled[next(iter(m.labeled))].trail.first_offsets(since=0) == ()


@pytest.mark.parametrize("written", [GOOD, PACKED], ids=["arrays", "packed"])
def test_random_bytes_on_labeled_outcomes_never_raise(written: LabeledOutcomes) -> None:
    rng = random.Random(7)
    good = msgspec.json.encode(written)
    m = monitor()
    for _ in range(300):
        value = bytearray(good)
        for _ in range(rng.randint(1, 6)):
            value[rng.randrange(len(value))] = rng.randrange(256)
        m.ingest([record(bytes(value))], now=NOW)

    assert sum(n for (kind, _), n in m.counts.items() if kind == "outcomes") > 0


def test_an_outcomes_record_over_a_mebibyte_is_refused_unread() -> None:
    m = monitor()
    value = msgspec.json.encode(GOOD)
    padded = value[:-1] + b" " * (1024 * 1024) + b"}"

    assert m.ingest([record(padded)], now=NOW) == []
    assert m.counts[("outcomes", "oversize-message")] == 1
