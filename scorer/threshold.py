"""The decision threshold: where a score becomes a 1, chosen on validation scores.

A fixed 0.5 decides nothing useful when positives are rare (on the simulator's ~14%
positive rate a calibrated model scores almost every event below it). Three rules:

- ``f1``: the threshold that maximises F1 on the validation labels;
- ``positive-rate:R``: the one that decides 1 for a share R of the validation scores
  (a fixed budget of actions);
- ``cost:C``: the one that minimises expected cost, where a false positive costs C
  times a false negative (with calibrated scores this is near ``C / (1 + C)``).

Every rule picks among the cuts of the sorted distinct validation scores and returns
the midpoint between the lowest score decided 1 and the highest decided 0, so a score
close to a validation score is decided as that score was. Ties between cuts go to the
higher threshold (fewer positives).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from contracts.settings import THRESHOLD_RULE_FORMS as RULE_FORMS
from contracts.settings import THRESHOLD_RULE_PATTERN

DEFAULT_THRESHOLD: Final = 0.5

RuleKind = Literal["f1", "positive-rate", "cost"]


@dataclass(frozen=True, slots=True)
class ThresholdRule:
    """How the decision threshold is chosen; ``value`` is the target rate or the cost ratio.

    Examples
    --------
    >>> ThresholdRule.parse("positive-rate:0.2")
    ThresholdRule(kind='positive-rate', value=0.2)
    >>> str(ThresholdRule.parse("COST:5"))
    'cost:5'
    """

    kind: RuleKind = "f1"
    value: float | None = None

    def __post_init__(self) -> None:
        if self.kind == "f1":
            if self.value is not None:
                raise ValueError(f"the f1 rule takes no value, got {self.value}")
        elif self.value is None or not math.isfinite(self.value) or self.value <= 0 or (
            self.kind == "positive-rate" and self.value >= 1
        ):
            raise ValueError(f"{self.kind}:{self.value}: expected {RULE_FORMS}")

    @classmethod
    def parse(cls, text: str) -> ThresholdRule:
        """Read ``f1``, ``positive-rate:R`` or ``cost:C`` (the forms the setting
        ``STREAMML_DECISION_THRESHOLD_RULE`` accepts); a ValueError lists them."""
        form = text.strip().lower()
        if re.fullmatch(THRESHOLD_RULE_PATTERN, form) is None:
            raise ValueError(f"decision threshold rule {text!r}: expected {RULE_FORMS}")
        if form == "f1":
            return cls()
        kind, _, value = form.partition(":")
        return cls("cost" if kind == "cost" else "positive-rate", float(value))

    def __str__(self) -> str:
        return self.kind if self.value is None else f"{self.kind}:{self.value:g}"


def choose_threshold(labels: ArrayLike, scores: ArrayLike, rule: ThresholdRule) -> float:
    """The threshold ``rule`` picks on validation ``labels`` and ``scores``.

    F1 and cost need both classes among the labels; with one class only there is
    nothing to learn from and the default 0.5 is kept.

    >>> choose_threshold([0, 0, 1, 1], [0.125, 0.5, 0.375, 0.875], ThresholdRule())
    0.25
    """
    y, p = _checked(labels, scores)
    if rule.kind == "positive-rate":
        return positive_rate_threshold(p, rule.value or 0.0)
    if np.unique(y).size < 2:
        return DEFAULT_THRESHOLD
    if rule.kind == "cost":
        return cost_threshold(y, p, rule.value or 0.0)
    return f1_threshold(y, p)


def f1_threshold(labels: ArrayLike, scores: ArrayLike) -> float:
    """The threshold of highest F1 on ``labels`` and ``scores``.

    >>> f1_threshold([0, 1, 0, 1, 1], [0.125, 0.25, 0.375, 0.625, 0.875])
    0.1875
    """
    cuts = _Cuts(*_checked(labels, scores))
    f1 = 2 * cuts.tp / np.maximum(cuts.tp + cuts.fp + cuts.positives, 1)
    return cuts.threshold(int(np.argmax(f1)))


def cost_threshold(labels: ArrayLike, scores: ArrayLike, cost_ratio: float) -> float:
    """The threshold of least cost ``cost_ratio * false positives + false negatives``.

    >>> cost_threshold([0, 1, 0, 1, 1], [0.125, 0.25, 0.375, 0.625, 0.875], 2.0)
    0.5
    """
    if not cost_ratio > 0:
        raise ValueError(f"the cost ratio must be > 0, got {cost_ratio}")
    cuts = _Cuts(*_checked(labels, scores))
    cost = cost_ratio * cuts.fp + (cuts.positives - cuts.tp)
    return cuts.threshold(int(np.argmin(cost)))


def positive_rate_threshold(scores: ArrayLike, rate: float) -> float:
    """The threshold deciding 1 for the share of ``scores`` nearest ``rate``.

    >>> positive_rate_threshold([0.125, 0.25, 0.375, 0.625, 0.875], 0.4)
    0.5
    """
    if not 0 < rate < 1:
        raise ValueError(f"the positive rate must be within (0, 1), got {rate}")
    p = _probabilities(scores)
    cuts = _Cuts(np.zeros(p.size, dtype=np.int64), p)
    decided = cuts.tp + cuts.fp
    return cuts.threshold(int(np.argmin(np.abs(decided - rate * p.size))))


class _Cuts:
    """Counts at every cut of the distinct scores, highest first: cut ``j`` decides 1 for
    the ``j`` highest distinct scores (cut 0: nothing; the last: everything)."""

    def __init__(self, labels: NDArray[np.int64], scores: NDArray[np.float64]) -> None:
        distinct, inverse = np.unique(-scores, return_inverse=True)
        self.values = -distinct  # descending
        pos = np.bincount(inverse, weights=labels, minlength=distinct.size)
        count = np.bincount(inverse, minlength=distinct.size)
        self.tp = np.concatenate(([0.0], np.cumsum(pos)))
        self.fp = np.concatenate(([0.0], np.cumsum(count - pos)))
        self.positives = float(labels.sum())

    def threshold(self, cut: int) -> float:
        above = self.values[cut - 1] if cut > 0 else 1.0
        below = self.values[cut] if cut < self.values.size else 0.0
        return float((above + below) / 2)


def _checked(labels: ArrayLike, scores: ArrayLike) -> tuple[NDArray[np.int64],
                                                             NDArray[np.float64]]:
    y, p = np.asarray(labels, dtype=np.int64).ravel(), _probabilities(scores)
    if y.size != p.size:
        raise ValueError(f"need as many labels as scores; got {y.size} labels and "
                         f"{p.size} scores")
    return y, p


def _probabilities(scores: ArrayLike) -> NDArray[np.float64]:
    p = np.asarray(scores, dtype=np.float64).ravel()
    if p.size == 0:
        raise ValueError("no validation scores to choose a threshold on")
    if not np.all((p >= 0) & (p <= 1)):
        raise ValueError("scores must be probabilities within [0, 1]")
    return p


__all__ = [
    "DEFAULT_THRESHOLD",
    "RULE_FORMS",
    "ThresholdRule",
    "choose_threshold",
    "cost_threshold",
    "f1_threshold",
    "positive_rate_threshold",
]
