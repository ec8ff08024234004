"""What a closed window says: the figures of one scope over one stretch of the stream."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Literal, NamedTuple, Protocol

from contracts.sketches import CategoricalFigures, NumericFigures

WindowKind = Literal["features", "predictions", "labels"]

# The figures each kind of window reports; alert rules name them.
FEATURE_METRICS: Final = {
    "feature_psi": "psi",
    "feature_ks": "ks",
    "feature_wasserstein": "wasserstein",
    "feature_missing_delta": "missing_delta",
    "feature_unseen_rate": "unseen_rate",
}
PREDICTION_METRICS: Final = (
    "predictions", "throughput", "latency_p50", "latency_p95", "positive_rate", "score_mean",
    "score_psi", "label_coverage", "estimated_accuracy", "estimated_precision",
    "estimated_recall", "estimated_f1", "estimated_roc_auc", "estimated_roc_auc_drop",
    "estimate_calibrated",
)
LABEL_METRICS: Final = (
    "labeled", "accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss", "brier",
    "expected_log_loss", "excess_log_loss", "calibration_error", "label_delay_p50",
    "roc_auc_drop", "brier_increase", "concept_drift", "decision_threshold",
)


def kind_of(metric: str) -> WindowKind | None:
    """Which window reports ``metric`` (None: no such figure).

    >>> kind_of("feature_psi"), kind_of("roc_auc"), kind_of("nope")
    ('features', 'labels', None)
    """
    if metric in FEATURE_METRICS:
        return "features"
    if metric in PREDICTION_METRICS:
        return "predictions"
    if metric in LABEL_METRICS:
        return "labels"
    return None


class Scope(NamedTuple):
    """One model version on one route: the unit every figure is kept for (a tuple: every
    window, rule state and series is looked up by it, and a tuple hashes in C)."""

    model: str
    version: int
    route: str

    def labels(self) -> dict[str, str]:
        return {"model": self.model, "version": str(self.version), "route": self.route}


FeatureFigures = NumericFigures | CategoricalFigures


class FigureTable(Protocol):
    """Figures of several features at several moments (:class:`contracts.sketches.
    NumericTable`, :class:`contracts.sketches.CategoricalTable`)."""

    def column(self, name: str, w: int) -> Sequence[float | None]: ...

    def figures(self, w: int, i: int) -> FeatureFigures: ...

    def alone(self, w: int) -> FigureTable: ...


class FeatureTables:
    """The tables of the windows one batch closed, and which features each holds."""

    __slots__ = ("at", "groups")

    def __init__(self, groups: Sequence[tuple[Sequence[str], FigureTable]]) -> None:
        self.groups = [(list(names), table) for names, table in groups]
        self.at = {name: (table, i) for names, table in self.groups
                   for i, name in enumerate(names)}


class WindowFeatures(Mapping[str, FeatureFigures]):
    """One window's figures per feature, read from the tables of the windows its batch
    closed: :func:`feature_values` reads a figure of every feature from them, and a
    feature's whole figures are made the first time they are looked up.

    >>> from contracts.reference_stats import CategoricalReference
    >>> from contracts.sketches import CategoricalBank, CategoricalSketch
    >>> sketch = CategoricalSketch(CategoricalReference(frequencies={"a": 1.0},
    ...                                                 missing_rate=0.0))
    >>> bank = CategoricalBank([sketch]); sketch.add(["a", "z"])
    >>> f = WindowFeatures(FeatureTables([(["c"], bank.table_at([bank.held()]))]), 0)
    >>> feature_values(f, "unseen_rate"), f["c"].unseen
    ([0.5], {'z': 1})
    """

    __slots__ = ("_made", "_tables", "_w")

    def __init__(self, tables: FeatureTables, w: int) -> None:
        self._tables = tables
        self._w = w
        self._made: dict[str, FeatureFigures] = {}

    def __getitem__(self, name: str) -> FeatureFigures:
        made = self._made.get(name)
        if made is None:
            table, i = self._tables.at[name]
            made = self._made[name] = table.figures(self._w, i)
        return made

    def __iter__(self) -> Iterator[str]:
        return iter(self._tables.at)

    def __len__(self) -> int:
        return len(self._tables.at)

    def alone(self) -> WindowFeatures:
        """This window's figures, holding none of its batch's other windows'."""
        return WindowFeatures(FeatureTables([(names, table.alone(self._w))
                                             for names, table in self._tables.groups]), 0)

    def values_of(self, attribute: str) -> list[float | None]:
        values: list[float | None] = []
        for _, table in self._tables.groups:
            values.extend(table.column(attribute, self._w))
        return values


def feature_values(features: Mapping[str, FeatureFigures], attribute: str) \
        -> list[float | None]:
    """Each feature's figure ``attribute``, in the mapping's order (None where a feature
    of its kind has none), without making the figures of a :class:`WindowFeatures`."""
    if isinstance(features, WindowFeatures):
        return features.values_of(attribute)
    return [getattr(f, attribute, None) for f in features.values()]


@dataclass(frozen=True, slots=True)
class WindowReport:
    """The figures of one closed window; ``judged`` is False when it held too few records."""

    kind: WindowKind
    scope: Scope
    start: float
    end: float
    n: int
    figures: Mapping[str, float]
    features: Mapping[str, FeatureFigures] = field(default_factory=dict)
    detail: Mapping[str, object] = field(default_factory=dict)
    judged: bool = True

    def describe(self) -> str:
        """The window as alerts name it.

        >>> WindowReport("labels", Scope("m", 1, "champion"), 0.0, 60.0, 500, {}).describe()
        'labels: 500 records, 1970-01-01T00:00:00Z to 1970-01-01T00:01:00Z'
        """
        return f"{self.kind}: {self.n} records, {iso(self.start)} to {iso(self.end)}"


def iso(ts: float) -> str:
    """An epoch time as RFC 3339 UTC to the second."""
    if not math.isfinite(ts):
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = [
    "FEATURE_METRICS",
    "LABEL_METRICS",
    "PREDICTION_METRICS",
    "FeatureFigures",
    "FeatureTables",
    "FigureTable",
    "Scope",
    "WindowFeatures",
    "WindowKind",
    "WindowReport",
    "feature_values",
    "iso",
    "kind_of",
]
