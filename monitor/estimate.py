"""A label-free estimate of performance from the scores, in the manner of NannyML's CBPE.

If scores are calibrated, an event scored ``p`` is a positive with probability ``p``,
so the expected confusion matrix and ROC AUC of a window follow from its scores
alone, long before its labels arrive. Scores are counted on a fixed grid (constant
memory). Calibration is checked on the last labeled window: when its expected
calibration error exceeds a tolerance, scores are first mapped through that window's
observed positive rate per score band.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

import numpy as np
from numpy.typing import NDArray

from contracts.prediction_summary import SCORE_BINS, score_bins

CALIBRATION_BINS: Final = 10  # bands of the calibration check (enough events in each)
# Pseudo-counts pulling a band's observed rate towards its mean score when it is thin.
CALIBRATION_PRIOR: Final = 20.0

Floats = NDArray[np.float64]


@dataclass
class Calibration:
    """Scores and labels of one labeled window counted in score bands.

    >>> c = Calibration(); c.add(np.array([0.1, 0.1, 0.9, 0.9]), np.array([0, 0, 1, 1]))
    >>> round(c.error(), 2)
    0.1
    """

    counts: Floats = field(default_factory=lambda: np.zeros(CALIBRATION_BINS))
    scores: Floats = field(default_factory=lambda: np.zeros(CALIBRATION_BINS))
    labels: Floats = field(default_factory=lambda: np.zeros(CALIBRATION_BINS))

    def add(self, scores: Floats, labels: NDArray[np.int64]) -> None:
        band = score_bins(scores, CALIBRATION_BINS)
        self.counts += np.bincount(band, minlength=CALIBRATION_BINS)
        self.scores += np.bincount(band, weights=scores, minlength=CALIBRATION_BINS)
        self.labels += np.bincount(band, weights=labels, minlength=CALIBRATION_BINS)

    def error(self) -> float:
        """Expected calibration error: the count-weighted gap between mean score and rate."""
        n = self.counts.sum()
        if n == 0:
            return math.nan
        return float(np.abs(self.scores - self.labels).sum() / n)

    def ratios(self) -> Floats:
        """Per band, observed rate over mean score, pulled towards 1 where bands are thin."""
        mean = self.scores / np.maximum(self.counts, 1)
        prior = CALIBRATION_PRIOR * mean
        ratio = (self.labels + prior) / np.maximum(self.scores + prior, 1e-12)
        return np.where(self.counts > 0, ratio, 1.0)

    def reset(self) -> None:
        for a in (self.counts, self.scores, self.labels):
            a[:] = 0


class ScoreTable:
    """Counts and score sums of a window's predictions, by decision and score bin.

    >>> t = ScoreTable(); t.add(np.array([0.2, 0.8]), np.array([0, 1]))
    >>> estimate(t)["estimated_accuracy"]
    0.8
    """

    def __init__(self, counts: Floats | None = None, sums: Floats | None = None) -> None:
        self.counts = np.zeros((2, SCORE_BINS)) if counts is None else counts
        self.sums = np.zeros((2, SCORE_BINS)) if sums is None else sums

    def add(self, scores: Floats, decisions: NDArray[np.int64]) -> None:
        cell = decisions * SCORE_BINS + score_bins(scores)
        self.counts += np.bincount(cell, minlength=2 * SCORE_BINS).reshape(2, SCORE_BINS)
        self.sums += np.bincount(cell, weights=scores,
                                 minlength=2 * SCORE_BINS).reshape(2, SCORE_BINS)

    def reset(self) -> None:
        self.counts[:] = 0
        self.sums[:] = 0


def estimate(table: ScoreTable, calibration: Calibration | None = None,
             *, tolerance: float = 0.05) -> dict[str, float]:
    """Expected accuracy, precision, recall, F1 and ROC AUC of a window from its scores.

    Scores are used as they are unless ``calibration`` (the last labeled window) shows an
    error above ``tolerance``; then each is rescaled by its band's observed ratio.
    ``estimate_calibrated`` says which was done (1: rescaled).
    """
    return estimate_all(table.counts[None], table.sums[None], calibration,
                        tolerance=tolerance)[0]


def estimate_all(counts: Floats, sums: Floats, calibration: Calibration | None = None,
                 *, tolerance: float = 0.05) -> list[dict[str, float]]:
    """:func:`estimate` of several windows in one pass: ``counts[i]`` and ``sums[i]`` are
    window ``i``'s :class:`ScoreTable` (a batch of summaries closes several)."""
    positives = sums.copy()
    rescale = calibration is not None and calibration.counts.sum() > 0 \
        and calibration.error() > tolerance
    if rescale and calibration is not None:
        band = np.arange(SCORE_BINS) * CALIBRATION_BINS // SCORE_BINS
        positives = np.minimum(positives * calibration.ratios()[band], counts)
    negatives = counts - positives
    tp, fp = positives[:, 1].sum(axis=1), negatives[:, 1].sum(axis=1)
    fn, tn = positives[:, 0].sum(axis=1), negatives[:, 0].sum(axis=1)
    n = tp + fp + fn + tn
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp != 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn != 0, tp / (tp + fn), 0.0)
        f1 = np.where(precision + recall != 0,
                      2 * precision * recall / (precision + recall), 0.0)
        accuracy = (tp + tn) / n
    auc = binned_roc_auc(positives.sum(axis=1), negatives.sum(axis=1))
    calibrated = 1.0 if rescale else 0.0
    return [{} if not k else {
        "estimated_accuracy": a, "estimated_precision": p, "estimated_recall": r,
        "estimated_f1": f, "estimated_roc_auc": u, "estimate_calibrated": calibrated,
    } for k, a, p, r, f, u in zip(n.tolist(), accuracy.tolist(), precision.tolist(),
                                  recall.tolist(), f1.tolist(), auc.tolist(), strict=True)]


def binned_roc_auc(positives: Floats, negatives: Floats) -> Floats:
    """ROC AUC of each row of (expected) counts per score bin: the chance a positive
    outranks a negative, ties in a bin counting half; NaN while a row lacks a class.

    >>> binned_roc_auc(np.array([[0.0, 1, 1]]), np.array([[1.0, 1, 0]])).tolist()
    [0.875]
    """
    p, n = positives.sum(axis=1), negatives.sum(axis=1)
    below = np.cumsum(negatives, axis=1) - negatives  # negatives in lower bins
    won = np.sum(positives * (below + 0.5 * negatives), axis=1)
    both = (p > 0) & (n > 0)
    return np.where(both, won / np.where(both, p * n, 1.0), math.nan)


__all__ = ["Calibration", "ScoreTable", "binned_roc_auc", "estimate", "estimate_all"]
