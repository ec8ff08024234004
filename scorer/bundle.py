"""A trained model with everything needed to serve, check and trace it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from contracts.records import TopicRange
from scorer.compiled import CompiledLinear, CompiledNetwork, compile_pipeline
from scorer.explanations import baseline_shapley, top_contributions
from scorer.feature_schema import Features, FeatureSchema
from scorer.preprocessing import vectorise
from scorer.reference import ReferenceStats
from scorer.tree_paths import PipelinePaths


@dataclass(frozen=True, eq=False)
class ModelBundle:
    """A fitted pipeline with its feature schema, reference statistics, metrics and lineage.

    Parameters
    ----------
    pipeline : Pipeline
        Fitted; its input is :func:`scorer.preprocessing.vectorise` of the schema.
    schema : FeatureSchema
        Input columns, in order.
    reference : ReferenceStats
        Training distributions and validation scores, for drift checks.
    metrics : mapping of str to float
        Held-out evaluation (accuracy, roc_auc, ...).
    lineage : tuple of TopicRange
        The topic offsets the model was trained on (empty for a file).
    model, version, created_at
        Name, version (>= 1) and UTC-aware creation time.
    threshold : float
        Scores at or above it decide 1.
    trusted_types : tuple of str
        Types of an imported pipeline that skops does not trust by itself, each
        confirmed by whoever imported it (see :mod:`scorer.imported`).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> from scorer.feature_schema import infer_schema
    >>> from scorer.preprocessing import build_pipeline, vectorise
    >>> from scorer.reference import reference_stats
    >>> rows = [{"x": float(i), "c": "ab"[i % 2]} for i in range(20)]
    >>> y = np.array([int(i >= 10) for i in range(20)])
    >>> schema = infer_schema(rows)
    >>> pipeline = build_pipeline(schema).fit(vectorise(schema, rows), y)
    >>> bundle = ModelBundle(
    ...     pipeline=pipeline, schema=schema,
    ...     reference=reference_stats(schema, rows, pipeline.predict_proba(
    ...         vectorise(schema, rows))[:, 1]),
    ...     metrics={}, lineage=(), model="demo", version=1,
    ...     created_at=datetime(2026, 1, 1, tzinfo=UTC))
    >>> scores, decisions = bundle.score_batch([{"x": 19.0, "c": "b"}, {"x": 1.0, "c": "z"}])
    >>> decisions.tolist()
    [1, 0]
    """

    pipeline: Pipeline
    schema: FeatureSchema
    reference: ReferenceStats
    metrics: Mapping[str, float]
    lineage: tuple[TopicRange, ...]
    model: str
    version: int
    created_at: datetime
    threshold: float = 0.5
    params: Mapping[str, object] = field(default_factory=dict)
    trusted_types: tuple[str, ...] = ()  # types beyond skops' own its pipeline needs

    def __post_init__(self) -> None:
        if self.version < 1:
            raise ValueError(f"version must be >= 1, got {self.version}")
        if self.created_at.tzinfo is None:
            raise ValueError("created_at must be timezone-aware (UTC)")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be within [0, 1], got {self.threshold}")
        classes = getattr(self.pipeline, "classes_", None)
        if classes is None or list(classes) != [0, 1]:
            raise ValueError(f"the pipeline must be fitted on labels 0 and 1, has {classes!r}")
        width = getattr(self.pipeline, "n_features_in_", None)
        if width != len(self.schema.features):
            raise ValueError(
                f"the pipeline reads {width} columns but the schema has {len(self.schema.features)}"
            )

    def score_batch(self, features_list: Sequence[Features]) -> tuple[np.ndarray, np.ndarray]:
        """Scores (probability of label 1) and 0/1 decisions for a batch of feature dicts.

        Missing keys and None are missing values; unseen categories encode as zeros.
        Raises :class:`scorer.exceptions.FeatureValueError` naming the row and feature
        when a numeric feature holds text.
        """
        if not features_list:
            return np.empty(0, dtype=np.float64), np.empty(0, dtype=np.int8)
        compiled = self.compiled
        if compiled is not None:
            scores = compiled.scores(features_list)
        else:
            scores = self.pipeline.predict_proba(vectorise(self.schema, features_list))[:, 1]
        return scores, (scores >= self.threshold).astype(np.int8)

    def score_explained(self, features_list: Sequence[Features], k: int, *,
                        exhaustive: bool = False) -> tuple[
            np.ndarray, np.ndarray, list[dict[str, float]] | None]:
        """:meth:`score_batch`, and each row's ``k`` largest feature contributions to its
        logit (see :mod:`scorer.explanations`).

        A linear model's terms are computed once, for both; a tree model's are its path
        credits (:mod:`scorer.tree_paths`). Any other model is explained only when
        ``exhaustive`` (one request at a time: 2^m rows scored a row), else None; with
        ``exhaustive``, every model gets exact baseline Shapley values.
        """
        compiled = self.compiled
        if isinstance(compiled, CompiledLinear) and features_list:
            terms = compiled.contributions(features_list)
            scores = compiled.scores_of(terms)
            return (scores, (scores >= self.threshold).astype(np.int8),
                    top_contributions(compiled.names, terms, k))
        if not exhaustive and self.tree_paths is not None and features_list:
            scores, credits = self.tree_paths.explain(vectorise(self.schema, features_list))
            return (scores, (scores >= self.threshold).astype(np.int8),
                    top_contributions(self.schema.names, credits, k))
        scores, decisions = self.score_batch(features_list)
        if isinstance(compiled, CompiledLinear):
            return scores, decisions, []
        if not exhaustive:
            return scores, decisions, None
        names = self.schema.names
        values = np.vstack([baseline_shapley(self._logits, row, names)
                            for row in features_list]) if features_list else np.zeros((0, 0))
        return scores, decisions, top_contributions(names, values, k)

    def _logits(self, rows: list[dict[str, Any]]) -> np.ndarray:
        p = np.clip(self.score_batch(rows)[0], 1e-12, 1 - 1e-12)
        logits: np.ndarray = np.log(p / (1 - p))
        return logits

    @cached_property
    def tree_paths(self) -> PipelinePaths | None:
        """Path credits of a tree model (:mod:`scorer.tree_paths`), or None; built on
        first use (only when predictions are explained)."""
        return PipelinePaths.of(self.pipeline, len(self.schema.features))

    @cached_property
    def compiled(self) -> CompiledLinear | CompiledNetwork | None:
        """The pipeline as numpy arrays (:mod:`scorer.compiled`), or None if it does not compile.

        Built on first use and kept; the same scores as the pipeline, a hundredth of the cost.
        """
        return compile_pipeline(self.pipeline, self.schema)

    def with_version(self, version: int) -> ModelBundle:
        """The same model under another version number (set when publishing)."""
        return dataclasses.replace(self, version=version)


__all__ = ["ModelBundle"]
