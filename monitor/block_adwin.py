"""ADWIN that takes its items a block at a time: each block's count, sum and sum of
squared deviations, never the items themselves.

ADWIN (Bifet and Gavaldà, 2007) keeps a window of recent items in buckets of
exponentially growing size and drops its old end while some split of it into an older
and a newer part has means further apart than a bound on chance. Neither the buckets
nor the bound need the items one by one: a bucket is a count, a sum and a sum of
squared deviations, two buckets merge exactly (Chan's pairwise formula), and the bound
reads the counts either side of a split and the variance of the window. So blocks of
items go in as three numbers each, and the detector judges as river's ADWIN does on
the same items, with splits between blocks only. River's ADWIN fed the *means* of
blocks counts each block as one item: its bound then grows with the block size and it
finds a change far later or never (``python -m benchmarks concept_blocks``).

The parameters are river's and mean the same, counted in items: ``delta`` the
confidence, ``clock`` how many items between checks (a check comes after the block
that completes them), ``max_buckets`` buckets of a size before two merge,
``min_window_length`` the fewest items either side of a split, ``grace_period`` the
fewest items in the window before any check. As river's, it starts afresh on the
update after a detection.
"""

from __future__ import annotations

import math
from collections import deque


class BlockADWIN:
    """ADWIN over blocks of items (:meth:`update_block`), or items one by one (:meth:`update`).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> detector, fed = BlockADWIN(), 0
    >>> for mean in [0.2] * 40 + [0.5] * 10:
    ...     block = rng.normal(mean, 0.1, 100)
    ...     detector.update_block(100, block.sum(), ((block - block.mean()) ** 2).sum())
    ...     fed += 100
    ...     if detector.drift_detected:
    ...         break
    >>> detector.drift_detected, 4000 < fed <= 4500
    (True, True)
    """

    def __init__(self, delta: float = 0.002, clock: int = 32, max_buckets: int = 5,
                 min_window_length: int = 5, grace_period: int = 10) -> None:
        if not 0.0 < delta < 1.0:
            raise ValueError(f"delta must be within (0, 1), got {delta}")
        for name, value, least in (("clock", clock, 1), ("max_buckets", max_buckets, 2),
                                   ("min_window_length", min_window_length, 1),
                                   ("grace_period", grace_period, 1)):
            if not isinstance(value, int) or value < least:
                raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
        self.delta = delta
        self.clock = clock
        self.max_buckets = max_buckets
        self.min_window_length = min_window_length
        self.grace_period = grace_period
        self.drift_detected = False
        self._reset()

    def _reset(self) -> None:
        # Level i holds buckets of 2**i blocks, oldest first; level i + 1 is all older.
        self._levels: list[deque[tuple[int, float, float]]] = [deque()]
        self.width = 0
        self._total = 0.0
        self._m2 = 0.0
        self._since_check = 0

    def update(self, x: float) -> None:
        """Add one item."""
        self.update_block(1, x, 0.0)

    def update_block(self, n: int, total: float, m2: float) -> None:
        """Add ``n`` items with sum ``total`` and sum of squared deviations from their own
        mean ``m2``; ``drift_detected`` then says whether the window was cut."""
        if self.drift_detected:
            self._reset()
            self.drift_detected = False
        if n <= 0:
            return
        self.width, self._total, self._m2 = _merged(
            (self.width, self._total, self._m2), (n, total, m2))
        self._insert((n, total, m2))
        self._since_check += n
        if self._since_check >= self.clock and self.width > self.grace_period:
            self._since_check %= self.clock
            self.drift_detected = self._cut()

    def _insert(self, bucket: tuple[int, float, float]) -> None:
        levels = self._levels
        levels[0].append(bucket)
        for i, level in enumerate(levels):
            if len(level) <= self.max_buckets:
                break
            merged = _merged(level.popleft(), level.popleft())
            if i + 1 == len(levels):
                levels.append(deque())
            levels[i + 1].append(merged)

    def _cut(self) -> bool:
        """Drop the window's old end while a split says the means differ; True if any."""
        cut = False
        while self.width > self.grace_period and self._splits_differ():
            self._drop_oldest()
            cut = True
        return cut

    def _splits_differ(self) -> bool:
        """Whether any split between buckets, with at least ``min_window_length`` items
        either side, has means further apart than ADWIN's bound."""
        # A loop, not numpy: some forty buckets cost less than building their arrays.
        width, total, shortest = self.width, self._total, self.min_window_length
        delta_prime = math.log(2.0 * math.log(width) / self.delta)
        spread = 2.0 * self._m2 / width * delta_prime  # times 1/m under the square root
        linear = 2.0 / 3.0 * delta_prime
        n0, u0 = 0, 0.0
        for level in reversed(self._levels):  # oldest first
            for n, t, _ in level:
                n0 += n
                u0 += t
                n1 = width - n0
                if n1 < shortest:
                    return False
                if n0 < shortest:
                    continue
                m_recip = 1.0 / (n0 - shortest + 1) + 1.0 / (n1 - shortest + 1)
                if abs(u0 / n0 - (total - u0) / n1) > math.sqrt(spread * m_recip) \
                        + linear * m_recip:
                    return True
        return False

    def _drop_oldest(self) -> None:
        levels = self._levels
        oldest = levels[-1].popleft()
        if not levels[-1] and len(levels) > 1:
            levels.pop()
        self.width, self._total, self._m2 = _removed((self.width, self._total, self._m2),
                                                     oldest)


def _merged(a: tuple[int, float, float], b: tuple[int, float, float]) \
        -> tuple[int, float, float]:
    """Count, sum and sum of squared deviations of two groups of items together.

    >>> _merged((2, 2.0, 2.0), (2, 6.0, 2.0))  # {0, 2} and {2, 4}
    (4, 8.0, 8.0)
    """
    na, ta, ma = a
    nb, tb, mb = b
    if na == 0:
        return b
    n = na + nb
    gap = ta / na - tb / nb
    return n, ta + tb, ma + mb + gap * gap * na * nb / n


def _removed(whole: tuple[int, float, float], part: tuple[int, float, float]) \
        -> tuple[int, float, float]:
    """What is left of ``whole`` without ``part`` (the inverse of :func:`_merged`).

    >>> _removed((4, 8.0, 8.0), (2, 2.0, 2.0))
    (2, 6.0, 2.0)
    """
    n, t, m = whole
    np_, tp, mp = part
    rest = n - np_
    if rest <= 0:
        return 0, 0.0, 0.0
    tr = t - tp
    gap = tp / np_ - tr / rest
    return rest, tr, max(m - mp - gap * gap * np_ * rest / n, 0.0)


__all__ = ["BlockADWIN"]
