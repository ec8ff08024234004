"""The online strategy: a river pipeline learning one labeled event at a time.

River learns; scikit-learn serves. A processor loads only signed skops artifacts
made of trusted types, so the river model is never shipped. Its learned state is
written into a plain scikit-learn pipeline instead, with no fitting on data:

* river scales a number ``x`` to ``(x - mean) / std`` and a missing number to 0,
  which is ``x = mean``: a ``SimpleImputer`` whose ``statistics_`` are river's means,
  and the scaling folded into the coefficients (``w / std``, intercept
  ``b - sum(w * mean / std)``);
* river one-hot encodes the categories it has seen, and a missing or unseen one
  gives no column: a ``OneHotEncoder`` with those categories, unknowns ignored;
* a ``LogisticRegression`` whose ``coef_`` and ``intercept_`` are river's weights.

Every piece is a stock scikit-learn type, so the artifact keeps to
:data:`scorer.artifact.TRUSTED_TYPES` and scores what river scores (to 1e-12).
"""

from __future__ import annotations

import copy
import numbers
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Final

import numpy as np
from river import compose, linear_model, optim, preprocessing
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from scorer.feature_schema import Features, FeatureSchema

# A categorical column river never saw a value of still needs one category to encode.
NO_CATEGORY: Final = "\x00none"


def river_pipeline(learning_rate: float = 0.02) -> compose.Pipeline:
    """Standard scaling for numbers and one-hot for text, into a logistic regression."""
    numeric = compose.SelectType(numbers.Number) | preprocessing.StandardScaler()
    categorical = compose.SelectType(str) | preprocessing.OneHotEncoder()
    model = linear_model.LogisticRegression(optimizer=optim.SGD(learning_rate))
    return (numeric + categorical) | model  # type: ignore[no-any-return]


def present(features: Features) -> dict[str, Any]:
    """The values river sees: missing ones are left out (river then imputes the mean)."""
    return {k: v for k, v in features.items() if v is not None and v == v}


class OnlineLearner:
    """A river model that also remembers its test-then-train score of each recent event.

    The prequential score (predicted before the event was learned) is an honest
    held-out score: it is what the champion/challenger comparison uses for this model.

    Parameters
    ----------
    learning_rate : float
        SGD step of the logistic regression.
    remember : int
        How many recent prequential scores are kept.

    Examples
    --------
    >>> from scorer.feature_schema import infer_schema
    >>> from scorer.preprocessing import vectorise
    >>> learner = OnlineLearner()
    >>> rows = [{"x": float(i % 5), "c": "ab"[i % 2]} for i in range(200)]
    >>> for i, row in enumerate(rows):
    ...     _ = learner.learn_one(f"e{i}", row, int(row["x"] > 2))
    >>> schema = infer_schema(rows)
    >>> pipeline = learner.to_pipeline(schema)
    >>> sk = pipeline.predict_proba(vectorise(schema, rows[:3]))[:, 1]
    >>> bool(np.allclose(sk, [learner.predict_one(r) for r in rows[:3]]))
    True
    """

    def __init__(self, *, learning_rate: float = 0.02, remember: int = 20_000) -> None:
        self.learning_rate = learning_rate
        self.remember = remember
        self.model = river_pipeline(learning_rate)
        self.learned = 0
        self.prequential: OrderedDict[str, float] = OrderedDict()

    def predict_one(self, features: Features) -> float:
        return float(self.model.predict_proba_one(present(features)).get(True, 0.0))

    def learn_one(self, event_id: str, features: Features, label: int) -> float:
        """Score the event, then learn it; return the score given before learning."""
        x = present(features)
        score = float(self.model.predict_proba_one(x).get(True, 0.0))
        self.model.learn_one(x, bool(label))
        self.learned += 1
        self.prequential[event_id] = score
        while len(self.prequential) > self.remember:
            self.prequential.popitem(last=False)
        return score

    def frozen(self) -> OnlineLearner:
        """A copy a training job can read while this one keeps learning."""
        return copy.deepcopy(self)

    def to_pipeline(self, schema: FeatureSchema) -> Pipeline:
        """A fitted scikit-learn pipeline scoring ``schema``'s columns as river does."""
        scaler, encoder, regression = self._parts()
        names = schema.names
        num, cat = schema.indices("numeric"), schema.indices("categorical")
        means = np.array([float(scaler.means.get(names[i], 0.0)) for i in num])
        stds = np.sqrt([max(float(scaler.vars.get(names[i], 0.0)), 0.0) for i in num])
        weights: Mapping[str, float] = regression._weights
        raw = np.array([weights.get(names[i], 0.0) for i in num], dtype=np.float64)
        numeric_coef = np.divide(raw, stds, out=np.zeros_like(raw), where=stds > 0)
        categories = [sorted(str(v) for v in encoder.values.get(names[i], ())) or [NO_CATEGORY]
                      for i in cat]
        categorical_coef = [weights.get(f"{names[i]}_{c}", 0.0)
                            for i, cs in zip(cat, categories, strict=True) for c in cs]
        columns = _fitted_columns(len(names), num, means, cat, categories)
        model = LogisticRegression()
        model.classes_ = np.array([0, 1])
        model.coef_ = np.concatenate([numeric_coef, categorical_coef])[None, :]
        model.intercept_ = np.array([regression.intercept - float(numeric_coef @ means)])
        model.n_features_in_ = model.coef_.shape[1]
        model.n_iter_ = np.array([0], dtype=np.int32)
        return Pipeline([("columns", columns), ("model", model)])

    def _parts(self) -> tuple[Any, Any, Any]:
        union, regression = self.model.steps.values()
        numeric, categorical = union.transformers.values()
        return (numeric.steps["StandardScaler"], categorical.steps["OneHotEncoder"], regression)


def _fitted_columns(width: int, num: list[int], means: np.ndarray, cat: list[int],
                    categories: list[list[str]]) -> ColumnTransformer:
    branches: list[tuple[str, Any, list[int]]] = []
    if num:
        branches.append(("numeric", SimpleImputer(strategy="mean", keep_empty_features=True),
                         num))
    if cat:
        branches.append(("categorical", OneHotEncoder(
            categories=categories, handle_unknown="ignore", sparse_output=False), cat))
    columns = ColumnTransformer(branches, remainder="drop", sparse_threshold=0.0)
    # Fitting on rows built from the learned state only sets the shapes; the imputer's
    # statistics are then set exactly, and the encoder's categories are its parameter.
    rows = max([len(c) for c in categories] + [1])
    X = np.empty((rows, width), dtype=object)
    X[:, :] = None
    for j, i in enumerate(num):
        X[:, i] = means[j]
    for j, i in enumerate(cat):
        X[:, i] = [categories[j][r % len(categories[j])] for r in range(rows)]
    columns.fit(X)
    if num:
        columns.named_transformers_["numeric"].statistics_ = means.astype(np.float64)
    return columns


__all__ = ["NO_CATEGORY", "OnlineLearner", "present", "river_pipeline"]
