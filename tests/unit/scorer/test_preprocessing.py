from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from scorer.exceptions import FeatureValueError
from scorer.feature_schema import infer_schema
from scorer.preprocessing import QuantileClipper, build_pipeline, make_estimator, vectorise


@parametrize_with_checks(  # type: ignore[untyped-decorator]  # sklearn has no type hints
    [QuantileClipper(), QuantileClipper(lower=0.1, upper=0.9)]
)
def test_quantile_clipper_follows_scikit_learn_conventions(
    estimator: QuantileClipper, check: Callable[[Any], None]
) -> None:
    check(estimator)


def test_quantile_clipper_bounds_each_column_at_its_training_quantiles() -> None:
    X = np.column_stack([np.arange(101.0), np.arange(101.0) * 10])

    clipper = QuantileClipper(lower=0.05, upper=0.95).fit(X)

    np.testing.assert_allclose(clipper.lower_bounds_, [5.0, 50.0])
    np.testing.assert_allclose(clipper.upper_bounds_, [95.0, 950.0])
    np.testing.assert_allclose(clipper.transform([[-1e9, 1e9]]), [[5.0, 950.0]])


def test_quantile_clipper_keeps_missing_values_and_ignores_them_when_fitting() -> None:
    X = np.array([[1.0, np.nan], [2.0, np.nan], [np.nan, np.nan], [100.0, np.nan]])

    clipper = QuantileClipper(lower=0.0, upper=0.5).fit(X)

    assert clipper.upper_bounds_[0] == 2.0
    assert clipper.upper_bounds_[1] == np.inf  # a column never seen stays unbounded
    out = clipper.transform([[np.nan, 7.0]])
    assert np.isnan(out[0, 0]) and out[0, 1] == 7.0


@pytest.mark.parametrize(("lower", "upper"), [(0.5, 0.5), (-0.1, 0.9), (0.1, 1.1)])
def test_quantile_clipper_rejects_bad_quantiles_at_fit(lower: float, upper: float) -> None:
    with pytest.raises(ValueError, match="0 <= lower < upper <= 1"):
        QuantileClipper(lower=lower, upper=upper).fit(np.ones((3, 1)))


def test_quantile_clipper_refuses_to_transform_before_fit() -> None:
    with pytest.raises(NotFittedError):
        QuantileClipper().transform(np.ones((2, 1)))


def test_quantile_clipper_clones_with_its_parameters() -> None:
    assert clone(QuantileClipper(lower=0.2, upper=0.7)).get_params() == {"lower": 0.2, "upper": 0.7}


def test_vectorise_puts_features_in_schema_order_with_nan_and_none_for_gaps() -> None:
    schema = infer_schema([{"b": "x", "a": 1.0}])

    X = vectorise(schema, [{"a": 2, "b": "y", "zzz": 1.0}, {}, {"a": None, "b": None}])

    assert schema.names == ("a", "b")
    assert X.dtype == object
    assert X[0].tolist() == [2.0, "y"]
    assert np.isnan(X[1, 0]) and X[1, 1] is None
    assert np.isnan(X[2, 0]) and X[2, 1] is None


def test_vectorise_gives_a_float_array_when_every_feature_is_numeric() -> None:
    schema = infer_schema([{"a": 1.0, "b": 2.0}])

    X = vectorise(schema, [{"a": 1, "b": None}])

    assert X.dtype == np.float64
    assert X[0, 0] == 1.0 and np.isnan(X[0, 1])


def test_vectorise_reads_numbers_in_a_categorical_feature_as_text() -> None:
    schema = infer_schema([{"plan": "3"}])

    X = vectorise(schema, [{"plan": 3.0}, {"plan": 2.5}, {"plan": float("nan")}])

    assert X.ravel().tolist() == ["3", "2.5", None]


@pytest.mark.parametrize("bad", ["abc", float("inf"), [1.0]])
def test_vectorise_names_the_row_and_feature_of_a_value_that_is_not_a_number(bad: object) -> None:
    schema = infer_schema([{"a": 1.0}])

    expected = "row 2: expected a finite number or null for feature `a`"
    with pytest.raises(FeatureValueError, match=expected):
        vectorise(schema, [{"a": 1.0}, {}, {"a": bad}])  # type: ignore[dict-item]


def test_pipeline_routes_numbers_and_categories_to_their_own_steps() -> None:
    schema = infer_schema([{"n": 1.0, "c": "x"}])

    columns = build_pipeline(schema).named_steps["columns"]

    names = [name for name, _, _ in columns.transformers]
    assert names == ["numeric", "categorical"]
    numeric = columns.transformers[0][1]
    assert list(numeric.named_steps) == ["impute", "clip", "scale"]


def test_pipeline_handles_only_numeric_features() -> None:
    rows = [{"n": float(i)} for i in range(10)]
    schema = infer_schema(rows)

    pipeline = build_pipeline(schema).fit(vectorise(schema, rows), np.arange(10) % 2)

    assert pipeline.predict_proba(vectorise(schema, [{}])).shape == (1, 2)


def test_an_unknown_estimator_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="logistic, hgb"):
        make_estimator("forest")  # type: ignore[arg-type]


def test_a_negative_value_of_a_never_negative_feature_is_refused_with_its_row():
    schema = infer_schema([{"pages": 3.0, "delta": -1.0}, {"pages": 0.0, "delta": 2.0}])
    assert vectorise(schema, [{"pages": 1.0, "delta": -50.0}]).shape == (1, 2)
    with pytest.raises(FeatureValueError, match="`pages` is -3") as caught:
        vectorise(schema, [{"pages": 1.0}, {"pages": -3.0}])
    assert (caught.value.row, caught.value.feature) == (1, "pages")
