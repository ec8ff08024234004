"""The publish decision: skill over the base rate first, then the paired test, the margin or
the floor. Fixed data, exact numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from retrainer.challenge import (
    ChallengePolicy,
    PairedGain,
    base_rate_log_loss,
    decide,
    gain,
    paired_gain,
)

BASELINE = 0.40


def test_a_challenger_better_than_the_champion_by_the_margin_is_published() -> None:
    d = decide({"log_loss": 0.30}, {"log_loss": 0.32}, BASELINE, ChallengePolicy(margin=0.01))
    assert d.publish and "beats the champion by 0.0200" in d.reason


def test_a_challenger_better_by_less_than_the_margin_is_not() -> None:
    d = decide({"log_loss": 0.315}, {"log_loss": 0.32}, BASELINE, ChallengePolicy(margin=0.01))
    assert not d.publish and "gain 0.0050 < margin 0.01" in d.reason


def test_a_challenger_without_skill_over_the_base_rate_is_refused_even_against_a_worse_champion(
) -> None:
    d = decide({"log_loss": 0.399}, {"log_loss": 0.55}, BASELINE, ChallengePolicy())
    assert not d.publish
    assert "no skill over the base rate" in d.reason and "damaged" in d.reason


def test_without_a_champion_a_skilled_challenger_is_published() -> None:
    assert decide({"log_loss": 0.3}, None, BASELINE, ChallengePolicy()).publish


def test_roc_auc_is_compared_higher_is_better() -> None:
    policy = ChallengePolicy(metric="roc_auc", margin=0.02)
    better = {"log_loss": 0.3, "roc_auc": 0.80}
    assert decide(better, {"log_loss": 0.3, "roc_auc": 0.75}, BASELINE, policy).publish
    assert not decide(better, {"log_loss": 0.2, "roc_auc": 0.79}, BASELINE, policy).publish


def test_a_champion_below_the_floor_is_replaced_by_any_better_challenger() -> None:
    policy = ChallengePolicy(margin=0.05, floor=0.35)
    d = decide({"log_loss": 0.355}, {"log_loss": 0.36}, BASELINE, policy)
    assert d.publish and "fell below the floor 0.35" in d.reason
    assert not decide({"log_loss": 0.37}, {"log_loss": 0.36}, BASELINE, policy).publish
    assert not decide({"log_loss": 0.33}, {"log_loss": 0.34}, BASELINE, policy).publish


def test_an_undefined_metric_is_not_a_win() -> None:
    policy = ChallengePolicy(metric="roc_auc")
    d = decide({"log_loss": 0.2}, {"log_loss": 0.3}, BASELINE, policy)
    assert not d.publish and "undefined" in d.reason


def test_gain_points_towards_better() -> None:
    assert gain("log_loss", 0.2, 0.3) > 0 > gain("log_loss", 0.3, 0.2)
    assert gain("roc_auc", 0.8, 0.7) > 0 > gain("roc_auc", 0.7, 0.8)


def test_base_rate_log_loss_is_the_entropy_when_rates_match() -> None:
    y = np.array([0] * 86 + [1] * 14)
    expected = -(0.14 * math.log(0.14) + 0.86 * math.log(0.86))
    assert base_rate_log_loss(float(np.mean(y)), y) == pytest.approx(expected)
    assert math.isfinite(base_rate_log_loss(0.0, np.ones(5)))


def test_bad_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="metric"):
        ChallengePolicy(metric="f1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=">= 0"):
        ChallengePolicy(margin=-0.1)


CHAMPION_LOSSES = np.array([0.5, 0.7, 0.6, 0.9])
CHALLENGER_LOSSES = np.array([0.4, 0.5, 0.6, 0.5])


def test_the_paired_lower_bound_is_the_mean_gain_less_z_standard_errors() -> None:
    # gains 0.1, 0.2, 0.0, 0.4: mean 0.175, sd 0.170783, se 0.0853913
    g = paired_gain(CHAMPION_LOSSES, CHALLENGER_LOSSES, 0.05)
    assert g.n == 4 and g.mean == pytest.approx(0.175)
    assert g.lower == pytest.approx(0.175 - 1.6448536 * 0.0853913, abs=1e-6)
    assert g.lower == pytest.approx(0.034544, abs=1e-6)
    strict = paired_gain(CHAMPION_LOSSES, CHALLENGER_LOSSES, 0.0125)
    assert strict.lower == pytest.approx(0.175 - 2.2414027 * 0.0853913, abs=1e-6)
    assert strict.lower < 0


def test_rounds_of_one_alert_spend_alpha_by_halves() -> None:
    policy = ChallengePolicy(alpha=0.1)
    spent = [policy.spent(k) for k in range(1, 30)]
    assert spent[:3] == [0.05, 0.025, 0.0125] and sum(spent) < 0.1


def test_the_paired_test_publishes_on_a_positive_bound_and_refuses_otherwise() -> None:
    challenger, champion = {"log_loss": 0.5}, {"log_loss": 0.675}
    sure = paired_gain(CHAMPION_LOSSES, CHALLENGER_LOSSES, 0.05)
    d = decide(challenger, champion, 0.8, ChallengePolicy(), versus_champion=sure)
    assert d.publish and "lower bound 0.0345 at alpha 0.05 on 4 paired rows" in d.reason
    unsure = paired_gain(CHAMPION_LOSSES, CHALLENGER_LOSSES, 0.0125)
    d = decide(challenger, champion, 0.8, ChallengePolicy(), versus_champion=unsure)
    assert not d.publish and "not above the minimum effect 0.0" in d.reason
    d = decide(challenger, champion, 0.8, ChallengePolicy(margin=0.05), versus_champion=sure)
    assert not d.publish, "the margin is the minimum effect the bound must exceed"


def test_a_significant_gain_over_a_champion_worse_than_the_base_rate_is_never_refused_for_skill(
) -> None:
    # Base rate 0.40; champion 0.55 is worse; challenger 0.395 beats both, though its
    # relative skill over the base rate (0.0125) is under min_skill (0.02).
    over_base = PairedGain(mean=0.005, lower=0.001, n=1000, alpha=0.05)
    over_champion = PairedGain(mean=0.155, lower=0.12, n=1000, alpha=0.05)
    d = decide({"log_loss": 0.395}, {"log_loss": 0.55}, BASELINE, ChallengePolicy(),
               versus_champion=over_champion, versus_base=over_base)
    assert d.publish, d.reason
    # Not significantly better than the base rate: the labels may be damaged.
    noise = PairedGain(mean=0.005, lower=-0.002, n=1000, alpha=0.05)
    d = decide({"log_loss": 0.395}, {"log_loss": 0.55}, BASELINE, ChallengePolicy(),
               versus_champion=over_champion, versus_base=noise)
    assert not d.publish and "no skill over the base rate" in d.reason
