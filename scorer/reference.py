"""What the training data and the validation scores looked like, for drift checks later.

Plain frozen structs of numbers, serialised as JSON on ``model-versions``, so a
monitor can compare live traffic with them without importing the scorer.

Binning rule (every reader must use the same): for inner cut points ``edges``
(increasing), bin ``i`` holds ``edges[i-1] < v <= edges[i]``, with bin 0 open
below and the last bin open above; that is ``numpy.searchsorted(edges, v)``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Final

import msgspec
import numpy as np

from scorer.feature_schema import Features, FeatureSchema, category_text

DEFAULT_BINS: Final = 10
# 101 quantiles (every percent) give a KS-type distance to about one percent.
QUANTILE_LEVELS: Final = 101


class Histogram(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Relative frequencies of ``len(edges) + 1`` bins split at the inner cut points ``edges``.

    Examples
    --------
    >>> h = histogram(np.arange(100.0), bins=4)
    >>> h.edges, h.frequencies
    ((24.0, 49.0, 74.0), (0.25, 0.25, 0.25, 0.25))
    """

    edges: tuple[float, ...]
    frequencies: tuple[float, ...]


class NumericReference(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One numeric feature: its histogram, quantiles at every percent, missing rate."""

    histogram: Histogram
    quantiles: tuple[float, ...]
    missing_rate: float


class CategoricalReference(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One categorical feature: frequency of each category among present values, missing rate."""

    frequencies: dict[str, float]
    missing_rate: float


class ReferenceStats(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Training-time reference of every feature and of the validation scores.

    Examples
    --------
    >>> from scorer.feature_schema import infer_schema
    >>> rows = [{"x": float(i), "c": "ab"[i % 2]} for i in range(10)]
    >>> ref = reference_stats(infer_schema(rows), rows, np.linspace(0, 1, 10), bins=2)
    >>> ref.categorical["c"].frequencies, ref.numeric["x"].histogram.frequencies
    ({'a': 0.5, 'b': 0.5}, (0.5, 0.5))
    """

    rows: int
    numeric: dict[str, NumericReference]
    categorical: dict[str, CategoricalReference]
    scores: Histogram

    def to_json(self) -> bytes:
        return msgspec.json.encode(self)

    @classmethod
    def from_json(cls, data: bytes) -> ReferenceStats:
        return msgspec.json.decode(data, type=cls)


def histogram(values: np.ndarray, *, bins: int = DEFAULT_BINS) -> Histogram:
    """Quantile-binned histogram of the non-missing ``values`` (ties merge bins)."""
    present = values[~np.isnan(values)]
    if present.size == 0:
        return Histogram(edges=(), frequencies=(1.0,))
    # Cut points at observed values (inverted CDF), none at the maximum: with ties
    # (counts, flags) interpolated or top edges would make bins training never filled.
    cuts = np.quantile(present, np.linspace(0.0, 1.0, bins + 1)[1:-1], method="inverted_cdf")
    edges = np.unique(cuts[cuts < present.max()])
    counts = np.bincount(np.searchsorted(edges, present), minlength=edges.size + 1)
    return Histogram(
        edges=tuple(edges.tolist()), frequencies=tuple((counts / present.size).tolist())
    )


def reference_stats(
    schema: FeatureSchema,
    rows: Sequence[Features],
    scores: np.ndarray,
    *,
    bins: int = DEFAULT_BINS,
) -> ReferenceStats:
    """Summarise the training ``rows`` feature by feature, and the validation ``scores``."""
    numeric: dict[str, NumericReference] = {}
    categorical: dict[str, CategoricalReference] = {}
    n = len(rows)
    for spec in schema.features:
        column = [row.get(spec.name) for row in rows]
        if spec.kind == "numeric":
            values = np.array(column, dtype=np.float64)
            numeric[spec.name] = _numeric(values, bins)
        else:
            texts = [t for v in column if (t := category_text(v)) is not None]
            counts = Counter(texts)
            categorical[spec.name] = CategoricalReference(
                frequencies={c: k / len(texts) for c, k in sorted(counts.items())},
                missing_rate=_rate(n - len(texts), n),
            )
    return ReferenceStats(
        rows=n, numeric=numeric, categorical=categorical,
        scores=histogram(np.asarray(scores, dtype=np.float64), bins=bins),
    )


def _numeric(values: np.ndarray, bins: int) -> NumericReference:
    missing = int(np.isnan(values).sum())
    present = values[~np.isnan(values)]
    quantiles = (
        np.quantile(present, np.linspace(0.0, 1.0, QUANTILE_LEVELS)).tolist()
        if present.size else []
    )
    return NumericReference(
        histogram=histogram(values, bins=bins),
        quantiles=tuple(quantiles),
        missing_rate=_rate(missing, values.size),
    )


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


__all__ = [
    "CategoricalReference",
    "Histogram",
    "NumericReference",
    "ReferenceStats",
    "histogram",
    "reference_stats",
]
