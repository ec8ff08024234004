"""Importing an ONNX binary classifier converted with skl2onnx: scores as onnxruntime
gives them, signed and loaded back, external tensors refused."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
from skl2onnx import to_onnx
from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from scorer.artifact import load_artifact, sign_bundle
from scorer.exceptions import MalformedArtifact, MissingDependency
from scorer.imported import ModelImportError, import_pipeline
from scorer.onnx_model import OnnxModelError, open_session
from scorer.signing import Signer
from tests.unit.scorer.test_imported import frame, rows

TYPES = [("x", FloatTensorType([None, 1])), ("device", StringTensorType([None, 1]))]


def fitted() -> Pipeline:
    """As a user converts one: skl2onnx imputes no text column, so the encoder takes a
    missing category (fed as "") as one it never saw."""
    df, y = frame()
    columns = ColumnTransformer([("num", SimpleImputer(strategy="median"), ["x"]),
                                 ("cat", OneHotEncoder(handle_unknown="ignore"), ["device"])])
    return Pipeline([("columns", columns), ("model", GradientBoostingClassifier(
        n_estimators=20, random_state=0))]).fit(df, y)


def converted(zipmap: bool = False) -> onnx.ModelProto:
    return to_onnx(fitted(), initial_types=TYPES, options={"zipmap": zipmap})


@pytest.fixture
def onnx_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.onnx"
    path.write_bytes(converted().SerializeToString())
    return path


@pytest.mark.parametrize("zipmap", [False, True])
def test_scores_are_onnxruntimes_and_close_to_scikit_learns(tmp_path: Path, zipmap: bool) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(converted(zipmap).SerializeToString())

    bundle, report = import_pipeline(path, rows(), model="conversion")

    events = [{"x": 0.7, "device": "ios"}, {"x": -0.2, "device": "web"},
              {"x": 1.5, "device": "android"}]
    scores, _ = bundle.score_batch(events)
    expected = fitted().predict_proba(pd.DataFrame(
        {"x": [0.7, -0.2, 1.5], "device": ["ios", "web", "android"]}))[:, 1]
    np.testing.assert_allclose(scores, expected, atol=1e-6)  # ONNX computes in float32
    assert report.features == ("x", "device") and report.trusted_types == ()
    assert bundle.params["estimator"] == "imported-onnx" and report.metrics["roc_auc"] > 0.9


def test_signed_and_loaded_back_it_scores_the_same(onnx_file: Path) -> None:
    signer = Signer.generate()
    bundle, _ = import_pipeline(onnx_file, rows(), model="conversion")
    artifact = sign_bundle(bundle, signer)

    loaded = load_artifact(artifact.data, artifact.sha256, artifact.signature,
                           signer.trusted(), key_id=artifact.key_id)

    events = [{"x": float(v), "device": d} for v, d in [(0.3, "ios"), (-1.0, None)]]
    np.testing.assert_array_equal(loaded.score_batch(events)[0], bundle.score_batch(events)[0])


def test_a_tensor_kept_in_an_external_file_is_refused(tmp_path: Path) -> None:
    model = converted()
    tensor = model.graph.initializer[0] if model.graph.initializer else None
    if tensor is None:  # the trees keep their numbers in node attributes
        tensor = next(a.t for n in model.graph.node for a in n.attribute if a.HasField("t"))
    tensor.data_location = onnx.TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "weights.bin"

    with pytest.raises(OnnxModelError, match="external files"):
        open_session(model.SerializeToString())


def test_a_numeric_feature_fed_as_text_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(converted().SerializeToString())
    texts = [type(r)({"x": str(r.features["x"]), "device": r.features["device"]}, r.label,
                     None) for r in rows()]

    with pytest.raises(ModelImportError, match="`x` is a tensor.float. but the reference"):
        import_pipeline(path, texts, model="conversion")


def test_a_processor_without_onnxruntime_refuses_the_version(
        onnx_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    signer = Signer.generate()
    artifact = sign_bundle(import_pipeline(onnx_file, rows(), model="conversion")[0], signer)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)

    with pytest.raises(MissingDependency, match=r"onnxruntime: install streamml\[onnx\]"):
        load_artifact(artifact.data, artifact.sha256, artifact.signature, signer.trusted(),
                      key_id=artifact.key_id)


def test_a_signed_model_that_cannot_score_is_refused_at_load(onnx_file: Path) -> None:
    signer = Signer.generate()
    bundle, _ = import_pipeline(onnx_file, rows(), model="conversion")
    classifier = bundle.pipeline[-1]
    classifier.model = b"not onnx"  # as a publisher's broken build would sign it
    classifier.__dict__.pop("_session_")
    artifact = sign_bundle(bundle, signer)

    with pytest.raises(MalformedArtifact, match="the imported model cannot score"):
        load_artifact(artifact.data, artifact.sha256, artifact.signature, signer.trusted(),
                      key_id=artifact.key_id)


def test_a_double_input_is_fed_doubles(tmp_path: Path) -> None:
    df, y = frame()
    model = LogisticRegression().fit(df[["x"]], y)
    path = tmp_path / "double.onnx"
    path.write_bytes(to_onnx(model, initial_types=[("x", DoubleTensorType([None, 1]))],
                             options={"zipmap": False}).SerializeToString())
    numeric = [type(r)({"x": r.features["x"]}, r.label, None) for r in rows()]

    bundle, _ = import_pipeline(path, numeric, model="conversion")

    scores, _ = bundle.score_batch([{"x": 0.25}, {"x": -2.0}])
    expected = model.predict_proba(pd.DataFrame({"x": [0.25, -2.0]}))[:, 1]
    np.testing.assert_allclose(scores, expected, atol=1e-12)
