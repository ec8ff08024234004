from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import numpy as np
import pytest

from scorer.bundle import ModelBundle
from scorer.exceptions import FeatureValueError

Event = dict[str, float | int | str | None]


def random_events(n: int, seed: int) -> list[Event]:
    """Events as they arrive: gaps, None, unseen categories, ints, outliers, extra keys."""
    rng = np.random.default_rng(seed)
    events = []
    for i in range(n):
        event: Event = {}
        if rng.random() > 0.2:
            event["cart_value"] = float(rng.lognormal(3.0, 2.0)) if rng.random() > 0.1 else None
        if rng.random() > 0.2:
            event["pages"] = int(rng.poisson(4))  # an int where training saw floats
        if rng.random() > 0.2:
            event["device"] = str(rng.choice(["ios", "android", "web", "fridge", "tv"]))
        if rng.random() > 0.1:
            event["country"] = None if rng.random() < 0.1 else str(rng.choice(["de", "xx"]))
        if i % 7 == 0:
            event["unknown_feature"] = "ignored"
        events.append(event)
    return events


def reference_matrix(bundle: ModelBundle, events: list[Event]) -> np.ndarray:
    """The pipeline input built the slow, obvious way, cell by cell."""
    X = np.empty((len(events), len(bundle.schema.features)), dtype=object)
    for i, event in enumerate(events):
        for j, spec in enumerate(bundle.schema.features):
            value = event.get(spec.name)
            if spec.kind == "numeric":
                X[i, j] = np.nan if value is None else float(value)
            else:
                X[i, j] = value
    return X


def test_batch_scores_equal_predict_proba_on_events_with_gaps_and_unseen_categories(
    bundle: ModelBundle,
) -> None:
    events = random_events(500, seed=3)

    scores, decisions = bundle.score_batch(events)

    expected = bundle.pipeline.predict_proba(reference_matrix(bundle, events))[:, 1]
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(decisions, (expected >= bundle.threshold).astype(np.int8))


def test_a_batch_scores_each_event_as_if_it_were_alone(bundle: ModelBundle) -> None:
    events = random_events(20, seed=4)

    batch, _ = bundle.score_batch(events)
    alone = np.array([bundle.score_batch([e])[0][0] for e in events])

    np.testing.assert_allclose(batch, alone, rtol=0, atol=1e-9)


def test_an_empty_batch_gives_empty_arrays(bundle: ModelBundle) -> None:
    scores, decisions = bundle.score_batch([])

    assert scores.shape == decisions.shape == (0,)


def test_text_in_a_numeric_feature_names_the_row_and_feature(bundle: ModelBundle) -> None:
    events: list[Event] = [{"cart_value": 3.0}, {"cart_value": "abc"}]

    with pytest.raises(FeatureValueError, match=r"row 1: .*`cart_value`, got 'abc'") as info:
        bundle.score_batch(events)

    error = info.value
    assert (error.row, error.feature, error.code) == (1, "cart_value", "bad-feature-value")


def test_decisions_follow_the_threshold(logistic_bundle: ModelBundle) -> None:
    events = random_events(200, seed=5)
    strict = dataclasses.replace(logistic_bundle, threshold=0.9)

    scores, decisions = strict.score_batch(events)

    np.testing.assert_array_equal(decisions, (scores >= 0.9).astype(np.int8))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": 0}, "version must be >= 1"),
        ({"created_at": datetime(2026, 1, 1)}, "timezone-aware"),  # noqa: DTZ001
        ({"threshold": 1.5}, "threshold"),
    ],
)
def test_a_bundle_refuses_inconsistent_fields(
    logistic_bundle: ModelBundle, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(logistic_bundle, **change)


def test_with_version_changes_only_the_version(logistic_bundle: ModelBundle) -> None:
    moved = logistic_bundle.with_version(7)

    assert moved.version == 7
    assert moved.pipeline is logistic_bundle.pipeline
