"""A champion imported from a skops file is retrained as itself: its own pipeline fitted
again on the window, not replaced by the retrainer's recipe; an ONNX one is only watched."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder

from producers.simulator import SimulatedEvent
from retrainer.challenge import ChallengePolicy
from retrainer.retraining import BatchStrategy, RefitStrategy, run_round, strategy_for
from scorer.artifact import load_artifact, sign_bundle
from scorer.bundle import ModelBundle
from scorer.datasets import TrainingRow
from scorer.imported import import_pipeline
from scorer.signing import Signer
from tests.unit.retrainer.conftest import DRIFT_AT, T0, as_labeled, snapshot_of
from tests.unit.retrainer.test_retraining import TRIGGER

TREE = "sklearn.tree._tree.Tree"


@pytest.fixture(scope="module")
def imported_champion(drift_items: list[SimulatedEvent],
                      tmp_path_factory: pytest.TempPathFactory) -> ModelBundle:
    before = drift_items[:DRIFT_AT]
    frame = pd.DataFrame([i.event.features for i in before])
    text = [c for c in frame.columns if frame[c].dtype == object]
    columns = ColumnTransformer([
        ("num", SimpleImputer(strategy="median"), [c for c in frame.columns if c not in text]),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore")), text)])
    pipeline = Pipeline([("columns", columns), ("model", GradientBoostingClassifier(
        n_estimators=30, max_depth=3, random_state=0))]).fit(frame, [i.label for i in before])
    path = tmp_path_factory.mktemp("imported") / "model.skops"
    sio.dump(pipeline, path)
    rows = [TrainingRow(i.event.features, i.label, i.event.ts) for i in before]
    bundle, _ = import_pipeline(path, rows, model="conversion", trust=[TREE])
    return bundle


def test_after_the_drift_the_refitted_pipeline_is_published_as_the_same_model_family(
        drift_items: list[SimulatedEvent], imported_champion: ModelBundle) -> None:
    strategy = strategy_for(imported_champion, BatchStrategy())
    assert isinstance(strategy, RefitStrategy)
    snapshot = snapshot_of(as_labeled(drift_items[DRIFT_AT:DRIFT_AT + 3000]))

    result = run_round(snapshot, strategy, imported_champion, policy=ChallengePolicy(),
                       holdout_fraction=0.2, model="conversion", version=2, trigger=TRIGGER,
                       now=T0)

    assert result.decision.publish, result.decision.reason
    bundle = result.bundle
    assert bundle is not None and result.champion is not None
    assert result.challenger["log_loss"] < result.champion["log_loss"]
    model = bundle.pipeline[-1]
    assert isinstance(model[-1], GradientBoostingClassifier) and model is not \
        imported_champion.pipeline[-1]
    assert bundle.params["refit_of"] == 1 and bundle.params["strategy"] == "refit"
    assert bundle.trusted_types == (TREE,) and bundle.schema == imported_champion.schema
    signer = Signer.generate()
    artifact = sign_bundle(bundle, signer)
    loaded = load_artifact(artifact.data, artifact.sha256, artifact.signature, signer.trusted(),
                           key_id=artifact.key_id)
    events = [e.event.features for e in snapshot.entries[:5]]
    assert loaded.score_batch(events)[0].tolist() == bundle.score_batch(events)[0].tolist()


def test_an_onnx_champion_is_only_watched_and_says_why(imported_champion: ModelBundle) -> None:
    onnx = dataclasses.replace(imported_champion, params={"estimator": "imported-onnx"})

    said = strategy_for(onnx, BatchStrategy())

    assert isinstance(said, str) and "cannot fit again; it is only monitored" in said
    assert isinstance(strategy_for(None, BatchStrategy()), BatchStrategy)
