"""Why a score: each feature's share of the logit, the largest ``k`` kept.

Exact for a linear model: the logit is the intercept plus one term a feature, so the
terms are the contributions, with no attribution method between the model and what
is shown (a categorical feature's one-hot columns are one term: only one is set).

Other models are explained one request at a time (``POST /predict``), never on the
stream, by baseline Shapley values computed exactly (Sundararajan and Najmi, "The many
Shapley values for model explanation", 2020): the baseline is the same row with every
feature missing, and a feature's value is its average effect on the logit when it is
revealed, over every order of revealing the features. They sum to the row's logit
minus the baseline's. Exact means scoring every subset: 2^m rows for m features, so
at most :data:`MAX_EXACT_FEATURES`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from scorer.exceptions import UnexplainableModel

MAX_TOP_K = 64
# 2^14 = 16,384 rows scored for one explanation: tens of milliseconds for a tree model.
MAX_EXACT_FEATURES = 14


def top_contributions(names: Sequence[str], terms: np.ndarray, k: int) -> list[dict[str, float]]:
    """Per row, the ``k`` terms largest in size, largest first, by feature name.

    >>> top_contributions(["a", "b", "c"], np.array([[0.5, -2.0, 0.1]]), 2)
    [{'b': -2.0, 'a': 0.5}]
    """
    if terms.shape[1] == 0 or k <= 0:
        return [{} for _ in range(terms.shape[0])]
    # Stable on ties: the feature first in the schema comes first.
    order = np.argsort(-np.abs(terms), axis=1, kind="stable")[:, :min(k, terms.shape[1])]
    picked = np.take_along_axis(terms, order, axis=1).tolist()
    # Names looked up by numpy, zipped in C: a third less than a dict comprehension a row.
    named = np.array(names, dtype=object)[order].tolist()
    return [dict(zip(row, values, strict=True)) for row, values in zip(named, picked, strict=True)]


def baseline_shapley(logits: Callable[[list[dict[str, Any]]], np.ndarray],
                     row: Mapping[str, Any], names: Sequence[str]) -> np.ndarray:
    """Each feature's exact baseline Shapley value for ``row`` (the baseline: all missing).

    ``logits`` scores a batch of rows on the logit scale.

    >>> def additive(rows):  # a model whose logit is a sum: the values are its terms
    ...     return np.array([2.0 * (r.get("a") or 0) - (r.get("b") or 0) for r in rows])
    >>> baseline_shapley(additive, {"a": 1.0, "b": 3.0}, ["a", "b"]).tolist()
    [2.0, -3.0]
    """
    m = len(names)
    if m > MAX_EXACT_FEATURES:
        raise UnexplainableModel(f"an exact explanation scores 2^m rows; this model has {m} "
                                 f"features, at most {MAX_EXACT_FEATURES} can be explained")
    masks = np.arange(2**m)
    revealed = [[bool(mask >> i & 1) for i in range(m)] for mask in masks.tolist()]
    values = logits([{name: row.get(name) for name, shown in zip(names, bits, strict=True)
                      if shown} for bits in revealed])
    size = np.array([bin(mask).count("1") for mask in masks.tolist()])
    # The weight of a subset S not holding i: |S|! (m - |S| - 1)! / m!
    weight = np.array([math.factorial(s) * math.factorial(m - s - 1) / math.factorial(m)
                       if s < m else 0.0 for s in range(m + 1)])
    phi = np.zeros(m)
    for i in range(m):
        without = masks[(masks >> i & 1) == 0]
        phi[i] = float(np.sum(weight[size[without]] * (values[without | 1 << i] - values[without])))
    return phi


__all__ = ["MAX_EXACT_FEATURES", "MAX_TOP_K", "baseline_shapley", "top_contributions"]
