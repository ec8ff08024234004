"""The models of the imported rows: the benchmark's history fitted in plain scikit-learn
(a ``ColumnTransformer`` and a ``GradientBoostingClassifier``), then imported as a
user would import it, from a skops file and as ONNX converted with skl2onnx (which
fails on a ``HistGradientBoostingClassifier`` of scikit-learn 1.9: a boolean where
onnx wants an integer)."""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path

from scorer.artifact import SignedArtifact, sign_bundle
from scorer.datasets import TrainingRow
from scorer.imported import import_pipeline
from scorer.signing import Signer

# What the skops file of a GradientBoostingClassifier holds beyond skops' own trust.
CONFIRMED = ("sklearn.tree._tree.Tree",)


def imported_artifacts(rows: list[TrainingRow], key: str) -> dict[str, SignedArtifact]:
    """The signed artifacts of the same pipeline imported from skops and from ONNX."""
    import pandas as pd
    import skops.io as sio
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = pd.DataFrame([r.features for r in rows])
    text = [c for c in frame.columns if frame[c].dtype == object]
    numbers = [c for c in frame.columns if c not in text]
    pipeline = Pipeline([
        ("columns", ColumnTransformer([
            ("num", SimpleImputer(strategy="median"), numbers),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), text)])),
        ("model", GradientBoostingClassifier(n_estimators=50, max_depth=3, random_state=0)),
    ]).fit(frame, [r.label for r in rows])
    folder = Path(tempfile.mkdtemp(prefix="bench-imported-"))
    (folder / "model.skops").write_bytes(sio.dumps(pipeline))
    (folder / "model.onnx").write_bytes(to_onnx(pipeline, initial_types=[
        (c, StringTensorType([None, 1]) if c in text else FloatTensorType([None, 1]))
        for c in frame.columns], options={"zipmap": False}).SerializeToString())
    signer = Signer.from_raw(base64.b64decode(key))
    return {kind: sign_bundle(import_pipeline(folder / f"model.{kind}", rows,
                                              model="conversion", trust=CONFIRMED)[0], signer)
            for kind in ("skops", "onnx")}
