"""Champion against challenger on the same most recent slice, and whether to publish.

Both models are scored on the newest events of the window, which the challenger
never trained on. A challenger must first show skill over the plainest model there
is, predicting the training base rate: a window whose labels were damaged (shuffled,
say) teaches nothing, and its challenger can still "beat" a champion that is scored
on the same damaged labels. Only then is it compared with the champion.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np

from scorer.evaluation import evaluate

MetricName = Literal["log_loss", "roc_auc"]
LOWER_IS_BETTER: Final = frozenset({"log_loss", "brier"})
# Keeps the log loss of a base rate of 0 or 1 finite.
EPSILON: Final = 1e-6


@dataclass(frozen=True, slots=True, kw_only=True)
class ChallengePolicy:
    """What a challenger must show to be published.

    Parameters
    ----------
    metric : {"log_loss", "roc_auc"}
        The comparison metric.
    margin : float
        How much better than the champion on ``metric`` the challenger must be.
    floor : float or None
        A champion worse than this on ``metric`` is replaced by any better challenger.
    min_skill : float
        Least relative log-loss gain over predicting the training base rate.
    """

    metric: MetricName = "log_loss"
    margin: float = 0.005
    floor: float | None = None
    min_skill: float = 0.02

    def __post_init__(self) -> None:
        if self.metric not in ("log_loss", "roc_auc"):
            raise ValueError(f"metric {self.metric!r}; expected log_loss or roc_auc")
        if self.margin < 0 or self.min_skill < 0:
            raise ValueError("margin and min_skill must be >= 0")


@dataclass(frozen=True, slots=True)
class Decision:
    """Publish or not, and the reason, in words an operator reads in ``models list``."""

    publish: bool
    reason: str


def gain(metric: str, challenger: float, champion: float) -> float:
    """How much better the challenger is (positive: better), whichever way ``metric`` runs.

    >>> gain("log_loss", 0.30, 0.35), gain("roc_auc", 0.80, 0.75)
    (0.04999999999999999, 0.050000000000000044)
    """
    return champion - challenger if metric in LOWER_IS_BETTER else challenger - champion


def base_rate_log_loss(train_labels: np.ndarray, holdout_labels: np.ndarray) -> float:
    """Log loss on the holdout of always predicting the training base rate.

    >>> round(base_rate_log_loss(np.array([0, 1, 0, 0]), np.array([0, 1])), 4)
    0.837
    """
    rate = float(np.clip(np.mean(train_labels), EPSILON, 1 - EPSILON))
    y = np.asarray(holdout_labels, dtype=np.float64)
    return float(-np.mean(y * np.log(rate) + (1 - y) * np.log(1 - rate)))


def holdout_metrics(labels: np.ndarray, scores: np.ndarray, *,
                    threshold: float = 0.5) -> dict[str, float]:
    """The scorer's held-out metrics, so every comparison uses one definition."""
    return evaluate(labels, scores, threshold=threshold)


def decide(
    challenger: Mapping[str, float],
    champion: Mapping[str, float] | None,
    baseline_log_loss: float,
    policy: ChallengePolicy,
) -> Decision:
    """Whether to publish the challenger given both evaluations on the same holdout.

    Examples
    --------
    >>> policy = ChallengePolicy(margin=0.01)
    >>> decide({"log_loss": 0.30}, {"log_loss": 0.35}, 0.40, policy).publish
    True
    >>> decide({"log_loss": 0.395}, {"log_loss": 0.50}, 0.40, policy).reason[:37]
    'not published: no skill over the base'
    """
    skill = 1.0 - challenger["log_loss"] / baseline_log_loss if baseline_log_loss > 0 else 0.0
    if skill < policy.min_skill:
        return Decision(False, (
            f"not published: no skill over the base rate (log loss "
            f"{challenger['log_loss']:.4f} vs {baseline_log_loss:.4f}, skill {skill:.3f} < "
            f"{policy.min_skill}); the window's labels look damaged or uninformative"))
    if champion is None:
        return Decision(True, f"published: no champion to beat (skill {skill:.3f})")
    name = policy.metric
    if name not in challenger or name not in champion:
        return Decision(False, f"not published: {name} is undefined on the holdout "
                               "(one class only); a larger window is needed")
    mine, theirs = challenger[name], champion[name]
    better = gain(name, mine, theirs)
    versus = f"{name} {mine:.4f} vs champion {theirs:.4f}"
    if better >= policy.margin:
        return Decision(True, f"published: beats the champion by {better:.4f} >= margin "
                              f"{policy.margin} ({versus})")
    if policy.floor is not None and gain(name, policy.floor, theirs) > 0 and better > 0:
        return Decision(True, f"published: the champion fell below the floor {policy.floor} "
                              f"and the challenger is better ({versus})")
    return Decision(False, f"not published: gain {better:.4f} < margin {policy.margin} "
                           f"({versus})")


__all__ = [
    "ChallengePolicy",
    "Decision",
    "MetricName",
    "base_rate_log_loss",
    "decide",
    "gain",
    "holdout_metrics",
]
