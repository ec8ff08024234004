"""A bounded memory of ids already seen: the scoring processor refuses a repeated
event id with it, the joiner a label joined before, the monitor a record counted
before."""

from __future__ import annotations


class RecentIds:
    """The last ``capacity`` ids seen; older ones are forgotten first.

    Ids are kept as their hashes: half the memory of the strings, and a clash
    between two of a few hundred thousand 64-bit hashes is vanishingly rare.
    A set beside a list of the hashes in the order seen, consumed from a moving
    start, keeps every step O(1) and lets a whole batch be forgotten in one C call.

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
        self._order: list[int] = []
        self._start = 0  # the oldest hash remembered is ``_order[_start]``

    def add(self, item: str) -> bool:
        """Remember ``item``; False when it was already remembered."""
        h = hash(item)
        if h in self._set:
            return False
        self._set.add(h)
        self._order.append(h)
        if len(self._order) - self._start > self.capacity:
            self._forget(1)
        return True

    def add_all(self, items: list[str]) -> list[bool]:
        """:meth:`add` of each item in turn, in one call for a whole batch."""
        hashes = list(map(hash, items))
        known = self._set
        batch = set(hashes)
        if len(batch) == len(hashes) and known.isdisjoint(batch):
            # All new, the usual case: what one add after another would leave, in C.
            known |= batch
            self._order += hashes
            excess = len(self._order) - self._start - self.capacity
            if excess > 0:
                self._forget(excess)
            return [True] * len(hashes)
        out = []
        for h in hashes:
            if h in known:
                out.append(False)
                continue
            known.add(h)
            self._order.append(h)
            if len(self._order) - self._start > self.capacity:
                self._forget(1)
            out.append(True)
        return out

    def _forget(self, n: int) -> None:
        """Forget the ``n`` oldest hashes."""
        order, start = self._order, self._start
        if n == 1:
            self._set.discard(order[start])
        else:
            self._set.difference_update(order[start:start + n])
        start += n
        if start >= self.capacity:  # drop the forgotten ones, at most once a capacity
            del order[:start]
            start = 0
        self._start = start

    def clear(self) -> None:
        self._set.clear()
        self._order.clear()
        self._start = 0

    def __contains__(self, item: object) -> bool:
        return hash(item) in self._set

    def __len__(self) -> int:
        return len(self._order) - self._start


__all__ = ["RecentIds"]
