"""A pipeline trained in plain scikit-learn, saved with skops and imported: the processor
hot-swaps to it and scores as scikit-learn does, and the monitor judges its drift."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder

from contracts.records import Prediction
from contracts.settings import Secret, Settings
from contracts.topics import Topics
from producers.scenarios import SCENARIOS
from producers.simulator import Simulator
from scorer.datasets import load_rows
from scorer.imported import import_pipeline
from streamml.broker.single_node import free_port
from tests.integration.processes import http_get, settings_env, streamml_child, wait_for_health
from tests.integration.scoring_fixtures import (
    SIGNING_KEY,
    publish_champion,
    send_events,
    signed,
    trained_bundle,
)
from tests.integration.test_monitor_support import (
    Feeder,
    detail,
    fresh_settings,
    monitor_process,
    read_alerts,
    rule_of,
    simulator,
    wait_until,
)
from tests.integration.topic_reader import read_topic

TREE = "sklearn.tree._tree.Tree"
PREDICTION = msgspec.json.Decoder(Prediction)


@dataclass(frozen=True)
class Exported:
    """A pipeline as a data scientist would ship it: a skops file, the same model as
    ONNX (converted with skl2onnx, which imputes no text column), and labeled data."""

    pipeline: Pipeline
    model_file: Path
    reference: Path
    onnx_pipeline: Pipeline
    onnx_file: Path


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    history = list(Simulator(seed=5, start=datetime(2026, 1, 1, tzinfo=UTC)).events(3000))
    df = pd.DataFrame([i.event.features for i in history])
    labels = np.array([i.label for i in history])
    categorical = [c for c in df.columns if df[c].dtype == object]
    numeric = [c for c in df.columns if c not in categorical]
    columns = ColumnTransformer([
        ("num", SimpleImputer(strategy="median"), numeric),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore")), categorical),
    ])
    pipeline = Pipeline([("columns", columns), ("model", GradientBoostingClassifier(
        n_estimators=40, max_depth=3, random_state=0))]).fit(df, labels)
    folder = tmp_path_factory.mktemp("exported")
    model_file = folder / "conversion.skops"
    sio.dump(pipeline, model_file)
    onnx_pipeline = Pipeline([("columns", ColumnTransformer([
        ("num", SimpleImputer(strategy="median"), numeric),
        ("cat", OneHotEncoder(handle_unknown="ignore"), categorical)])),
        ("model", GradientBoostingClassifier(n_estimators=40, max_depth=3, random_state=0)),
    ]).fit(df, labels)
    onnx_file = folder / "conversion.onnx"
    onnx_file.write_bytes(to_onnx(onnx_pipeline, initial_types=[
        (c, StringTensorType([None, 1]) if c in categorical else FloatTensorType([None, 1]))
        for c in df.columns], options={"zipmap": False}).SerializeToString())
    reference = folder / "reference.jsonl"
    reference.write_bytes(b"".join(msgspec.json.encode(
        {"features": i.event.features, "converted": i.label, "ts": i.event.ts}) + b"\n"
        for i in history))
    return Exported(pipeline, model_file, reference, onnx_pipeline, onnx_file)


@pytest.fixture
def settings(kafka_settings: Settings) -> Settings:
    return kafka_settings.with_overrides(model_private_key=Secret(SIGNING_KEY))


@pytest.fixture
def processor(settings: Settings, tmp_path: Path) -> Iterator[int]:
    port = free_port()
    env = settings_env(settings, STREAMML_SCORING_PORT=str(port), STREAMML_SCORING_RUNNER="kafka")
    with streamml_child(["process", "--data-dir", str(tmp_path / "w")], env,
                        tmp_path / "process.log") as child:
        wait_for_health(child, port)
        yield port


@pytest.mark.parametrize("kind", ["skops", "onnx"])
def test_an_imported_model_is_hot_swapped_in_and_scores_as_scikit_learn_does(
        settings: Settings, processor: int, exported: Exported, kind: str) -> None:
    publish_champion(settings, signed(trained_bundle(1)))
    before = send_events(settings, 300, prefix="before")
    topic = Topics(settings.topic_prefix).predictions
    read_topic(settings, topic, until=lambda r: len(r) >= len(before), timeout=120)
    source, trust, pipeline, tolerance = (
        (exported.model_file, ["--trust", TREE], exported.pipeline, 1e-9) if kind == "skops"
        else (exported.onnx_file, [], exported.onnx_pipeline, 1e-5))  # ONNX runs in float32

    done = subprocess.run(
        [sys.executable, "-m", "streamml", "models", "import", str(source),
         "--reference", str(exported.reference), "--label", "converted", *trust,
         "--publish", "--out", str(settings_dir(settings, exported))],
        env=settings_env(settings), capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    assert "published conversion version 2 and made it the champion" in done.stdout
    wait_until(lambda: _serving(processor) == (2, True), timeout=30)
    after = send_events(settings, 500, seed=12, prefix="after")

    records = read_topic(settings, topic, until=lambda r: len(r) >= 800, timeout=120)
    scored = {p.event_id: p for p in (PREDICTION.decode(r.value) for r in records)}
    assert {scored[i.event.event_id].version for i in before} == {1}
    assert {scored[i.event.event_id].version for i in after} == {2}
    expected = pipeline.predict_proba(pd.DataFrame([i.event.features for i in after]))[:, 1]
    served = np.array([scored[i.event.event_id].score for i in after])
    np.testing.assert_allclose(served, expected, rtol=0, atol=tolerance)


def settings_dir(settings: Settings, exported: Exported) -> Path:
    return exported.model_file.parent / f"artifacts-{settings.topic_prefix}"


def _serving(port: int) -> tuple[object, object]:
    health = json.loads(http_get(f"http://127.0.0.1:{port}/health")[1])
    return health["champion"], health["model_ready"]


def test_the_monitor_names_the_shifted_features_of_an_imported_version(
        kafka_bootstrap: str, exported: Exported, tmp_path: Path) -> None:
    settings = fresh_settings(kafka_bootstrap, partitions=1)
    rows = load_rows(exported.reference, label="converted")
    bundle, _ = import_pipeline(exported.model_file, rows, model=settings.model_name,
                                trust=[TREE])
    publish_champion(settings, signed(bundle))
    events, shift_at = 6000, 3000
    feeder = Feeder(settings, bundle, simulator("covariate-shift", events, drift_at=shift_at),
                    events)

    with monitor_process(settings, tmp_path / "monitor.log"):
        feeder.send(events)
        alerts = read_alerts(settings, lambda found: any(
            rule_of(a) == "feature-drift" and a.status == "firing" for a in found))

    fired = next(a for a in alerts if rule_of(a) == "feature-drift" and a.status == "firing")
    assert fired.version == 1
    assert feeder.index_at(detail(fired, "window_end")) > shift_at  # type: ignore[arg-type]
    drifted = set(detail(fired, "drifted_features"))  # type: ignore[arg-type]
    assert drifted and drifted <= set(SCENARIOS["covariate-shift"].changes)
