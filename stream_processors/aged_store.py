"""A store whose oldest entries leave first, bounded by count and age, counting bytes."""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

V = TypeVar("V")


class AgedStore(Generic[V]):
    """Insertion-ordered values with their arrival time; the oldest leave first.

    Putting a key again refreshes it: it moves to the young end with the new time,
    which keeps the store ordered by time so expiry stops at the first young item.

    >>> store = AgedStore[int](capacity=2, ttl_seconds=10)
    >>> store.put("a", 1, now=0), store.put("b", 2, now=1), store.put("c", 3, now=2)
    ([], [], [('a', 1)])
    >>> store.expire(now=11.5)
    [('b', 2)]
    """

    def __init__(self, *, capacity: int, ttl_seconds: float) -> None:
        if capacity < 1 or ttl_seconds < 0:
            raise ValueError(
                f"expected capacity >= 1 and ttl_seconds >= 0, got {capacity} and {ttl_seconds}"
            )
        self.capacity = capacity
        self.ttl_seconds = ttl_seconds
        self.bytes = 0  # sum of the sizes given to put
        self._items: OrderedDict[str, tuple[float, V, int]] = OrderedDict()

    def put(self, key: str, value: V, *, now: float, size: int = 0) -> list[tuple[str, V]]:
        """Store ``value`` counting ``size`` bytes; return what fell out because it was full."""
        self.pop(key)
        self._items[key] = (now, value, size)
        self.bytes += size
        evicted = []
        while len(self._items) > self.capacity:
            evicted.append(self.pop_oldest())
        return evicted

    def pop(self, key: str) -> V | None:
        item = self._items.pop(key, None)
        if item is None:
            return None
        self.bytes -= item[2]
        return item[1]

    def pop_oldest(self) -> tuple[str, V]:
        key, (_, value, size) = self._items.popitem(last=False)
        self.bytes -= size
        return key, value

    def oldest_time(self) -> float | None:
        """When the oldest entry arrived, or None when empty."""
        return next(iter(self._items.values()))[0] if self._items else None

    def size_of(self, key: str) -> int:
        item = self._items.get(key)
        return 0 if item is None else item[2]

    def get(self, key: str) -> V | None:
        item = self._items.get(key)
        return None if item is None else item[1]

    def expire(self, *, now: float) -> list[tuple[str, V]]:
        """Remove and return what has been stored for longer than ``ttl_seconds``."""
        expired = []
        while self._items:
            arrived = next(iter(self._items.values()))[0]
            if now - arrived <= self.ttl_seconds:
                break
            expired.append(self.pop_oldest())
        return expired

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)


__all__ = ["AgedStore"]
