"""The joiner's byte budget: stores count their records' bytes, and past the budget the
oldest waiting entries leave as dead letters that say why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from contracts.records import DeadLetter, Label, UserEvent
from stream_processors.joiner_step import join_messages
from stream_processors.label_join import (
    ENTRY_OVERHEAD_BYTES,
    MEMORY_BUDGET_FULL,
    AgedStore,
    JoinOutput,
    LabelJoin,
)
from stream_processors.partitioned_join import PartitionedJoin
from tests.unit.stream_processors.test_joiner_step import TOPICS, message

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
BIG = {f"f{i}": "x" * 250 for i in range(200)}  # about 52 KB encoded


def big_event(n: int) -> UserEvent:
    return UserEvent(event_id=f"e{n}", user_id="u1", ts=T0, features=BIG)


def test_the_store_counts_bytes_through_put_replace_pop_and_expiry() -> None:
    store = AgedStore[str](capacity=10, ttl_seconds=5)
    store.put("a", "A", now=0, size=100)
    store.put("b", "B", now=1, size=50)
    store.put("a", "A2", now=2, size=70)  # replaced: its old size leaves
    assert store.bytes == 120
    store.pop("b")
    assert store.bytes == 70 and store.oldest_time() == 2
    assert store.expire(now=10) == [("a", "A2")] and store.bytes == 0
    assert store.oldest_time() is None


def test_events_past_the_budget_leave_oldest_first_and_the_stores_stay_within_it() -> None:
    budget = 400_000
    join, out = LabelJoin(max_bytes=budget), JoinOutput()
    size = len(msgspec.json.encode(big_event(0)))
    for n in range(50):
        join.on_event(big_event(n), float(n), out, size=size)
        assert join.events.bytes + join.waiting_labels.bytes <= budget
    kept = budget // (size + ENTRY_OVERHEAD_BYTES)
    assert len(join.events) == kept
    assert [e.event_id for e in out.evicted_events] == [f"e{n}" for n in range(50 - kept)]
    assert out.events_dropped[MEMORY_BUDGET_FULL] == 50 - kept
    assert "joiner memory budget of 400000 bytes full: oldest waiting event evicted" \
        in out.evicted_events[0].error


def test_a_label_older_than_every_event_is_the_one_to_leave() -> None:
    join, out = LabelJoin(max_bytes=200_000), JoinOutput()
    join.on_label(Label(event_id="old", user_id="u1", ts=T0, label=1), 0.0, out)
    for n in range(4):
        join.on_event(big_event(n), 1.0 + n, out)
    assert [u.label.event_id for u in out.unmatched_labels] == ["old"]
    assert out.unmatched_labels[0].reason == MEMORY_BUDGET_FULL
    assert "oldest waiting label evicted" in out.unmatched_labels[0].error


def test_without_a_budget_only_the_count_bounds_the_stores() -> None:
    join, out = LabelJoin(capacity=1000), JoinOutput()
    for n in range(20):
        join.on_event(big_event(n), float(n), out)
    assert len(join.events) == 20 and not out.evicted_events


def test_evicted_events_are_dead_lettered_with_their_bytes_and_counted() -> None:
    joins = PartitionedJoin(partitions=3, max_bytes=3 * 300_000)
    joins.assign({1})
    raws = [msgspec.json.encode(big_event(n)) for n in range(12)]
    now = T0 + timedelta(minutes=1)
    result = join_messages([message(TOPICS.user_events, raw) for raw in raws], joins, TOPICS,
                           now=now)
    letters = [msgspec.json.decode(v, type=DeadLetter) for _, v, _ in result.dead_letters]
    assert result.budget_evictions["event"] == len(letters) == 12 - joins.pending_events > 0
    assert {d.reason for d in letters} == {MEMORY_BUDGET_FULL}
    assert all("joiner memory budget of 300000 bytes full" in d.error for d in letters)
    assert [msgspec.json.decode(d.original, type=UserEvent) for d in letters] == \
        [big_event(n) for n in range(len(letters))]
