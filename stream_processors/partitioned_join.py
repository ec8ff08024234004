"""The joiner's state, one :class:`LabelJoin` per partition number this worker owns.

The joiner brings every piece of a join to one partition number
(:mod:`stream_processors.repartition`), so the join of partition ``p`` is complete.
Keeping one join per partition number makes a rebalance simple: a revoked
partition's state is dropped whole (memory stays bounded by what is owned) and a
newly assigned one is rebuilt from the topics' tails
(:mod:`stream_processors.join_recovery`) before its records are processed.

``capacity`` and ``max_bytes`` bound the whole worker: each partition's stores get an
equal share.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

from stream_processors.label_join import LabelJoin


class PartitionedJoin:
    """Join state by partition number; records of partitions not owned have no state.

    It also remembers, for each owned partition and topic, the offset after the last
    record fed, so a worker that keeps a partition through a rebalance can resume
    exactly there (:meth:`next_offsets`).

    >>> joins = PartitionedJoin(partitions=4, capacity=100)
    >>> joins.assign({0, 1}), joins.share
    ((set(), {0, 1}), 25)
    >>> joins.assign({1, 2}), sorted(joins)
    (({0}, {2}), [1, 2])
    >>> joins.get(0) is None, joins.get(1) is not None
    (True, True)
    """

    def __init__(self, *, partitions: int, capacity: int = 200_000,
                 ttl_seconds: float = 3600.0, label_wait_seconds: float = 30.0,
                 max_bytes: int | None = None) -> None:
        if partitions < 1:
            raise ValueError(f"expected partitions >= 1, got {partitions}")
        self.partitions = partitions
        self.capacity = capacity
        self.ttl_seconds = ttl_seconds
        self.label_wait_seconds = label_wait_seconds
        self.share = max(1, math.ceil(capacity / partitions))
        self.bytes_share = None if max_bytes is None else max(1, max_bytes // partitions)
        self._joins: dict[int, LabelJoin] = {}
        self._next: dict[int, dict[str, int]] = {}
        self.new_join()  # validate the bounds now, not at the first assignment

    def new_join(self, partition: int | None = None) -> LabelJoin:
        """An empty join with this worker's per-partition bounds."""
        return LabelJoin(capacity=self.share, ttl_seconds=self.ttl_seconds,
                         label_wait_seconds=self.label_wait_seconds, partition=partition,
                         max_bytes=self.bytes_share)

    def assign(self, partitions: Iterable[int]) -> tuple[set[int], set[int]]:
        """Own exactly ``partitions``: drop the others' state, start empty ones for the new.

        Returns ``(dropped, added)``; the caller restores ``added`` with :meth:`install`.
        """
        wanted = set(partitions)
        dropped = set(self._joins) - wanted
        added = wanted - set(self._joins)
        for partition in dropped:
            del self._joins[partition]
            self._next.pop(partition, None)
        for partition in added:
            self._joins[partition] = self.new_join(partition)
        return dropped, added

    def install(self, partition: int, join: LabelJoin) -> None:
        """Replace the state of an owned partition, e.g. with one rebuilt from the topics."""
        if partition not in self._joins:
            raise KeyError(f"partition {partition} is not assigned to this worker")
        self._joins[partition] = join

    def get(self, partition: int) -> LabelJoin | None:
        return self._joins.get(partition)

    def fed(self, topic: str, partition: int, offset: int) -> None:
        """Note that the record at ``offset`` of an owned partition has been fed."""
        if partition in self._joins:
            self._next.setdefault(partition, {})[topic] = offset + 1

    def next_offsets(self) -> dict[tuple[str, int], int]:
        """``(topic, partition) -> offset`` after the last record fed, for owned partitions."""
        return {(topic, partition): offset for partition, topics in self._next.items()
                for topic, offset in topics.items()}

    @property
    def waiting_labels(self) -> int:
        return sum(len(join.waiting_labels) for join in self._joins.values())

    def waiting_by_partition(self) -> dict[int, int]:
        """Labels waiting for their scored event, by owned partition."""
        return {partition: len(join.waiting_labels) for partition, join in self._joins.items()}

    @property
    def pending_events(self) -> int:
        return sum(len(join.events) for join in self._joins.values())

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(self._joins))

    def __contains__(self, partition: object) -> bool:
        return partition in self._joins

    def __len__(self) -> int:
        return len(self._joins)
