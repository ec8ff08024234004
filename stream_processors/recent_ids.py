"""A bounded memory of recently seen ids, to refuse a repeated event id."""

from __future__ import annotations

from collections import OrderedDict


class RecentIds:
    """The last ``capacity`` ids seen; older ones are forgotten first.

    >>> seen = RecentIds(capacity=2)
    >>> [seen.add(i) for i in ("a", "b", "a", "c", "a")]
    [True, True, False, True, True]
    """

    def __init__(self, *, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add(self, item: str) -> bool:
        """Remember ``item``; False when it was already remembered."""
        if item in self._ids:
            return False
        self._ids[item] = None
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
        return True

    def clear(self) -> None:
        self._ids.clear()

    def __contains__(self, item: object) -> bool:
        return item in self._ids

    def __len__(self) -> int:
        return len(self._ids)
