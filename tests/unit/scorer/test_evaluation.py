from __future__ import annotations

import math

import numpy as np
import pytest

from scorer.evaluation import METRICS, evaluate


def test_perfect_scores_give_perfect_metrics() -> None:
    y = np.array([0, 0, 1, 1])

    metrics = evaluate(y, np.array([0.0, 0.1, 0.9, 1.0]))

    assert list(metrics) == list(METRICS)
    assert metrics["accuracy"] == metrics["f1"] == metrics["roc_auc"] == metrics["pr_auc"] == 1.0
    assert metrics["brier"] == pytest.approx(0.005)


def test_the_aucs_are_left_out_when_only_one_class_is_present() -> None:
    metrics = evaluate(np.array([1, 1]), np.array([0.2, 0.8]))

    assert "roc_auc" not in metrics and "pr_auc" not in metrics
    assert all(math.isfinite(v) for v in metrics.values())


def test_the_threshold_moves_the_decisions() -> None:
    y = np.array([0, 1])
    scores = np.array([0.3, 0.4])

    assert evaluate(y, scores, threshold=0.5)["recall"] == 0.0
    assert evaluate(y, scores, threshold=0.35)["recall"] == 1.0


def test_pr_auc_is_the_average_precision_over_the_ranked_positives() -> None:
    # Ranked by score: 1, 0, 1, 0; precision at each positive is 1/1 and 2/3.
    metrics = evaluate(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.1]))

    assert metrics["pr_auc"] == pytest.approx((1 + 2 / 3) / 2)
