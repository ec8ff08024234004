"""A bounded memory of ids already seen: the scoring processor refuses a repeated
event id with it, the joiner a label joined before, the monitor a record counted
before."""

from __future__ import annotations

from collections import deque


class RecentIds:
    """The last ``capacity`` ids seen; older ones are forgotten first.

    Ids are kept as their hashes: half the memory of the strings, and a clash
    between two of a few hundred thousand 64-bit hashes is vanishingly rare.
    A set beside a deque keeps every step O(1) (an ordered dict emptied from the
    front slows down as it fills with holes).

    >>> seen = RecentIds(capacity=2)
    >>> [seen.add(i) for i in ("a", "b", "a", "c", "a")]
    [True, True, False, True, True]
    >>> RecentIds(capacity=5).add_all(["a", "b", "a"])
    [True, True, False]
    """

    def __init__(self, *, capacity: int = 200_000) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._set: set[int] = set()
        self._order: deque[int] = deque()

    def add(self, item: str) -> bool:
        """Remember ``item``; False when it was already remembered."""
        h = hash(item)
        if h in self._set:
            return False
        self._set.add(h)
        self._order.append(h)
        if len(self._order) > self.capacity:
            self._set.discard(self._order.popleft())
        return True

    def add_all(self, items: list[str]) -> list[bool]:
        """:meth:`add` of each item in turn, in one call for a whole batch."""
        known, order, capacity = self._set, self._order, self.capacity
        out = []
        for item in items:
            h = hash(item)
            if h in known:
                out.append(False)
                continue
            known.add(h)
            order.append(h)
            if len(order) > capacity:
                known.discard(order.popleft())
            out.append(True)
        return out

    def clear(self) -> None:
        self._set.clear()
        self._order.clear()

    def __contains__(self, item: object) -> bool:
        return hash(item) in self._set

    def __len__(self) -> int:
        return len(self._order)


__all__ = ["RecentIds"]
