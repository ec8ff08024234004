"""Does a drift last? Evidence, before each further round of an episode, that it is worth it.

A drift alert gets its first round at once. Each further round is worth its cost
only while the drift lasts, and a rule that fired once is no evidence of that: on a
stable stream a window now and then breaches by chance, and retrying such an alert
spends every round it has, each refused by the gate. A further round runs when
either of two things holds:

- the last round's challenger did better than the champion on the holdout on
  average, only not surely enough to publish (on a stable stream a challenger fitted
  on the few post-change rows is worse than the champion almost always);
- the champion's served log loss on the labels that arrived since the last round
  (no rule has judged them) is above its served log loss on the window's labels from
  before the change point, by a one-sided Welch test at 5%.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import numpy as np

from retrainer.challenge import log_losses

Z: Final = 1.645  # one-sided 5%
FEWEST: Final = 100  # rows on each side below which the test cannot tell, and the round runs


@dataclass
class Losses:
    """Running count, sum and sum of squares of per-event log loss."""

    n: int = 0
    total: float = 0.0
    squares: float = 0.0

    def add(self, label: int, score: float) -> None:
        loss = float(log_losses(np.array([label]), np.array([score]))[0])
        self.n += 1
        self.total += loss
        self.squares += loss * loss

    @classmethod
    def of(cls, pairs: Iterable[tuple[int, float]]) -> Losses:
        losses = cls()
        for label, score in pairs:
            losses.add(label, score)
        return losses

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        if self.n < 2:
            return 0.0
        return max(0.0, (self.squares - self.n * self.mean ** 2) / (self.n - 1))


@dataclass(frozen=True)
class Verdict:
    lasts: bool
    reason: str


def lasting(before: Losses, since: Losses, gain: float | None = None) -> Verdict:
    """Whether the drift lasts: the last round's challenger did better than the champion
    on average (``gain``, nats a row), or the champion does worse ``since`` that round
    than ``before`` the change.

    >>> calm = Losses.of([(0, 0.1)] * 150 + [(1, 0.8)] * 50)
    >>> lasting(calm, calm).lasts
    False
    >>> lasting(calm, Losses.of([(0, 0.3)] * 150 + [(1, 0.5)] * 50)).lasts
    True
    >>> lasting(calm, Losses.of([(0, 0.1)] * 20)).reason
    'too few labels to tell (20 since the last round, 200 before the change)'
    >>> lasting(calm, calm, gain=0.002).lasts
    True
    """
    if gain is not None and gain > 0:
        return Verdict(True, f"the drift lasts: the last challenger beat the champion by "
                             f"{gain:.4f} nats a row on average, not yet surely enough")
    if before.n < FEWEST or since.n < FEWEST:
        return Verdict(True, f"too few labels to tell ({since.n} since the last round, "
                             f"{before.n} before the change)")
    excess = since.mean - before.mean
    spread = math.sqrt(before.variance / before.n + since.variance / since.n)
    z = excess / spread if spread > 0 else (math.inf if excess > 0 else 0.0)
    figures = (f"log loss {since.mean:.4f} on the {since.n} labels since the last round "
               f"against {before.mean:.4f} on {before.n} before the change, z={z:.2f}")
    if z > Z:
        return Verdict(True, f"the drift lasts: {figures}")
    return Verdict(False, f"the drift did not last: {figures}")


__all__ = ["Losses", "Verdict", "lasting"]
