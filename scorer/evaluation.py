"""Held-out evaluation of a binary classifier's scores."""

from __future__ import annotations

from typing import Final

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

METRICS: Final = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss",
                  "brier")
# Keeps the log loss of a base rate of 0 or 1 finite.
EPSILON: Final = 1e-6


def evaluate(y_true: np.ndarray, scores: np.ndarray, *, threshold: float = 0.5) -> dict[str, float]:
    """Accuracy, precision, recall, F1 (at ``threshold``), ROC AUC, PR AUC (average
    precision), log loss and Brier score.

    The two AUCs are left out when ``y_true`` holds a single class, where they are
    undefined: metrics travel as JSON numbers, and NaN is not one. PR AUC reads better
    than ROC AUC when positives are rare: its floor is the positive rate, not 0.5.

    Examples
    --------
    >>> m = evaluate(np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.4, 0.9]))
    >>> m["accuracy"], m["roc_auc"], round(m["pr_auc"], 3), round(m["brier"], 3)
    (0.5, 0.75, 0.833, 0.185)
    """
    y = np.asarray(y_true)
    p = np.asarray(scores, dtype=np.float64)
    decided = (p >= threshold).astype(int)
    metrics = {
        "accuracy": float(accuracy_score(y, decided)),
        "precision": float(precision_score(y, decided, zero_division=0)),
        "recall": float(recall_score(y, decided, zero_division=0)),
        "f1": float(f1_score(y, decided, zero_division=0)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p, pos_label=1)),
    }
    if np.unique(y).size == 2:
        metrics["roc_auc"] = float(roc_auc_score(y, p))
        metrics["pr_auc"] = float(average_precision_score(y, p))
    return {name: metrics[name] for name in METRICS if name in metrics}


def base_rate_log_loss(rate: float, labels: np.ndarray) -> float:
    """Log loss on ``labels`` of always predicting ``rate`` (the training base rate).

    >>> round(base_rate_log_loss(0.25, np.array([0, 1])), 4)
    0.837
    """
    rate = float(np.clip(rate, EPSILON, 1 - EPSILON))
    y = np.asarray(labels, dtype=np.float64)
    return float(-np.mean(y * np.log(rate) + (1 - y) * np.log(1 - rate))) if len(y) else 0.0


def skill(log_loss_: float, baseline: float) -> float:
    """Relative log-loss gain over the base rate: 0 for a model no better than predicting
    it, 1 for a perfect one.

    >>> skill(0.3, 0.6)
    0.5
    """
    return 1.0 - log_loss_ / baseline if baseline > 0 else 0.0


__all__ = ["EPSILON", "METRICS", "base_rate_log_loss", "evaluate", "skill"]
