"""A bounded memory of record ids already counted, so redelivered records count once."""

from __future__ import annotations

from collections import deque


class SeenIds:
    """Remembers the last ``capacity`` ids; older ones are forgotten first.

    Ids are kept as their hashes: half the memory of the strings, and a clash
    between two of a few hundred thousand 64-bit hashes is vanishingly rare.
    A set beside a deque keeps every step O(1) (an ordered dict emptied from the
    front slows down as it fills with holes).

    Examples
    --------
    >>> seen = SeenIds(capacity=2)
    >>> [seen.first_time(i) for i in ("a", "b", "a", "c", "a")]
    [True, True, False, True, True]
    """

    def __init__(self, *, capacity: int = 100_000) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._set: set[int] = set()
        self._order: deque[int] = deque()

    def first_time(self, item: str) -> bool:
        """Remember ``item``; False when it was already remembered."""
        h = hash(item)
        if h in self._set:
            return False
        self._set.add(h)
        self._order.append(h)
        if len(self._order) > self.capacity:
            self._set.discard(self._order.popleft())
        return True

    def first_times(self, items: list[str]) -> list[bool]:
        """:meth:`first_time` of each item in turn, in one call for a whole batch.

        >>> SeenIds(capacity=5).first_times(["a", "b", "a"])
        [True, True, False]
        """
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

    def __len__(self) -> int:
        return len(self._order)


__all__ = ["SeenIds"]
