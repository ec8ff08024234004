from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from contracts.feature_rows import FeatureRows, numbers
from contracts.feature_summary import Summariser, runs_of, summarise
from scorer.bundle import ModelBundle
from scorer.compiled import compile_pipeline, probe_rows
from scorer.exceptions import FeatureValueError
from scorer.feature_schema import infer_schema
from scorer.preprocessing import build_pipeline, vectorise

Event = dict[str, Any]


def random_events(n: int, seed: int, categories: dict[str, list[str]]) -> list[Event]:
    """Gaps (absent and None), unseen categories, numbers as categories, ints, outliers."""
    rng = np.random.default_rng(seed)
    events: list[Event] = []
    for _ in range(n):
        event: Event = {}
        if rng.random() > 0.15:
            event["cart_value"] = None if rng.random() < 0.1 else float(rng.lognormal(3, 2.5))
        if rng.random() > 0.15:
            event["pages"] = int(rng.poisson(4))
        for name, known in categories.items():
            draw = rng.random()
            if draw < 0.1:
                continue
            if draw < 0.2:
                event[name] = None
            elif draw < 0.3:
                event[name] = f"unseen-{rng.integers(5)}"
            elif draw < 0.32:
                event[name] = float(rng.integers(3))
            else:
                event[name] = str(rng.choice(known))
        events.append(event)
    return events


def sklearn_scores(bundle: ModelBundle, events: list[Event]) -> np.ndarray:
    scores: np.ndarray = bundle.pipeline.predict_proba(vectorise(bundle.schema, events))[:, 1]
    return scores


@pytest.mark.parametrize("estimator", ["logistic", "mlp"])
def test_compiled_scores_equal_the_pipeline_on_10000_random_events(
    estimator: str, logistic_bundle: ModelBundle, mlp_bundle: ModelBundle,
) -> None:
    bundle = logistic_bundle if estimator == "logistic" else mlp_bundle
    categories = {"device": ["ios", "android", "web"], "country": ["de", "fr", "es", "it"]}
    events = random_events(10_000, seed=11, categories=categories)

    assert bundle.compiled is not None
    scores = bundle.compiled.scores(events)

    np.testing.assert_allclose(scores, sklearn_scores(bundle, events), rtol=0, atol=1e-9)


def test_infrequent_categories_share_one_term_as_in_the_one_hot_encoder() -> None:
    rng = np.random.default_rng(0)
    many = [f"c{i}" for i in range(60)]  # more than max_categories: the rare ones are grouped
    rows = [{"x": float(rng.normal()), "c": str(rng.choice(many, p=_zipf(60))),
             "d": None if rng.random() < 0.3 else str(rng.choice(["a", "b"]))}
            for _ in range(3000)]
    y = np.array([int(r["x"] > 0 or r["c"] in ("c0", "c5")) for r in rows])
    schema = infer_schema(rows)
    pipeline = build_pipeline(schema).fit(vectorise(schema, rows), y)
    compiled = compile_pipeline(pipeline, schema)
    onehot = pipeline.named_steps["columns"].named_transformers_["categorical"]["onehot"]
    assert onehot.infrequent_categories_[0] is not None  # "c" has rare categories
    events = random_events(10_000, seed=3, categories={"c": many, "d": ["a", "b"]})
    for event in events:
        event["x"] = event.pop("cart_value", None)

    assert compiled is not None
    expected = pipeline.predict_proba(vectorise(schema, events))[:, 1]
    np.testing.assert_allclose(compiled.scores(events), expected, rtol=0, atol=1e-9)


def _zipf(n: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1)
    result: np.ndarray = weights / weights.sum()
    return result


def test_a_bad_value_raises_the_same_error_as_the_vectoriser(
    logistic_bundle: ModelBundle,
) -> None:
    events: list[Event] = [{"cart_value": 3.0}, {"cart_value": "lots"}, {"pages": -1.0}]
    compiled = logistic_bundle.compiled
    assert compiled is not None

    with pytest.raises(FeatureValueError) as fast:
        compiled.scores(events)
    with pytest.raises(FeatureValueError) as slow:
        vectorise(logistic_bundle.schema, events)

    assert (fast.value.row, fast.value.feature, str(fast.value)) == (
        slow.value.row, slow.value.feature, str(slow.value))


def test_gradient_boosting_does_not_compile_and_scores_with_scikit_learn(
    hgb_bundle: ModelBundle,
) -> None:
    events = probe_rows(hgb_bundle.schema, n=50)

    scores, _ = hgb_bundle.score_batch(events)

    assert hgb_bundle.compiled is None
    np.testing.assert_allclose(scores, sklearn_scores(hgb_bundle, events), rtol=0, atol=1e-12)


def test_the_bundle_scores_with_its_compiled_model(logistic_bundle: ModelBundle) -> None:
    events = probe_rows(logistic_bundle.schema, n=200, seed=4)

    scores, decisions = logistic_bundle.score_batch(events)

    np.testing.assert_allclose(scores, sklearn_scores(logistic_bundle, events), rtol=0, atol=1e-9)
    assert decisions.tolist() == (scores >= logistic_bundle.threshold).astype(int).tolist()


@pytest.mark.parametrize("estimator", ["logistic", "mlp"])
def test_scoring_leaves_the_batchs_floats_as_sent_for_its_feature_summaries(
    estimator: str, logistic_bundle: ModelBundle, mlp_bundle: ModelBundle,
) -> None:
    """The scorer imputes and clips the floats it shares with the batch's feature
    summaries (:class:`FeatureRows`): on its own copy, so the summaries count what was
    sent, gaps as missing and outliers in their extreme bins."""
    bundle = logistic_bundle if estimator == "logistic" else mlp_bundle
    categories = {"device": ["ios", "android", "web"], "country": ["de", "fr", "es", "it"]}
    events = random_events(2_000, seed=12, categories=categories)
    rows = FeatureRows(events)
    assert bundle.compiled is not None

    scores = bundle.compiled.scores(rows)

    np.testing.assert_allclose(scores, sklearn_scores(bundle, events), rtol=0, atol=1e-9)
    sent = np.array([e.get("cart_value") for e in events], dtype=np.float64)
    shared = numbers(rows, "cart_value")
    assert shared is not None and np.isnan(sent).sum() > 100
    np.testing.assert_array_equal(shared, sent)  # NaN where NaN, no value clipped
    summariser = Summariser(bundle.model, bundle.version, bundle.reference)
    layout = runs_of([0] * len(events), lambda i: i)
    times = [0.0] * len(events)
    assert summarise(rows, times, layout, [summariser]) == \
        summarise(list(events), times, layout, [summariser])
