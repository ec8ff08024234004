"""A bounded memory of ids already seen: the scoring processor refuses a repeated
event id with it, the joiner a label joined before, the monitor a record counted
before."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from itertools import chain, islice


class RecentIds:
    """The last ``capacity`` ids seen; older ones are forgotten first.

    Ids are kept as their hashes: half the memory of the strings, and a clash
    between two of a few hundred thousand 64-bit hashes is vanishingly rare.
    A set beside a deque of at most ``capacity`` keeps every step O(1) (an ordered
    dict emptied from the front slows down as it fills with holes), and lets a batch
    of new ids in with two passes over the set: one to look, one to add.

    >>> seen = RecentIds(capacity=2)
    >>> [seen.add(i) for i in ("a", "b", "a", "c", "a")]
    [True, True, False, True, True]
    >>> RecentIds(capacity=5).add_new(["a", "b", "a"])
    [0, 1]
    """

    def __init__(self, *, capacity: int = 200_000) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._set: set[int] = set()
        self._order: deque[int] = deque(maxlen=capacity)  # appending drops the oldest

    def add(self, item: str) -> bool:
        """Remember ``item``; False when it was already remembered."""
        h = hash(item)
        known = self._set
        if h in known:
            return False
        order = self._order
        if len(order) == self.capacity:
            known.discard(order[0])
        known.add(h)
        order.append(h)
        return True

    def add_new(self, items: list[str]) -> Sequence[int]:
        """:meth:`add` of each item in turn, in one call for a whole batch: the indices
        of the items it remembered anew."""
        hashes = list(map(hash, items))
        known = self._set
        before = len(known)
        if known.isdisjoint(hashes):
            # All new, the usual case: what one add after another would leave, in C.
            known.update(hashes)
            if len(known) - before == len(hashes):
                order = self._order
                excess = len(order) + len(hashes) - self.capacity
                if excess > 0:
                    known.difference_update(islice(chain(order, hashes), excess))
                order.extend(hashes)
                return range(len(hashes))
            known.difference_update(hashes)  # one repeats another: none was known
        add = self.add  # a string keeps its hash: not computed again
        return [i for i, item in enumerate(items) if add(item)]

    def clear(self) -> None:
        self._set.clear()
        self._order.clear()

    def __contains__(self, item: object) -> bool:
        return hash(item) in self._set

    def __len__(self) -> int:
        return len(self._order)


__all__ = ["RecentIds"]
