"""Feature contributions: a linear model's terms and a tree model's path credits on the
stream; exact baseline Shapley values for any model on request."""

from __future__ import annotations

import numpy as np
import pytest

from scorer.bundle import ModelBundle
from scorer.compiled import CompiledLinear
from scorer.exceptions import UnexplainableModel
from scorer.explanations import MAX_EXACT_FEATURES, baseline_shapley
from scorer.preprocessing import vectorise
from tests.unit.scorer.test_compiled import random_events

CATEGORIES = {"device": ["ios", "android", "web", "tv"], "country": ["de", "fr", "es", "it"]}


def linear_terms(bundle: ModelBundle, n: int, seed: int) -> tuple[list, CompiledLinear, np.ndarray]:
    """``n`` random events, the bundle's compiled linear model, and its terms of each."""
    events = random_events(n, seed=seed, categories=CATEGORIES)
    compiled = bundle.compiled
    assert isinstance(compiled, CompiledLinear)
    return events, compiled, compiled.contributions(events)


def test_contributions_and_the_intercept_sum_to_the_logit_of_every_score(
        logistic_bundle: ModelBundle) -> None:
    events, compiled, terms = linear_terms(logistic_bundle, 10_000, seed=5)

    scores, _ = logistic_bundle.score_batch(events)

    assert terms.shape == (10_000, len(logistic_bundle.schema.names))
    assert sorted(compiled.names) == sorted(logistic_bundle.schema.names)
    decision = compiled.intercept + terms.sum(axis=1)
    np.testing.assert_allclose(1 / (1 + np.exp(-decision)), scores, rtol=0, atol=1e-12)
    # Where the score is not saturated at 0 or 1 (wild outliers push some there), the
    # logit itself is recovered.
    open_ = (scores > 1e-6) & (scores < 1 - 1e-6)
    assert open_.mean() > 0.9
    kept = scores[open_]
    np.testing.assert_allclose(decision[open_], np.log(kept / (1 - kept)), rtol=0, atol=1e-9)


def test_the_top_k_are_the_largest_terms_by_size_largest_first(
        logistic_bundle: ModelBundle) -> None:
    events, compiled, terms = linear_terms(logistic_bundle, 500, seed=6)

    scores, _, explained = logistic_bundle.score_explained(events, 2)

    np.testing.assert_array_equal(scores, logistic_bundle.score_batch(events)[0])
    assert explained is not None and len(explained) == 500
    for row, top in zip(terms, explained, strict=True):
        sizes = sorted(np.abs(row), reverse=True)
        assert [abs(v) for v in top.values()] == sizes[:2]
        assert all(row[compiled.names.index(name)] == value for name, value in top.items())


def test_a_network_is_not_explained_on_the_stream(mlp_bundle: ModelBundle) -> None:
    events = random_events(10, seed=7, categories=CATEGORIES)

    scores, _, explained = mlp_bundle.score_explained(events, 3)

    assert explained is None
    np.testing.assert_array_equal(scores, mlp_bundle.score_batch(events)[0])


def test_a_tree_model_s_path_credits_sum_with_its_bias_to_the_logit_of_every_score(
        hgb_bundle: ModelBundle) -> None:
    events = random_events(5_000, seed=9, categories=CATEGORIES)
    paths = hgb_bundle.tree_paths
    assert paths is not None

    scores, credits = paths.explain(vectorise(hgb_bundle.schema, events))
    _, _, explained = hgb_bundle.score_explained(events, 3)

    np.testing.assert_array_equal(scores, hgb_bundle.score_batch(events)[0])
    assert credits.shape == (5_000, len(hgb_bundle.schema.names))
    np.testing.assert_allclose(paths.paths.bias + credits.sum(axis=1),
                               hgb_bundle.pipeline.decision_function(
                                   vectorise(hgb_bundle.schema, events)), rtol=0, atol=1e-9)
    # A category's one-hot columns are credited to the category itself.
    names = hgb_bundle.schema.names
    assert np.abs(credits[:, names.index("device")]).sum() > 0
    assert explained is not None and len(explained) == 5_000
    for row, top in zip(credits, explained, strict=True):
        order = np.argsort(-np.abs(row), kind="stable")[:3]
        assert top == {names[j]: row[j] for j in order}


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.asarray(np.log(p / (1 - p)))


def test_on_request_any_model_is_explained_exactly_from_the_all_missing_row(
        hgb_bundle: ModelBundle, mlp_bundle: ModelBundle) -> None:
    """Efficiency, the property that makes the values exact: they sum to the row's logit
    minus the logit of the same row with every feature missing."""
    events = random_events(20, seed=8, categories=CATEGORIES)
    for bundle in (hgb_bundle, mlp_bundle):
        names = bundle.schema.names
        values = np.vstack([baseline_shapley(lambda rows, b=bundle: logit(b.score_batch(rows)[0]),
                                             event, names) for event in events])
        expected = logit(bundle.score_batch(events)[0]) - logit(bundle.score_batch([{}])[0])[0]

        np.testing.assert_allclose(values.sum(axis=1), expected, rtol=0, atol=1e-9)
        _, _, top = bundle.score_explained(events[:1], 2, exhaustive=True)
        assert top is not None and len(top[0]) == 2
        order = np.argsort(-np.abs(values[0]), kind="stable")[:2]
        assert top[0] == {names[j]: values[0, j] for j in order}


def test_a_feature_the_model_ignores_gets_nothing_and_equal_features_share_equally() -> None:
    def model(rows: list[dict[str, float | None]]) -> np.ndarray:
        return np.array([(r.get("a") or 0.0) * (r.get("b") or 0.0) for r in rows])

    values = baseline_shapley(model, {"a": 2.0, "b": 2.0, "unused": 5.0}, ["a", "b", "unused"])

    assert values.tolist() == [2.0, 2.0, 0.0]


def test_more_features_than_an_exact_explanation_enumerates_are_refused() -> None:
    names = [f"f{i}" for i in range(MAX_EXACT_FEATURES + 1)]

    with pytest.raises(UnexplainableModel, match="at most 14"):
        baseline_shapley(lambda rows: np.zeros(len(rows)), {}, names)
