"""Join state by partition: ownership follows the assignment, bounds are shared out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts.records import Label
from stream_processors.label_join import JoinOutput
from stream_processors.partitioned_join import PartitionedJoin


def test_assign_keeps_retained_partitions_and_drops_revoked_ones() -> None:
    joins = PartitionedJoin(partitions=3)
    joins.assign({0, 1})
    kept = joins.get(1)

    dropped, added = joins.assign({1, 2})

    assert (dropped, added) == ({0}, {2})
    assert joins.get(1) is kept and joins.get(0) is None
    assert list(joins) == [1, 2] and 2 in joins and len(joins) == 2


def test_capacity_is_shared_out_over_the_partitions() -> None:
    joins = PartitionedJoin(partitions=3, capacity=10, ttl_seconds=60, label_wait_seconds=5)

    join = joins.new_join()

    assert joins.share == 4
    assert (join.events.capacity, join.waiting_labels.capacity, join.joined.capacity) == (4, 4, 4)
    assert (join.events.ttl_seconds, join.waiting_labels.ttl_seconds) == (60, 5)


def test_next_offsets_follow_what_was_fed_for_owned_partitions_only() -> None:
    joins = PartitionedJoin(partitions=3)
    joins.assign({0, 1})

    joins.fed("labels", 0, 7)
    joins.fed("labels", 0, 8)
    joins.fed("user-events", 1, 3)
    joins.fed("labels", 2, 5)  # not owned
    assert joins.next_offsets() == {("labels", 0): 9, ("user-events", 1): 4}

    joins.assign({1})
    assert joins.next_offsets() == {("user-events", 1): 4}


def test_install_replaces_an_owned_partition_only() -> None:
    joins = PartitionedJoin(partitions=2)
    joins.assign({0})
    restored = joins.new_join()

    joins.install(0, restored)

    assert joins.get(0) is restored
    with pytest.raises(KeyError, match="partition 1 is not assigned"):
        joins.install(1, joins.new_join())


def test_counts_cover_every_owned_partition_and_each_join_knows_its_own() -> None:
    joins = PartitionedJoin(partitions=2, label_wait_seconds=5)
    joins.assign({0, 1})
    out = JoinOutput()
    for partition in (0, 1):
        join = joins.get(partition)
        assert join is not None
        join.on_label(Label(event_id=f"e{partition}", user_id="u", label=1,
                            ts=datetime(2026, 1, 1, tzinfo=UTC)), 0.0, out)

    assert joins.waiting_labels == 2 and joins.pending_events == 0
    assert joins.waiting_by_partition() == {0: 1, 1: 1}
    assert [joins.get(p).partition for p in joins] == [0, 1]  # type: ignore[union-attr]


def test_a_partition_count_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="partitions >= 1"):
        PartitionedJoin(partitions=0)
