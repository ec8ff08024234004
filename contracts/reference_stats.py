"""A version's training distributions, as they travel inside its ``model-versions``
record: what the monitor compares traffic with, and what the scoring processor folds
each batch's features against (:mod:`contracts.feature_summary`).

The field names are those of ``scorer.reference`` (a test holds the two together), so
readers compare traffic with them without importing the scorer and its scikit-learn
stack. Unknown fields are ignored: a scorer that adds a statistic breaks no reader.
"""

from __future__ import annotations

import msgspec


class Histogram(msgspec.Struct, frozen=True, kw_only=True):
    """Frequencies of ``len(edges) + 1`` bins; bin ``i`` is ``numpy.searchsorted(edges, v)``."""

    edges: tuple[float, ...]
    frequencies: tuple[float, ...]


class NumericReference(msgspec.Struct, frozen=True, kw_only=True):
    """A numeric feature at training time: histogram, quantiles at every percent, missing rate."""

    histogram: Histogram
    quantiles: tuple[float, ...]
    missing_rate: float


class CategoricalReference(msgspec.Struct, frozen=True, kw_only=True):
    """A categorical feature at training time: frequency of each category, missing rate."""

    frequencies: dict[str, float]
    missing_rate: float


class Reference(msgspec.Struct, frozen=True, kw_only=True):
    """Training distributions of every feature and the histogram of validation scores.

    Examples
    --------
    >>> ref = Reference.from_json(b'{"rows": 10, "numeric": {}, "categorical": {}, '
    ...     b'"scores": {"edges": [0.5], "frequencies": [0.6, 0.4]}}')
    >>> ref.scores.frequencies
    (0.6, 0.4)
    """

    rows: int
    numeric: dict[str, NumericReference]
    categorical: dict[str, CategoricalReference]
    scores: Histogram

    @classmethod
    def from_json(cls, data: bytes) -> Reference:
        return msgspec.json.decode(data, type=cls)


__all__ = ["CategoricalReference", "Histogram", "NumericReference", "Reference"]
