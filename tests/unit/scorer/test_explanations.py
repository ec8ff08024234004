"""Each prediction's feature contributions: exact for a linear model, none for others."""

from __future__ import annotations

import numpy as np

from scorer.bundle import ModelBundle
from scorer.compiled import CompiledLinear
from tests.unit.scorer.test_compiled import random_events

CATEGORIES = {"device": ["ios", "android", "web", "tv"], "country": ["de", "fr", "es", "it"]}


def test_contributions_and_the_intercept_sum_to_the_logit_of_every_score(
        logistic_bundle: ModelBundle) -> None:
    events = random_events(10_000, seed=5, categories=CATEGORIES)
    compiled = logistic_bundle.compiled
    assert isinstance(compiled, CompiledLinear)

    terms = compiled.contributions(events)
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
    events = random_events(500, seed=6, categories=CATEGORIES)
    compiled = logistic_bundle.compiled
    assert isinstance(compiled, CompiledLinear)
    terms = compiled.contributions(events)

    scores, _, explained = logistic_bundle.score_explained(events, 2)

    np.testing.assert_array_equal(scores, logistic_bundle.score_batch(events)[0])
    assert explained is not None and len(explained) == 500
    for row, top in zip(terms, explained, strict=True):
        sizes = sorted(np.abs(row), reverse=True)
        assert [abs(v) for v in top.values()] == sizes[:2]
        assert all(row[compiled.names.index(name)] == value for name, value in top.items())


def test_a_model_that_is_not_linear_is_not_explained(hgb_bundle: ModelBundle,
                                                     mlp_bundle: ModelBundle) -> None:
    events = random_events(10, seed=7, categories=CATEGORIES)

    for bundle in (hgb_bundle, mlp_bundle):
        scores, _, explained = bundle.score_explained(events, 3)
        assert explained is None
        np.testing.assert_array_equal(scores, bundle.score_batch(events)[0])
