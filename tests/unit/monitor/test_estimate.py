"""The label-free estimate: close to the realised figures when scores are calibrated."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from monitor.estimate import Calibration, ScoreTable, estimate, estimate_all


def calibrated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scores = rng.beta(1.2, 4, n)
    return scores, (rng.random(n) < scores).astype(np.int64)


def test_estimate_matches_the_realised_figures_for_calibrated_scores() -> None:
    scores, labels = calibrated(20_000, 0)
    decisions = (scores >= 0.3).astype(np.int64)
    table = ScoreTable()
    table.add(scores, decisions)

    e = estimate(table)

    assert e["estimated_accuracy"] == pytest.approx(accuracy_score(labels, decisions), abs=0.01)
    assert e["estimated_f1"] == pytest.approx(f1_score(labels, decisions), abs=0.02)
    assert e["estimated_roc_auc"] == pytest.approx(roc_auc_score(labels, scores), abs=0.01)
    assert e["estimate_calibrated"] == 0.0


def test_overconfident_scores_are_rescaled_with_the_last_labeled_window() -> None:
    scores, labels = calibrated(20_000, 1)
    inflated = np.clip(scores * 1.8, 0, 1)  # the model now says 1.8 times the true rate
    check = Calibration()
    check.add(inflated[:5000], labels[:5000])
    table = ScoreTable()
    table.add(inflated[5000:], (inflated[5000:] >= 0.5).astype(np.int64))
    decisions = (inflated[5000:] >= 0.5).astype(int)
    realised = accuracy_score(labels[5000:], decisions)

    naive, rescaled = estimate(table), estimate(table, check)

    assert check.error() > 0.05
    assert rescaled["estimate_calibrated"] == 1.0
    assert abs(rescaled["estimated_accuracy"] - realised) < abs(
        naive["estimated_accuracy"] - realised)
    assert rescaled["estimated_accuracy"] == pytest.approx(realised, abs=0.02)


def test_an_empty_window_estimates_nothing() -> None:
    assert estimate(ScoreTable()) == {}


@pytest.mark.parametrize("miscalibrated", [False, True])
def test_windows_estimated_together_get_what_each_gets_alone(miscalibrated: bool) -> None:
    rng = np.random.default_rng(4)
    tables = [ScoreTable() for _ in range(6)]
    for i, table in enumerate(tables[1:], 1):  # the first holds nothing
        scores = rng.beta(1 + i, 3, size=200 * i)
        table.add(scores, (scores >= 0.3 + 0.1 * i).astype(np.int64))
    calibration = Calibration()
    scores = rng.uniform(size=2000)
    calibration.add(scores, (rng.uniform(size=2000) < scores ** (3 if miscalibrated else 1))
                    .astype(np.int64))
    assert (calibration.error() > 0.05) == miscalibrated
    together = estimate_all(np.stack([t.counts for t in tables]),
                            np.stack([t.sums for t in tables]), calibration)
    assert together == [estimate(t, calibration) for t in tables]
    assert together[0] == {} and together[1]["estimate_calibrated"] == float(miscalibrated)
    if not miscalibrated:  # each window's figures from their definition on its table
        for t, got in zip(tables[1:], together[1:], strict=True):
            positives, n = t.sums, t.counts.sum()
            assert got["estimated_accuracy"] == pytest.approx(
                (positives[1].sum() + (t.counts[0] - positives[0]).sum()) / n)
            assert got["estimated_precision"] == pytest.approx(
                positives[1].sum() / t.counts[1].sum())
            assert got["estimated_recall"] == pytest.approx(positives[1].sum() / positives.sum())
