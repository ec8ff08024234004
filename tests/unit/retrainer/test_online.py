"""The online strategy: river learns, a plain scikit-learn pipeline serves the same scores."""

from __future__ import annotations

import io
import time
import zipfile

import numpy as np
import pytest
import skops.io as sio
from sklearn.metrics import log_loss

from producers.simulator import SimulatedEvent, Simulator
from retrainer.challenge import ChallengePolicy
from retrainer.online import OnlineLearner
from retrainer.retraining import OnlineStrategy, run_round
from retrainer.triggers import Trigger
from scorer.artifact import TRUSTED_TYPES, load_artifact, sign_bundle
from scorer.datasets import TrainingRow
from scorer.feature_schema import infer_schema
from scorer.preprocessing import vectorise
from scorer.training import train
from tests.signing_keys import SIGNER
from tests.unit.retrainer.conftest import T0, as_labeled, snapshot_of


@pytest.fixture(scope="module")
def learned(drift_items: list[SimulatedEvent]) -> OnlineLearner:
    learner = OnlineLearner()
    for item in drift_items[:2000]:
        learner.learn_one(item.event.event_id, item.event.features, item.label)
    return learner


def test_the_pipeline_scores_exactly_what_river_scores_missing_and_unseen_values_too(
    learned: OnlineLearner, drift_items: list[SimulatedEvent]
) -> None:
    rows = [i.event.features for i in drift_items[:2000]]
    schema = infer_schema(rows)
    odd = [{"device": "smart-fridge", "channel": None, "cart_value": None}, {}]
    probe = [*rows[:200], *odd]
    sklearn_scores = learned.to_pipeline(schema).predict_proba(vectorise(schema, probe))[:, 1]
    river_scores = [learned.predict_one(f) for f in probe]
    np.testing.assert_allclose(sklearn_scores, river_scores, atol=1e-12)


def test_the_artifact_holds_only_trusted_types_and_loads_like_any_version(
    learned: OnlineLearner, drift_items: list[SimulatedEvent]
) -> None:
    snapshot = snapshot_of(as_labeled(drift_items[1000:2000]))
    result = run_round(snapshot, OnlineStrategy(learned.frozen()), None,
                       policy=ChallengePolicy(), holdout_fraction=0.2, model="conversion",
                       version=3, trigger=Trigger("schedule", "every 600s", T0), now=T0)
    assert result.bundle is not None, result.decision.reason
    signed = sign_bundle(result.bundle, SIGNER)
    with zipfile.ZipFile(io.BytesIO(signed.data)) as archive:
        pipeline_bytes = archive.read("pipeline.skops")
    assert set(sio.get_untrusted_types(data=pipeline_bytes)) <= set(TRUSTED_TYPES)
    loaded = load_artifact(signed.data, signed.sha256, signed.signature, SIGNER.trusted(),
                           key_id=signed.key_id)
    assert loaded.params["estimator"] == "river-logistic"
    assert loaded.params["strategy"] == "online"
    features = [e.event.features for e in snapshot.entries[:50]]
    np.testing.assert_allclose(loaded.score_batch(features)[0],
                               [learned.predict_one(f) for f in features], atol=1e-12)
    # Online models learned the whole window, the holdout included: the lineage says so.
    assert list(loaded.lineage) == snapshot.lineage()


def test_holdout_scores_of_the_online_model_are_its_test_then_train_scores(
    drift_items: list[SimulatedEvent]
) -> None:
    learner = OnlineLearner()
    given = {i.event.event_id: learner.learn_one(i.event.event_id, i.event.features, i.label)
             for i in drift_items[:500]}
    assert learner.prequential == given and learner.learned == 500
    assert learner.prequential[drift_items[0].event.event_id] == 0.5, "nothing learned yet"


def test_the_prequential_memory_is_bounded() -> None:
    learner = OnlineLearner(remember=10)
    for i in range(50):
        learner.learn_one(f"e{i}", {"x": float(i)}, i % 2)
    assert list(learner.prequential) == [f"e{i}" for i in range(40, 50)]


def prequential_batch(items: list[SimulatedEvent], *, warmup: int, every: int,
                      window: int) -> np.ndarray:
    """Scores of the batch strategy, test-then-train: retrained every ``every`` labels."""
    rows = [TrainingRow(i.event.features, i.label, i.event.ts) for i in items]
    scores = np.empty(len(items) - warmup)
    for start in range(warmup, len(items), every):
        bundle, _ = train(rows[max(0, start - window):start], model="conversion")
        block = items[start:start + every]
        scores[start - warmup:start - warmup + len(block)] = bundle.score_batch(
            [i.event.features for i in block])[0]
    return scores


def test_prequential_accuracy_of_river_and_of_batch_retraining_on_concept_drift() -> None:
    items = list(Simulator(seed=21, scenario="concept-drift", drift_at=4000,
                           start=T0).events(10_000))
    warmup, every, window = 1000, 1000, 3000
    began = time.perf_counter()
    learner = OnlineLearner()
    river_scores = np.array([learner.learn_one(i.event.event_id, i.event.features, i.label)
                             for i in items])[warmup:]
    river_seconds = time.perf_counter() - began
    began = time.perf_counter()
    batch_scores = prequential_batch(items, warmup=warmup, every=every, window=window)
    batch_seconds = time.perf_counter() - began
    y = np.array([i.label for i in items])[warmup:]
    after = slice(4000 - warmup, None)
    just_after = slice(4000 - warmup, 5000 - warmup)
    majority = max(np.mean(y), 1 - np.mean(y))

    def accuracy(s: np.ndarray, part: slice = slice(None)) -> float:
        return float(np.mean((s[part] >= 0.5) == y[part]))

    report = {
        name: (accuracy(s), accuracy(s, after), log_loss(y[just_after], s[just_after]),
               log_loss(y[after], s[after]), seconds)
        for name, s, seconds in (("river", river_scores, river_seconds),
                                 ("batch", batch_scores, batch_seconds))
    }
    print(f"\nprequential on concept-drift (10,000 events, drift at 4,000, "
          f"majority class {majority:.4f}):")
    for name, (acc, acc_after, ll_first, ll_after, seconds) in report.items():
        print(f"  {name:<5} accuracy {acc:.4f}, after the drift {acc_after:.4f}; log loss "
              f"first 1,000 after {ll_first:.4f}, all after {ll_after:.4f} ({seconds:.1f}s)")
    for acc, acc_after, *_ in report.values():
        assert acc >= majority - 0.01 and acc_after >= majority - 0.02
    assert abs(report["river"][0] - report["batch"][0]) < 0.03
