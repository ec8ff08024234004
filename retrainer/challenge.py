"""Champion against challenger on the same most recent slice, and whether to publish.

Both models are scored on the newest events of the window, which the challenger
never trained on. A challenger must first show skill over the plainest model there
is, predicting the training base rate: a window whose labels were damaged (shuffled,
say) teaches nothing, and its challenger can still "beat" a champion that is scored
on the same damaged labels. Only then is it compared with the champion.

With log loss the comparison is a paired test: each holdout row gives the gain
``champion loss - challenger loss``; the challenger is published when the one-sided
lower confidence bound of the mean gain, ``mean - z(1 - alpha) * sd / sqrt(n)``,
exceeds the minimum effect (``margin``). Rounds repeated for one alert spend the
error rate: round k tests at ``alpha / 2**k``, so all rounds together publish a
challenger no better than the champion with probability at most ``alpha``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Final, Literal

import numpy as np

from scorer.evaluation import EPSILON, base_rate_log_loss, evaluate, skill

MetricName = Literal["log_loss", "roc_auc"]
LOWER_IS_BETTER: Final = frozenset({"log_loss", "brier"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ChallengePolicy:
    """What a challenger must show to be published.

    Parameters
    ----------
    metric : {"log_loss", "roc_auc"}
        The comparison metric: log loss by the paired test, ROC AUC on the point
        estimate.
    margin : float
        Minimum effect: how much better than the champion on ``metric`` the
        challenger must be (for log loss, its lower confidence bound).
    floor : float or None
        A champion worse than this on ``metric`` is replaced by any better challenger.
    min_skill : float
        Least relative log-loss gain over predicting the training base rate.
    alpha : float
        One-sided error rate of the paired test, spent over the rounds of one alert.
    """

    metric: MetricName = "log_loss"
    margin: float = 0.0
    floor: float | None = None
    min_skill: float = 0.02
    alpha: float = 0.1

    def __post_init__(self) -> None:
        if self.metric not in ("log_loss", "roc_auc"):
            raise ValueError(f"metric {self.metric!r}; expected log_loss or roc_auc")
        if self.margin < 0 or self.min_skill < 0:
            raise ValueError("margin and min_skill must be >= 0")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be within (0, 1), got {self.alpha}")

    def spent(self, round_number: int) -> float:
        """The error rate round ``round_number`` (from 1) of one alert may use.

        >>> ChallengePolicy(alpha=0.1).spent(1), ChallengePolicy(alpha=0.1).spent(3)
        (0.05, 0.0125)
        """
        return float(self.alpha / 2 ** max(1, round_number))


@dataclass(frozen=True, slots=True)
class PairedGain:
    """Mean per-row gain of one model over another, and its one-sided lower bound."""

    mean: float
    lower: float
    n: int
    alpha: float

    def __str__(self) -> str:
        return (f"mean gain {self.mean:.4f}, lower bound {self.lower:.4f} at alpha "
                f"{self.alpha:.4g} on {self.n} paired rows")


def log_losses(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per-row log loss of ``scores`` for 0/1 ``labels``.

    >>> log_losses(np.array([1, 0]), np.array([0.5, 0.5])).round(4).tolist()
    [0.6931, 0.6931]
    """
    p = np.clip(np.asarray(scores, dtype=np.float64), 1e-15, 1 - 1e-15)
    losses: np.ndarray = -(labels * np.log(p) + (1 - labels) * np.log(1 - p))
    return losses


def paired_gain(worse: np.ndarray, better: np.ndarray, alpha: float) -> PairedGain:
    """How much lower ``better``'s per-row losses are than ``worse``'s, with a lower bound.

    The bound is the normal one, ``mean - z(1 - alpha) * sd / sqrt(n)``: with hundreds
    of rows the mean of the differences is close to normal whatever their shape.

    >>> g = paired_gain(np.array([0.5, 0.7, 0.6, 0.9]), np.array([0.4, 0.5, 0.6, 0.5]), 0.05)
    >>> round(g.mean, 4), round(g.lower, 4), g.n
    (0.175, 0.0345, 4)
    """
    diff = np.asarray(worse, dtype=np.float64) - np.asarray(better, dtype=np.float64)
    n = len(diff)
    mean = float(np.mean(diff)) if n else 0.0
    if n < 2:
        return PairedGain(mean, -math.inf, n, alpha)
    z = NormalDist().inv_cdf(1.0 - alpha)
    return PairedGain(mean, mean - z * float(np.std(diff, ddof=1)) / math.sqrt(n), n, alpha)


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


def holdout_metrics(labels: np.ndarray, scores: np.ndarray, *,
                    threshold: float = 0.5) -> dict[str, float]:
    """The scorer's held-out metrics, so every comparison uses one definition."""
    return evaluate(labels, scores, threshold=threshold)


def decide(
    challenger: Mapping[str, float],
    champion: Mapping[str, float] | None,
    baseline_log_loss: float,
    policy: ChallengePolicy,
    *,
    versus_champion: PairedGain | None = None,
    versus_base: PairedGain | None = None,
) -> Decision:
    """Whether to publish the challenger given both evaluations on the same holdout.

    ``versus_champion`` and ``versus_base`` are the challenger's paired gains on the
    holdout; without them log loss too is judged on the point estimate.

    Examples
    --------
    >>> policy = ChallengePolicy(margin=0.01)
    >>> decide({"log_loss": 0.30}, {"log_loss": 0.35}, 0.40, policy).publish
    True
    >>> decide({"log_loss": 0.395}, {"log_loss": 0.50}, 0.40, policy).reason[:37]
    'not published: no skill over the base'
    """
    gained = skill(challenger["log_loss"], baseline_log_loss)
    if gained < policy.min_skill and not _beats_a_champion_below_the_base_rate(
            champion, baseline_log_loss, versus_base):
        return Decision(False, (
            f"not published: no skill over the base rate (log loss "
            f"{challenger['log_loss']:.4f} vs {baseline_log_loss:.4f}, skill {gained:.3f} < "
            f"{policy.min_skill}); the window's labels look damaged or uninformative"))
    if champion is None:
        return Decision(True, f"published: no champion to beat (skill {gained:.3f})")
    name = policy.metric
    if name not in challenger or name not in champion:
        return Decision(False, f"not published: {name} is undefined on the holdout "
                               "(one class only); a larger window is needed")
    mine, theirs = challenger[name], champion[name]
    better = gain(name, mine, theirs)
    versus = f"{name} {mine:.4f} vs champion {theirs:.4f}"
    if name == "log_loss" and versus_champion is not None:
        if versus_champion.lower > policy.margin:
            return Decision(True, f"published: beats the champion, {versus_champion} > "
                                  f"minimum effect {policy.margin} ({versus})")
        better = versus_champion.mean
    elif better >= policy.margin:
        return Decision(True, f"published: beats the champion by {better:.4f} >= margin "
                              f"{policy.margin} ({versus})")
    if policy.floor is not None and gain(name, policy.floor, theirs) > 0 and better > 0:
        return Decision(True, f"published: the champion fell below the floor {policy.floor} "
                              f"and the challenger is better ({versus})")
    if name == "log_loss" and versus_champion is not None:
        return Decision(False, f"not published: {versus_champion}, not above the minimum "
                               f"effect {policy.margin} ({versus})")
    return Decision(False, f"not published: gain {better:.4f} < margin {policy.margin} "
                           f"({versus})")


@dataclass(frozen=True)
class Verdict:
    """Both models' figures on one holdout, the challenger's paired gains, the decision."""

    decision: Decision
    challenger: dict[str, float]
    champion: dict[str, float] | None
    baseline_log_loss: float
    versus_champion: PairedGain | None
    versus_base: PairedGain


@dataclass(frozen=True)
class Scored:
    """One model's scores on the holdout and the threshold it decides 1 at."""

    scores: np.ndarray
    threshold: float


def judge(labels: np.ndarray, challenger: Scored, champion: Scored | None, *,
          base_rate: float, policy: ChallengePolicy, alpha: float) -> Verdict:
    """Score both models on the same labeled holdout and decide (:func:`decide`).

    ``base_rate`` is the plainest model's constant prediction (the training base rate);
    ``alpha`` the error rate the paired tests may spend.

    >>> y = np.array([0, 1] * 200)
    >>> good = Scored(np.where(y == 1, 0.8, 0.2), 0.5)
    >>> judge(y, good, Scored(np.full(400, 0.5), 0.5), base_rate=0.5,
    ...       policy=ChallengePolicy(), alpha=0.05).decision.publish
    True
    """
    y = np.asarray(labels, dtype=np.float64)
    plain = log_losses(y, np.full(len(y), np.clip(base_rate, EPSILON, 1 - EPSILON)))
    mine = log_losses(y, challenger.scores)
    baseline = base_rate_log_loss(base_rate, y)
    figures = holdout_metrics(y, challenger.scores, threshold=challenger.threshold)
    theirs = None if champion is None else \
        holdout_metrics(y, champion.scores, threshold=champion.threshold)
    versus_base = paired_gain(plain, mine, alpha)
    versus_champion = None if champion is None else \
        paired_gain(log_losses(y, champion.scores), mine, alpha)
    decision = decide(figures, theirs, baseline, policy,
                      versus_champion=versus_champion, versus_base=versus_base)
    return Verdict(decision, figures, theirs, baseline, versus_champion, versus_base)


def _beats_a_champion_below_the_base_rate(champion: Mapping[str, float] | None,
                                          baseline_log_loss: float,
                                          versus_base: PairedGain | None) -> bool:
    """Skill too small to count is still skill when the champion is worse than the base
    rate and the challenger beats the base rate significantly (the same paired test)."""
    return (champion is not None and champion.get("log_loss", 0.0) > baseline_log_loss
            and versus_base is not None and versus_base.lower > 0)


__all__ = [
    "ChallengePolicy",
    "Decision",
    "MetricName",
    "PairedGain",
    "Scored",
    "Verdict",
    "base_rate_log_loss",
    "decide",
    "gain",
    "holdout_metrics",
    "judge",
    "log_losses",
    "paired_gain",
]
