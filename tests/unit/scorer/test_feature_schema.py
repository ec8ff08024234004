from __future__ import annotations

import pytest

from scorer.feature_schema import FeatureSchema, FeatureSpec, infer_schema


def test_numbers_make_a_numeric_feature_with_its_range_and_text_a_categorical_one() -> None:
    schema = infer_schema([
        {"cart": 3.0, "device": "ios"},
        {"cart": -1, "device": "web"},
        {"cart": None, "device": None},
    ])

    assert schema.features == (
        FeatureSpec(name="cart", kind="numeric", minimum=-1.0, maximum=3.0),
        FeatureSpec(name="device", kind="categorical", categories=("ios", "web")),
    )


def test_a_column_mixing_numbers_and_text_is_categorical_with_numbers_as_text() -> None:
    schema = infer_schema([{"plan": 3.0}, {"plan": "gold"}, {"plan": 2}])

    assert schema.features[0].categories == ("2", "3", "gold")


def test_dropped_columns_never_reach_the_schema_and_are_recorded() -> None:
    schema = infer_schema([{"a": 1.0, "session": "s1", "leak": 1.0}], drop=["session", "leak"])

    assert schema.names == ("a",)
    assert schema.dropped == ("leak", "session")


def test_declared_kinds_override_the_guess() -> None:
    schema = infer_schema([{"zip": 1234.0}], kinds={"zip": "categorical"})

    assert schema.kinds() == {"zip": "categorical"}
    assert schema.features[0].categories == ("1234",)


def test_an_unknown_declared_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="expected one of"):
        infer_schema([{"a": 1.0}], kinds={"a": "text"})  # type: ignore[dict-item]


def test_columns_are_in_a_stable_order_whatever_the_row_order() -> None:
    shuffled = infer_schema([{"b": 1.0}, {"a": 1.0}])

    assert shuffled.names == infer_schema([{"a": 1.0, "b": 2.0}]).names == ("a", "b")


def test_a_feature_never_present_is_numeric_without_a_range() -> None:
    schema = infer_schema([{"a": None}, {"a": float("nan")}])

    assert schema.features == (FeatureSpec(name="a", kind="numeric"),)


def test_feed_problems_names_each_missing_or_retyped_feature() -> None:
    schema = infer_schema([{"a": 1.0, "b": "x", "c": 2.0}])

    problems = schema.feed_problems({"a": "numeric", "b": "numeric", "extra": "numeric"})

    assert problems == [
        "feature `b` is categorical in the model but numeric in the contract",
        "feature `c` (numeric) is not in the contract",
    ]
    assert schema.feed_problems({**schema.kinds(), "extra": "categorical"}) == []


def test_the_schema_round_trips_through_json() -> None:
    schema = infer_schema([{"a": 1.0, "b": "x"}], drop=["id"])

    assert FeatureSchema.from_json(schema.to_json()) == schema
