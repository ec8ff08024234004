from __future__ import annotations

import numpy as np
import pytest

from scorer.feature_schema import infer_schema
from scorer.reference import ReferenceStats, histogram, reference_stats


def test_histogram_bins_hold_equal_shares_of_continuous_data() -> None:
    values = np.random.default_rng(0).normal(size=10_000)

    h = histogram(values, bins=10)

    assert len(h.edges) == 9 and len(h.frequencies) == 10
    np.testing.assert_allclose(h.frequencies, 0.1, atol=1e-3)


def test_histogram_frequencies_follow_the_searchsorted_rule_with_ties() -> None:
    values = np.array([0.0] * 80 + [1.0] * 20)

    h = histogram(values, bins=10)

    assert h.edges == (0.0,)
    counts = np.bincount(np.searchsorted(h.edges, values), minlength=2) / values.size
    assert h.frequencies == tuple(counts) == (0.8, 0.2)


def test_histogram_ignores_missing_values_and_survives_an_empty_column() -> None:
    assert histogram(np.array([np.nan, 1.0, 2.0]), bins=2).frequencies == (0.5, 0.5)
    assert histogram(np.array([np.nan]), bins=2).frequencies == (1.0,)


def test_reference_records_missing_rates_and_category_frequencies() -> None:
    rows: list[dict[str, float | str | None]] = [
        {"x": None, "c": "a"}, {"x": 1.0, "c": None}, {"x": 2.0, "c": "a"}, {"x": 3.0, "c": "b"}]

    ref = reference_stats(infer_schema(rows), rows, np.array([0.1, 0.2, 0.3, 0.4]))

    assert ref.rows == 4
    assert ref.numeric["x"].missing_rate == 0.25
    assert ref.categorical["c"].missing_rate == 0.25
    assert ref.categorical["c"].frequencies == pytest.approx({"a": 2 / 3, "b": 1 / 3})
    assert len(ref.numeric["x"].quantiles) == 101
    assert ref.numeric["x"].quantiles[0] == 1.0 and ref.numeric["x"].quantiles[-1] == 3.0
    assert sum(ref.scores.frequencies) == pytest.approx(1.0)


def test_reference_round_trips_through_json() -> None:
    rows: list[dict[str, float | str | None]] = [
        {"x": float(i), "c": "ab"[i % 2]} for i in range(50)]
    ref = reference_stats(infer_schema(rows), rows, np.linspace(0, 1, 50))

    assert ReferenceStats.from_json(ref.to_json()) == ref
