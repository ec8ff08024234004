"""Importing a scikit-learn pipeline trained elsewhere: confirmed types only, served by
name, signed and loaded back with the same scores, trees checked."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

from scorer.artifact import load_artifact, sign_bundle
from scorer.datasets import TrainingRow
from scorer.exceptions import MissingDependency, UnsafeTree, UntrustedTypes
from scorer.imported import ModelImportError, import_pipeline
from scorer.signing import Signer

TREE = "sklearn.tree._tree.Tree"


def frame(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x": rng.normal(size=n), "device": rng.choice(["ios", "web"], n)})
    return df, ((df.x > 0) ^ (df.device == "ios")).astype(int)


def fitted(estimator: object = None) -> Pipeline:
    df, y = frame()
    columns = ColumnTransformer([
        ("num", SimpleImputer(strategy="median"), ["x"]),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore")), ["device"]),
    ])
    model = estimator or GradientBoostingClassifier(n_estimators=20, random_state=0)
    return Pipeline([("columns", columns), ("model", model)]).fit(df, y)


def rows() -> list[TrainingRow]:
    df, y = frame(seed=1)
    return [TrainingRow({"x": float(x), "device": d, "unused": 1.0}, int(label), None)
            for x, d, label in zip(df.x, df.device, y, strict=True)]


@pytest.fixture
def skops_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.skops"
    sio.dump(fitted(), path)
    return path


def test_a_type_not_confirmed_stops_the_import_and_names_the_flag(skops_file: Path) -> None:
    with pytest.raises(ModelImportError, match=f"--trust {TREE}"):
        import_pipeline(skops_file, rows(), model="conversion")


def test_the_served_scores_are_the_pipelines_own_on_a_dataframe(skops_file: Path) -> None:
    bundle, report = import_pipeline(skops_file, rows(), model="conversion", trust=[TREE])
    events = [{"x": 0.7, "device": "ios"}, {"x": -0.2, "device": "web", "other": 3.0},
              {"x": None, "device": None}, {"x": 1.5, "device": "android"}]

    scores, _ = bundle.score_batch(events)

    expected = fitted().predict_proba(pd.DataFrame({
        "x": [0.7, -0.2, np.nan, 1.5], "device": ["ios", "web", np.nan, "android"]}))[:, 1]
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-12)
    assert report.features == ("x", "device") and report.trusted_types == (TREE,)
    assert bundle.schema.kinds() == {"device": "categorical", "x": "numeric"}
    assert set(bundle.reference.numeric) == {"x"} and set(bundle.reference.categorical) == {
        "device"}
    assert report.metrics["roc_auc"] > 0.9 and report.skill > 0


def test_signed_and_loaded_back_it_trusts_exactly_the_confirmed_types(skops_file: Path) -> None:
    signer = Signer.generate()
    bundle, _ = import_pipeline(skops_file, rows(), model="conversion", trust=[TREE])
    artifact = sign_bundle(bundle, signer)

    loaded = load_artifact(artifact.data, artifact.sha256, artifact.signature,
                           signer.trusted(),
                           key_id=artifact.key_id)

    events = [{"x": float(x), "device": d} for x, d in [(0.3, "ios"), (-1.0, "web")]]
    np.testing.assert_array_equal(loaded.score_batch(events)[0], bundle.score_batch(events)[0])
    assert loaded.trusted_types == (TREE,)


def test_code_running_types_are_refused_even_when_confirmed(tmp_path: Path) -> None:
    path = tmp_path / "evil.skops"
    sio.dump(Pipeline([("run", FunctionTransformer(print)), ("m", LogisticRegression())]), path)

    with pytest.raises(ModelImportError, match="builtins.print"):
        import_pipeline(path, rows(), model="conversion", trust=["builtins.print"])


def test_an_artifact_asking_to_trust_a_system_type_is_not_loaded(skops_file: Path) -> None:
    signer = Signer.generate()
    bundle, _ = import_pipeline(skops_file, rows(), model="conversion", trust=[TREE])
    forged = sign_bundle(dataclasses.replace(bundle, trusted_types=(TREE, "posix.system")), signer)

    with pytest.raises(UntrustedTypes, match="posix.system"):
        load_artifact(forged.data, forged.sha256, forged.signature,
                      signer.trusted(),
                      key_id=forged.key_id)


def test_a_tree_pointing_out_of_its_arrays_is_refused(tmp_path: Path) -> None:
    pipeline = fitted()
    tree = pipeline.named_steps["model"].estimators_[0, 0].tree_
    state = tree.__getstate__()
    state["nodes"]["left_child"][0] = 2**30
    tree.__setstate__(state)
    path = tmp_path / "broken.skops"
    sio.dump(pipeline, path)

    with pytest.raises(UnsafeTree, match="node 0 has children"):
        import_pipeline(path, rows(), model="conversion", trust=[TREE])


def test_a_pipeline_fitted_without_column_names_is_refused_with_the_way_out(
        tmp_path: Path) -> None:
    df, y = frame()
    path = tmp_path / "array.skops"
    sio.dump(Pipeline([("m", LogisticRegression())]).fit(df[["x"]].to_numpy(), y), path)

    with pytest.raises(ModelImportError, match="fit it on a pandas DataFrame"):
        import_pipeline(path, rows(), model="conversion")


def test_reference_data_without_a_column_the_pipeline_reads_is_refused(skops_file: Path) -> None:
    partial = [TrainingRow({"x": r.features["x"]}, r.label, None) for r in rows()]

    with pytest.raises(ModelImportError, match="reads device, which the reference data"):
        import_pipeline(skops_file, partial, model="conversion", trust=[TREE])


def test_a_processor_without_pandas_refuses_the_version_before_its_first_batch(
        skops_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    signer = Signer.generate()
    bundle, _ = import_pipeline(skops_file, rows(), model="conversion", trust=[TREE])
    artifact = sign_bundle(bundle, signer)
    monkeypatch.setitem(sys.modules, "pandas", None)  # as where streamml[import] is absent

    with pytest.raises(MissingDependency, match=r"install streamml\[import\]"):
        load_artifact(artifact.data, artifact.sha256, artifact.signature, signer.trusted(),
                      key_id=artifact.key_id)
