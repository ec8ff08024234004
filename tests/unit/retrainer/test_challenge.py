"""The publish decision: skill over the base rate first, then the margin or the floor."""

from __future__ import annotations

import math

import numpy as np
import pytest

from retrainer.challenge import ChallengePolicy, base_rate_log_loss, decide, gain

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
    assert base_rate_log_loss(y, y) == pytest.approx(expected)
    assert math.isfinite(base_rate_log_loss(np.zeros(5), np.ones(5)))


def test_bad_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="metric"):
        ChallengePolicy(metric="f1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=">= 0"):
        ChallengePolicy(margin=-0.1)
