"""A fitted preprocessing + logistic regression (or small neural network) pipeline
compiled into plain numpy arrays.

The fitted pipeline is linear after its preprocessing, so its decision is a sum of
one term per feature: for a number, impute the median, clip to the learned
quantiles, and multiply by a weight with the scaler folded in; for a category, one
dictionary lookup (one-hot as an index: unseen categories add nothing, missing ones
add their imputed category's term). Scoring a batch then costs a few numpy
operations per numeric column and one lookup per category value, instead of
scikit-learn's validation and column transformer (3 ms a call).

A multilayer perceptron's first layer is the same kind of sum, with a vector of one
weight per hidden unit for each term; the later layers are two small matrix products.

Only the exact pipelines :func:`scorer.preprocessing.build_pipeline` builds with the
``logistic`` and ``mlp`` estimators compile, and a compiled model checks its own
scores against the pipeline's on probe rows before it is used; anything else scores
with scikit-learn as before.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from contracts.feature_rows import Vocabulary, codes
from scorer.feature_schema import Features, FeatureSchema
from scorer.preprocessing import QuantileClipper, checked_numbers, vectorise

logger = logging.getLogger(__name__)

TOLERANCE: Final = 1e-9
# A term's weight: a number for a logistic regression; for a network's first layer,
# one number a hidden unit.
Weight = float | np.ndarray
UNSEEN: Final = "\x00unseen category\x00"


@dataclass(frozen=True, slots=True)
class NumericTerm:
    name: str
    never_negative: bool
    fill: float  # the imputer's median
    lower: float
    upper: float
    weight: Weight  # coefficient / scale


@dataclass(frozen=True, slots=True)
class CategoryTerm:
    """A categorical feature's terms; :attr:`weights` holds them by the code of
    :attr:`vocabulary` (:func:`contracts.feature_rows.codes`): an unseen category's is
    zero."""

    name: str
    terms: Mapping[str | None, Weight]  # None: the imputed category's term
    vocabulary: Vocabulary = field(init=False)
    weights: np.ndarray = field(init=False)  # one row a code for a network's vectors

    def __post_init__(self) -> None:
        vocabulary = Vocabulary(c for c in self.terms if c is not None)
        zero = 0.0 * np.asarray(next(iter(self.terms.values())))
        weights = [*(self.terms[c] for c in vocabulary.categories),
                   self.terms.get(None, zero), zero]
        object.__setattr__(self, "vocabulary", vocabulary)
        object.__setattr__(self, "weights", np.asarray(weights, dtype=np.float64))

    def of(self, rows: Sequence[Features]) -> np.ndarray:
        """The term of each row (a row of terms each, for a network)."""
        taken: np.ndarray = self.weights[codes(rows, self.name, self.vocabulary)]
        return taken


@dataclass(frozen=True, slots=True)
class CompiledLinear:
    """Scores equal to the pipeline's ``predict_proba(...)[:, 1]`` (within 1e-9).

    >>> from scorer.feature_schema import infer_schema
    >>> from scorer.preprocessing import build_pipeline, vectorise
    >>> rows = [{"x": float(i), "c": "ab"[i % 2]} for i in range(20)]
    >>> schema = infer_schema(rows)
    >>> pipeline = build_pipeline(schema).fit(vectorise(schema, rows), [i >= 10 for i in range(20)])
    >>> fast = compile_pipeline(pipeline, schema)
    >>> events = [{"x": 3.0, "c": "b"}, {"c": "new"}]
    >>> expected = pipeline.predict_proba(vectorise(schema, events))[:, 1]
    >>> bool(np.allclose(fast.scores(events), expected, rtol=0, atol=1e-12))
    True
    """

    intercept: Weight
    numeric: tuple[NumericTerm, ...]
    categorical: tuple[CategoryTerm, ...]

    def scores(self, rows: Sequence[Features]) -> np.ndarray:
        """Probability of label 1 per row; a :class:`FeatureValueError` like ``vectorise``'s."""
        decision = np.full(len(rows), self.intercept)
        for _, term in self._terms(rows):
            decision += term
        return _logistic(decision)

    def scores_of(self, contributions: np.ndarray) -> np.ndarray:
        """:meth:`scores` from :meth:`contributions`, summed in the same order (the same
        floating-point result)."""
        decision = np.full(contributions.shape[0], self.intercept)
        for term in contributions.T:
            decision += term
        return _logistic(decision)

    def contributions(self, rows: Sequence[Features]) -> np.ndarray:
        """Each feature's term of the logit, one column a feature in :attr:`names` order:
        with :attr:`intercept` they sum to the logit exactly (no attribution method)."""
        columns = [term for _, term in self._terms(rows)]
        return np.column_stack(columns) if columns else np.zeros((len(rows), 0))

    @property
    def names(self) -> tuple[str, ...]:
        return (*(t.name for t in self.numeric), *(t.name for t in self.categorical))

    def _terms(self, rows: Sequence[Features]) -> Iterator[tuple[str, np.ndarray]]:
        for term in self.numeric:  # in schema order, so the first bad value is the same
            x = _filled(checked_numbers(rows, term.name, never_negative=term.never_negative),
                        term)
            x *= term.weight
            yield term.name, x
        for cat in self.categorical:
            yield cat.name, cat.of(rows)


@dataclass(frozen=True, slots=True)
class CompiledNetwork:
    """Scores equal to a ReLU multilayer perceptron pipeline's (within 1e-9): its first
    layer as per-feature terms of one weight a hidden unit, then dense layers."""

    intercept: np.ndarray
    numeric: tuple[NumericTerm, ...]
    categorical: tuple[CategoryTerm, ...]
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]  # (weights, biases) after the first

    def scores(self, rows: Sequence[Features]) -> np.ndarray:
        hidden = np.tile(self.intercept, (len(rows), 1))
        for term in self.numeric:
            x = _filled(checked_numbers(rows, term.name, never_negative=term.never_negative),
                        term)
            hidden += np.outer(x, term.weight)
        for category in self.categorical:
            hidden += category.of(rows)
        for weights, biases in self.layers:
            np.maximum(hidden, 0.0, out=hidden)
            hidden = hidden @ weights + biases
        return _logistic(hidden[:, 0])


def _filled(x: np.ndarray, term: NumericTerm) -> np.ndarray:
    """A new array of ``x`` with missing values imputed and clipped as the pipeline does
    (``x`` itself is shared with the batch's other readers)."""
    filled = np.where(np.isnan(x), term.fill, x)
    return np.clip(filled, term.lower, term.upper, out=filled)


def _logistic(decision: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # exp(-d) of a very negative d is inf: score 0
        result: np.ndarray = 1.0 / (1.0 + np.exp(-decision))
    return result


def compile_pipeline(pipeline: Pipeline,
                     schema: FeatureSchema) -> CompiledLinear | CompiledNetwork | None:
    """The pipeline as arrays, or None when it is not one this module can compile exactly."""
    try:
        compiled = _compile(pipeline, schema)
    except _NotCompilable as exc:
        logger.debug("scoring with scikit-learn: %s", exc)
        return None
    error = _probe_error(compiled, pipeline, schema)
    if not error <= TOLERANCE:
        logger.warning("the compiled model differs from the pipeline by %.3g on probe rows; "
                       "scoring with scikit-learn", error)
        return None
    return compiled


class _NotCompilable(Exception):
    pass


def _step(owner: Any, name: str, kind: type) -> Any:
    steps = getattr(owner, "named_steps", {})
    if name not in steps or type(steps[name]) is not kind:
        raise _NotCompilable(f"step {name!r} is not a {kind.__name__}")
    return steps[name]


def _compile(pipeline: Pipeline, schema: FeatureSchema) -> CompiledLinear | CompiledNetwork:
    if [n for n, _ in pipeline.steps] != ["columns", "model"]:
        raise _NotCompilable("not the columns → model pipeline")
    columns = _step(pipeline, "columns", ColumnTransformer)
    model = pipeline.named_steps["model"]
    if type(model) is MLPClassifier:
        if model.activation != "relu" or model.out_activation_ != "logistic" \
                or list(model.classes_) != [0, 1]:
            raise _NotCompilable("not a binary ReLU network")
        first = _terms(columns, schema, model.coefs_[0], model.intercepts_[0].copy())
        return CompiledNetwork(
            np.asarray(first.intercept), first.numeric, first.categorical,
            tuple(zip(model.coefs_[1:], model.intercepts_[1:], strict=True)))
    model = _step(pipeline, "model", LogisticRegression)
    if model.coef_.shape[0] != 1 or list(model.classes_) != [0, 1]:
        raise _NotCompilable("not a binary logistic regression")
    return _terms(columns, schema, model.coef_[0], float(model.intercept_[0]))


def _terms(columns: Any, schema: FeatureSchema, coef: np.ndarray,
           intercept: Weight) -> CompiledLinear:
    """The branches' columns as terms; ``coef`` has one row a column (a number for a
    logistic regression, a vector for a network's first layer)."""
    numeric: list[NumericTerm] = []
    categorical: list[CategoryTerm] = []
    at = 0
    for name, branch, indices in columns.transformers_:
        if branch == "drop" or len(indices) == 0:
            continue
        specs = [schema.features[i] for i in indices]
        if name == "numeric" and all(s.kind == "numeric" for s in specs):
            numbers, intercept = _numeric(branch, specs, coef[at:at + len(specs)], intercept)
            numeric += numbers
            at += len(specs)
        elif name == "categorical" and all(s.kind == "categorical" for s in specs):
            categories, width = _categorical(branch, specs, coef[at:])
            categorical += categories
            at += width
        else:
            raise _NotCompilable(f"unexpected branch {name!r}")
    if at != len(coef):
        raise _NotCompilable(f"the branches give {at} columns, the model reads {len(coef)}")
    order = {spec.name: i for i, spec in enumerate(schema.features)}
    numeric.sort(key=lambda t: order[t.name])
    return CompiledLinear(intercept, tuple(numeric), tuple(categorical))


def _numeric(branch: Any, specs: list[Any], coef: np.ndarray,
             intercept: Weight) -> tuple[list[NumericTerm], Weight]:
    impute = _step(branch, "impute", SimpleImputer)
    clip = _step(branch, "clip", QuantileClipper)
    scale = _step(branch, "scale", StandardScaler)
    if [n for n, _ in branch.steps] != ["impute", "clip", "scale"] or impute.strategy != "median":
        raise _NotCompilable("not the impute → clip → scale numeric branch")
    mean = scale.mean_ if scale.with_mean else np.zeros(len(specs))
    std = scale.scale_ if scale.with_std else np.ones(len(specs))
    if len(impute.statistics_) != len(specs):
        raise _NotCompilable("the imputer dropped a column")
    terms = []
    for k, spec in enumerate(specs):
        weight = _weight(coef[k] / std[k])
        intercept = intercept - weight * float(mean[k])
        terms.append(NumericTerm(
            name=spec.name, never_negative=spec.minimum is not None and spec.minimum >= 0.0,
            fill=float(impute.statistics_[k]), lower=float(clip.lower_bounds_[k]),
            upper=float(clip.upper_bounds_[k]), weight=weight,
        ))
    return terms, intercept


def _categorical(branch: Any, specs: list[Any],
                 coef: np.ndarray) -> tuple[list[CategoryTerm], int]:
    impute = _step(branch, "impute", SimpleImputer)
    onehot = _step(branch, "onehot", OneHotEncoder)
    if [n for n, _ in branch.steps] != ["impute", "onehot"] or impute.strategy != "most_frequent" \
            or onehot.drop is not None or onehot.handle_unknown != "ignore":
        raise _NotCompilable("not the impute → one-hot categorical branch")
    infrequent = getattr(onehot, "infrequent_categories_", None) or [None] * len(specs)
    terms, at = [], 0
    for k, spec in enumerate(specs):
        rare = set() if infrequent[k] is None else {c for c in infrequent[k]}
        frequent = [c for c in onehot.categories_[k] if c not in rare]
        # Frequent categories in order, then one column for all infrequent ones.
        table: dict[str | None, Weight] = {c: _weight(coef[at + i])
                                           for i, c in enumerate(frequent)}
        width = len(frequent)
        if rare:
            table.update({c: _weight(coef[at + width]) for c in rare})
            width += 1
        table[None] = table.get(impute.statistics_[k], 0.0 * _weight(coef[at]))
        terms.append(CategoryTerm(spec.name, table))
        at += width
    return terms, at


def _weight(value: Any) -> Weight:
    """A coefficient as a term keeps it: a float, or a network's row of floats."""
    return float(value) if np.ndim(value) == 0 else np.asarray(value, dtype=np.float64)


def probe_rows(schema: FeatureSchema, n: int = 64, seed: int = 0) -> list[dict[str, Any]]:
    """Rows touching every known category, an unseen one, gaps and numbers across the range."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = [{} for _ in range(n)]
    for spec in schema.features:
        if spec.kind == "numeric":
            low = spec.minimum if spec.minimum is not None else -10.0
            high = spec.maximum if spec.maximum is not None else 10.0
            span = max(high - low, 1.0)
            values: list[Any] = rng.uniform(low - 0.1 * span, high + 0.1 * span, n).tolist()
            if spec.minimum is not None and spec.minimum >= 0.0:
                values = [max(v, 0.0) for v in values]
        else:
            choices = [*spec.categories, UNSEEN, None]
            values = [choices[i % len(choices)] for i in range(n)]
        for row, value in zip(rows, values, strict=True):
            if not (isinstance(value, float) and math.isnan(value)) and rng.random() > 0.1:
                row[spec.name] = value
    return rows


def _probe_error(compiled: CompiledLinear | CompiledNetwork, pipeline: Pipeline,
                 schema: FeatureSchema) -> float:
    rows = probe_rows(schema)
    expected = pipeline.predict_proba(vectorise(schema, rows))[:, 1]
    return float(np.max(np.abs(compiled.scores(rows) - expected)))


__all__ = ["CompiledLinear", "CompiledNetwork", "compile_pipeline", "probe_rows"]
