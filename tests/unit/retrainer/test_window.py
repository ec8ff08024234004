"""The training window: deduplicated, bounded by count and age, ordered, with lineage."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest

from retrainer.window import ENTRY_OVERHEAD_BYTES, TrainingWindow
from tests.unit.retrainer.conftest import T0, TOPIC, labeled


def window(n: int = 100, hours: float = 24) -> TrainingWindow:
    return TrainingWindow(max_events=n, max_age=timedelta(hours=hours))


def test_an_event_id_seen_twice_is_held_once() -> None:
    w = window()
    assert w.add(labeled(1), TOPIC, 0, 10)
    assert not w.add(labeled(1, label=1), TOPIC, 1, 99)
    assert len(w) == 1 and "e1" in w
    assert w.snapshot().entries[0].offset == 10


def test_the_oldest_arrivals_leave_when_the_count_bound_is_reached() -> None:
    w = window(n=3)
    for i in range(5):
        w.add(labeled(i), TOPIC, 0, i)
    assert [e.event.event_id for e in w.snapshot().entries] == ["e2", "e3", "e4"]


def test_events_older_than_the_age_bound_before_the_newest_leave() -> None:
    w = window(hours=1)
    w.add(labeled(0, ts=T0), TOPIC, 0, 0)
    w.add(labeled(1, ts=T0 + timedelta(minutes=30)), TOPIC, 0, 1)
    w.add(labeled(2, ts=T0 + timedelta(minutes=90)), TOPIC, 0, 2)
    assert [e.event.event_id for e in w.snapshot().entries] == ["e1", "e2"]
    assert not w.add(labeled(3, ts=T0), TOPIC, 0, 3), "too old to enter"


def test_a_straggler_too_old_is_left_out_of_the_snapshot() -> None:
    w = window(hours=1)
    w.add(labeled(0, ts=T0 + timedelta(minutes=50)), TOPIC, 0, 0)
    w.add(labeled(1, ts=T0 + timedelta(minutes=10)), TOPIC, 0, 1)
    w.add(labeled(2, ts=T0 + timedelta(minutes=80)), TOPIC, 0, 2)
    assert [e.event.event_id for e in w.snapshot().entries] == ["e0", "e2"]


def test_the_snapshot_is_in_event_time_order_whatever_the_arrival_order() -> None:
    w = window()
    for i in (3, 1, 2, 0):
        w.add(labeled(i), TOPIC, 0, i)
    assert [e.event.event_id for e in w.snapshot().entries] == ["e0", "e1", "e2", "e3"]


def test_lineage_names_first_and_last_offset_of_every_partition() -> None:
    w = window()
    for offset, partition in [(5, 0), (9, 0), (7, 2), (3, 2), (4, 1)]:
        w.add(labeled(offset * 10 + partition), TOPIC, partition, offset)
    assert [(r.partition, r.first, r.last) for r in w.snapshot().lineage()] == [
        (0, 5, 9), (1, 4, 4), (2, 3, 7)]
    assert {r.topic for r in w.snapshot().lineage()} == {TOPIC}


def test_split_keeps_the_newest_events_for_the_holdout() -> None:
    w = window()
    for i in range(10):
        w.add(labeled(i), TOPIC, 0, i)
    older, holdout = w.snapshot().split(0.3)
    assert [e.event.event_id for e in holdout.entries] == ["e7", "e8", "e9"]
    assert max(e.event.ts for e in older.entries) < min(e.event.ts for e in holdout.entries)


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="max_events"):
        TrainingWindow(max_events=0, max_age=timedelta(hours=1))
    with pytest.raises(ValueError, match="positive max_age"):
        TrainingWindow(max_events=1, max_age=timedelta(0))


def test_the_oldest_arrivals_leave_when_the_byte_bound_is_reached() -> None:
    big = {f"f{k}": "x" * 250 for k in range(200)}  # about 52 KB encoded
    bounded = TrainingWindow(max_events=1000, max_age=timedelta(days=1), max_bytes=500_000)
    for i in range(30):
        bounded.add(labeled(i, features=big), TOPIC, 0, i)
        assert bounded.bytes <= 500_000
    held = [e.event.event_id for e in bounded]
    assert held == [f"e{i}" for i in range(30 - len(held), 30)] and 5 <= len(held) <= 10
    assert bounded.left_for_bytes == 30 - len(held)
    small = [labeled(i) for i in range(30, 40)]
    for i, event in enumerate(small):
        bounded.add(event, TOPIC, 0, 30 + i)
    assert bounded.bytes == sum(ENTRY_OVERHEAD_BYTES + len(msgspec.json.encode(e.event))
                                for e in bounded)


def test_a_zero_byte_bound_is_refused() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        TrainingWindow(max_events=1, max_age=timedelta(hours=1), max_bytes=0)
