"""The decision threshold: exact choices on small fixed data, and how training uses them."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pytest
from sklearn.metrics import f1_score

from contracts.exceptions import SettingsError
from contracts.settings import Settings
from scorer.datasets import TrainingRow
from scorer.threshold import (
    DEFAULT_THRESHOLD,
    ThresholdRule,
    choose_threshold,
    cost_threshold,
    f1_threshold,
    positive_rate_threshold,
)
from scorer.training import TrainingConfig, train

RowMaker = Callable[..., list[TrainingRow]]
# Dyadic scores keep every midpoint exact in binary floating point.
LABELS = np.array([0, 1, 0, 1, 1])
SCORES = np.array([0.125, 0.25, 0.375, 0.625, 0.875])
FAST = TrainingConfig(param_grid={"model__C": [1.0]})


def test_f1_picks_the_cut_of_highest_f1_and_returns_its_midpoint() -> None:
    # F1 by cut, highest scores first: 0.5, 0.8, 0.667, 0.857, 0.75.
    assert f1_threshold(LABELS, SCORES) == 0.1875


def test_no_other_threshold_gives_a_higher_f1() -> None:
    best = f1_score(LABELS, SCORES >= f1_threshold(LABELS, SCORES))

    for t in np.linspace(0, 1, 101):
        assert f1_score(LABELS, SCORES >= t, zero_division=0) <= best


@pytest.mark.parametrize(("ratio", "expected"), [(2.0, 0.5), (0.25, 0.1875), (10.0, 0.5)])
def test_cost_picks_the_least_expected_cost(ratio: float, expected: float) -> None:
    # Two false negatives cost 2; one false positive costs `ratio`.
    assert cost_threshold(LABELS, SCORES, ratio) == expected


@pytest.mark.parametrize(("rate", "expected"), [(0.2, 0.75), (0.4, 0.5), (0.6, 0.3125)])
def test_positive_rate_decides_one_for_that_share_of_the_scores(rate: float,
                                                                 expected: float) -> None:
    threshold = positive_rate_threshold(SCORES, rate)

    assert threshold == expected
    assert np.mean(SCORES >= threshold) == pytest.approx(rate)


def test_tied_scores_are_decided_together() -> None:
    labels, scores = np.array([1, 0, 1, 0]), np.array([0.5, 0.5, 0.5, 0.25])

    assert f1_threshold(labels, scores) == 0.375
    assert positive_rate_threshold(scores, 0.5) == 0.375  # 3 of 4 is as near as ties allow


def test_ties_between_cuts_go_to_the_higher_threshold() -> None:
    # Costs by cut: 2, 1, 2, 1; the first of the two cheapest wins.
    assert cost_threshold([1, 0, 1], [0.75, 0.5, 0.25], 1.0) == 0.625


def test_deciding_nothing_or_everything_stays_within_zero_and_one() -> None:
    assert cost_threshold([1, 0], [0.25, 0.75], 100.0) == 0.875
    assert cost_threshold([0, 1], [0.75, 0.25], 0.01) == 0.125


def test_one_class_keeps_the_default_unless_the_rule_needs_no_labels() -> None:
    labels, scores = np.zeros(4), np.array([0.125, 0.25, 0.375, 0.5])

    assert choose_threshold(labels, scores, ThresholdRule()) == DEFAULT_THRESHOLD
    assert choose_threshold(labels, scores, ThresholdRule("cost", 5.0)) == DEFAULT_THRESHOLD
    assert choose_threshold(labels, scores, ThresholdRule("positive-rate", 0.25)) == 0.4375


def test_bad_input_is_refused_with_what_was_expected() -> None:
    with pytest.raises(ValueError, match="at least|no validation"):
        f1_threshold([], [])
    with pytest.raises(ValueError, match="as many labels as scores"):
        f1_threshold([0, 1], [0.5])
    with pytest.raises(ValueError, match="probabilities"):
        f1_threshold([0, 1], [0.5, 1.5])


@pytest.mark.parametrize(("text", "rule"), [
    ("f1", ThresholdRule()),
    (" F1 ", ThresholdRule()),
    ("positive-rate:0.2", ThresholdRule("positive-rate", 0.2)),
    ("positive-rate:.05", ThresholdRule("positive-rate", 0.05)),
    ("cost:5", ThresholdRule("cost", 5.0)),
    ("COST:0.25", ThresholdRule("cost", 0.25)),
])
def test_rules_parse_from_the_forms_the_setting_accepts(text: str, rule: ThresholdRule) -> None:
    assert ThresholdRule.parse(text) == rule
    assert ThresholdRule.parse(Settings.from_mapping(
        {"STREAMML_DECISION_THRESHOLD_RULE": text}).decision_threshold_rule) == rule
    assert ThresholdRule.parse(str(rule)) == rule


@pytest.mark.parametrize("text", ["precision", "positive-rate:1", "positive-rate:0", "cost:0",
                                  "cost:-1", "cost:", "f1:2", "positive-rate:1.5"])
def test_other_rules_are_refused_listing_the_forms(text: str) -> None:
    with pytest.raises(ValueError, match="f1, positive-rate:R"):
        ThresholdRule.parse(text)
    with pytest.raises(SettingsError, match="f1, positive-rate:R"):
        Settings.from_mapping({"STREAMML_DECISION_THRESHOLD_RULE": text})


def test_training_chooses_a_threshold_that_decides_some_rare_positives(
    rows_maker: RowMaker,
) -> None:
    rows = [r._replace(label=int(r.label and i % 3 == 0))  # ~15% positive
            for i, r in enumerate(rows_maker(1200))]

    bundle, report = train(rows, model="m", config=FAST)

    assert report.threshold == bundle.threshold < 0.5 and report.threshold_rule == "f1"
    assert report.validation_rows == 720  # three forward folds of 240 of the 960 train rows
    assert report.metrics["f1"] > 0 and report.metrics["precision"] > 0
    assert bundle.params["threshold_rule"] == "f1"


def test_the_threshold_is_chosen_without_the_test_rows(rows_maker: RowMaker) -> None:
    rows = rows_maker(600)
    flipped = rows[:480] + [r._replace(label=1 - r.label) for r in rows[480:]]

    first, first_report = train(rows, model="m", config=FAST)
    second, second_report = train(flipped, model="m", config=FAST)

    assert first.threshold == second.threshold
    assert first_report.metrics["f1"] != second_report.metrics["f1"]


def test_the_rule_in_the_config_is_the_one_applied(rows_maker: RowMaker) -> None:
    rows = rows_maker(600)
    config = dataclasses.replace(FAST, threshold_rule=ThresholdRule("positive-rate", 0.1))

    bundle, report = train(rows, model="m", config=config)

    train_scores, _ = bundle.score_batch([r.features for r in rows[:480]])
    assert report.threshold_rule == "positive-rate:0.1"
    assert 0.05 < np.mean(train_scores >= bundle.threshold) < 0.2
