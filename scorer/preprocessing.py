"""Cleaning, encoding and scaling as one scikit-learn pipeline, and the vectoriser feeding it.

The recipe follows the project's practices: impute (median for numbers, most frequent
for categories), clip numeric outliers at quantiles learned on the training data,
one-hot encode categories (ignoring ones never seen), standardise numbers, then
the estimator. Columns to drop never reach the pipeline: :func:`infer_schema` leaves
them out, so the hot-path vectoriser never builds them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted, validate_data

from contracts.feature_rows import column, numbers
from scorer.exceptions import FeatureValueError
from scorer.feature_schema import Features, FeatureSchema, FeatureValue, category_text

EstimatorName = Literal["logistic", "hgb", "mlp"]
ESTIMATORS: Final = ("logistic", "hgb", "mlp")


# scikit-learn ships no type hints, so its base classes are Any to mypy.
class QuantileClipper(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Clip each column to quantiles learned on the training data.

    Outliers are bounded rather than removed, so a scored event is never dropped
    for an extreme value. Missing values (NaN) pass through untouched.

    Parameters
    ----------
    lower, upper : float
        Quantiles in ``[0, 1]`` with ``lower < upper``.

    Attributes
    ----------
    lower_bounds_, upper_bounds_ : ndarray of shape (n_features,)
        Learned bounds; a column with no values in training is left unbounded.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0], [2.0], [3.0], [100.0]])
    >>> QuantileClipper(lower=0.0, upper=0.5).fit(X).transform([[50.0], [np.nan]]).ravel()
    array([2.5, nan])
    """

    def __init__(self, *, lower: float = 0.01, upper: float = 0.99) -> None:
        self.lower = lower
        self.upper = upper

    def fit(self, X: Any, y: Any = None) -> QuantileClipper:
        if not 0.0 <= self.lower < self.upper <= 1.0:
            raise ValueError(
                f"expected 0 <= lower < upper <= 1, got lower={self.lower!r}, upper={self.upper!r}"
            )
        X = validate_data(self, X, ensure_all_finite="allow-nan", dtype=np.float64)
        observed = ~np.isnan(X).all(axis=0)
        self.lower_bounds_ = np.full(X.shape[1], -np.inf)
        self.upper_bounds_ = np.full(X.shape[1], np.inf)
        if observed.any():
            bounds = np.nanquantile(X[:, observed], [self.lower, self.upper], axis=0)
            self.lower_bounds_[observed], self.upper_bounds_[observed] = bounds
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan", dtype=np.float64)
        clipped: np.ndarray = np.clip(X, self.lower_bounds_, self.upper_bounds_)
        return clipped

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def make_estimator(name: EstimatorName, *, random_state: int = 0) -> BaseEstimator:
    """A fresh, unfitted estimator with defaults that train in seconds on 20k rows."""
    if name == "logistic":
        return LogisticRegression(C=1.0, max_iter=1000)
    if name == "hgb":
        # No early stopping: it would carve its own random validation set out of
        # time-ordered training data.
        return HistGradientBoostingClassifier(
            max_iter=100, learning_rate=0.1, max_leaf_nodes=31,
            early_stopping=False, random_state=random_state,
        )
    if name == "mlp":
        # A small network (the seed's multilayer perceptron) on the scaled, one-hot
        # columns. Its early stopping draws a random, stratified 10% of the rows it is
        # fitted on: unlike the held-out test set and the search's forward folds it is
        # not in time order, and it only decides when to stop adding epochs.
        return MLPClassifier(
            hidden_layer_sizes=(32, 16), alpha=1e-4, max_iter=200, early_stopping=True,
            validation_fraction=0.1, n_iter_no_change=10, random_state=random_state,
        )
    raise ValueError(f"unknown estimator {name!r}; expected one of {', '.join(ESTIMATORS)}")


def build_pipeline(
    schema: FeatureSchema,
    *,
    estimator: EstimatorName = "logistic",
    clip: tuple[float, float] = (0.01, 0.99),
    max_categories: int = 30,
    random_state: int = 0,
) -> Pipeline:
    """The unfitted pipeline for ``schema``'s columns, ending in ``estimator``.

    Examples
    --------
    >>> from scorer.feature_schema import infer_schema
    >>> schema = infer_schema([{"cart": 1.0, "device": "ios"}])
    >>> list(build_pipeline(schema).named_steps)
    ['columns', 'model']
    """
    numeric = Pipeline([
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ("clip", QuantileClipper(lower=clip[0], upper=clip[1])),
        ("scale", StandardScaler()),
    ])
    categorical = Pipeline([
        ("impute", SimpleImputer(
            missing_values=None, strategy="most_frequent", keep_empty_features=True
        )),
        ("onehot", OneHotEncoder(
            handle_unknown="ignore", max_categories=max_categories, sparse_output=False
        )),
    ])
    branches: list[tuple[str, Any, list[int]]] = []
    if num_idx := schema.indices("numeric"):
        branches.append(("numeric", numeric, num_idx))
    if cat_idx := schema.indices("categorical"):
        branches.append(("categorical", categorical, cat_idx))
    columns = ColumnTransformer(branches, remainder="drop", sparse_threshold=0.0)
    return Pipeline([
        ("columns", columns),
        ("model", make_estimator(estimator, random_state=random_state)),
    ])


def vectorise(schema: FeatureSchema, rows: Sequence[Features]) -> np.ndarray:
    """The pipeline's input: one row per feature dict, one column per schema feature.

    Numbers become float64 with NaN for missing; categories stay text with None for
    missing (an object array when the schema has any). Work is done column by column
    so each column is one list comprehension and one numpy conversion.

    Examples
    --------
    >>> from scorer.feature_schema import infer_schema
    >>> schema = infer_schema([{"a": 1.0, "b": "x"}])
    >>> vectorise(schema, [{"a": 2, "b": "y"}, {"b": None}]).tolist()
    [[2.0, 'y'], [nan, None]]
    """
    has_categories = any(f.kind == "categorical" for f in schema.features)
    X = np.empty((len(rows), len(schema.features)), dtype=object if has_categories else np.float64)
    for j, spec in enumerate(schema.features):
        name = spec.name
        if spec.kind == "numeric":
            never_negative = spec.minimum is not None and spec.minimum >= 0.0
            X[:, j] = checked_numbers(rows, name, never_negative=never_negative)
        else:
            X[:, j] = _texts(column(rows, name))
    return X


def checked_numbers(rows: Sequence[Features], name: str, *,
                    never_negative: bool) -> NDArray[np.float64]:
    """Numeric feature ``name`` of ``rows`` as floats (missing: NaN), shared with every
    reader of ``rows`` (:func:`contracts.feature_rows.numbers`): never change it.

    Raises
    ------
    FeatureValueError
        For the first value that is no finite number, or negative where ``never_negative``.
    """
    values = numbers(rows, name)
    if values is None or np.isinf(values).any():
        raise _first_bad_number(column(rows, name), name)
    # A feature never negative in training is a count or an amount: a negative value
    # is broken data, not drift, and a clipped score for it would hide the fault.
    if never_negative and (values < 0.0).any():
        row = int(np.argmax(values < 0.0))
        raise FeatureValueError(
            f"row {row}: feature `{name}` is {values[row]:g}, but it was never negative in "
            "training (a count or an amount); send a value >= 0 or null",
            row=row, feature=name,
        )
    return values


def _first_bad_number(column: list[FeatureValue], name: str) -> FeatureValueError:
    for row, value in enumerate(column):
        if value is None:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.inf
        if math.isinf(number):
            return FeatureValueError(
                f"row {row}: expected a finite number or null for feature `{name}`, got {value!r}",
                row=row, feature=name,
            )
    raise AssertionError("unreachable: numpy refused a column every value of which converts")


def _texts(column: list[FeatureValue]) -> np.ndarray:
    values = np.empty(len(column), dtype=object)
    values[:] = [v if v.__class__ is str or v is None else category_text(v) for v in column]
    return values


__all__ = [
    "ESTIMATORS",
    "EstimatorName",
    "QuantileClipper",
    "build_pipeline",
    "make_estimator",
    "vectorise",
]
