"""Serve a model trained elsewhere: a scikit-learn pipeline from its skops file, fed by
name, or an ONNX binary classifier (:mod:`scorer.onnx_model`).

A pipeline fitted on a pandas DataFrame knows its input columns by name
(``feature_names_in_``), while the processor hands every model one array a batch, its
columns in the schema's order (:func:`scorer.preprocessing.vectorise`). An imported
pipeline is therefore served behind :class:`FrameColumns`, which turns that array back
into the DataFrame the pipeline was fitted on: numbers as float64, categories as text
with NaN where missing, as pandas reads a CSV.

Nothing in the file is built before skops has listed its types. A type skops does not
trust by itself must be confirmed by name (``trust``); types of modules that reach the
system are refused even then (:data:`scorer.artifact.NEVER_TRUSTED_MODULES`); and the
trees in it are checked before any row reaches them (:mod:`scorer.trees`). The
confirmed types travel in the signed artifact, so the processor trusts exactly those.

The reference data gives the version what a trained one has: the schema's kinds,
the distributions drift is judged against, the decision threshold and the held-out
metrics the monitor compares live figures with. It is labeled for that reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import skops.io as sio
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline

from scorer.artifact import (
    IMPORTED,
    IMPORTED_NEEDS,
    MAX_ARTIFACT_BYTES,
    ONNX,
    TRUSTED_TYPES,
    never_trusted,
)
from scorer.bundle import ModelBundle
from scorer.datasets import TrainingRow
from scorer.evaluation import base_rate_log_loss, evaluate, skill
from scorer.exceptions import ScorerError
from scorer.feature_schema import infer_schema
from scorer.preprocessing import vectorise
from scorer.reference import reference_stats
from scorer.threshold import ThresholdRule, choose_threshold
from scorer.trees import check_pipeline_trees


class ModelImportError(ScorerError):
    """A model file that cannot be served, and why (one line for the terminal)."""


class FrameColumns(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """The model's input array as the DataFrame an imported pipeline was fitted on.

    ``columns`` name the array's columns (the schema's order), ``order`` the
    DataFrame's (the pipeline's ``feature_names_in_``), ``numeric`` those read as
    numbers.

    >>> frame = FrameColumns(columns=("a", "c"), order=("c", "a"), numeric=("a",))
    >>> out = frame.fit(None).transform(np.array([[1.5, "x"], [None, None]], dtype=object))
    >>> list(out.columns), out["a"].tolist()[0], out["c"].isna().tolist()
    (['c', 'a'], 1.5, [False, True])
    """

    def __init__(self, columns: Sequence[str] = (), order: Sequence[str] = (),
                 numeric: Sequence[str] = ()) -> None:
        self.columns = columns
        self.order = order
        self.numeric = numeric

    def fit(self, _x: Any, _y: Any = None) -> FrameColumns:
        self.n_features_in_ = len(self.columns)
        return self

    def transform(self, x: np.ndarray) -> Any:
        import pandas as pd

        frame = pd.DataFrame(x, columns=list(self.columns))
        numeric = set(self.numeric)
        for name in self.columns:
            frame[name] = (frame[name].astype(np.float64) if name in numeric
                           else frame[name].where(frame[name].notna(), np.nan))
        return frame[list(self.order)]


@dataclass(frozen=True)
class ImportReport:
    """What importing found: the types confirmed, the fit to the reference data."""

    source: str
    sha256: str
    trusted_types: tuple[str, ...]
    features: tuple[str, ...]
    rows: int
    threshold: float
    metrics: dict[str, float] = field(default_factory=dict)
    skill: float = 0.0
    baseline_log_loss: float = 0.0


def types_to_confirm(data: bytes) -> list[str]:
    """The types in a skops file that skops and streamml do not trust by themselves."""
    try:
        found = sio.get_untrusted_types(data=data)
    except Exception as exc:  # skops raises many kinds on what is not its format
        raise ModelImportError(f"not a skops file ({type(exc).__name__}: {exc}); save the "
                               "pipeline with skops.io.dump") from None
    return sorted(set(found) - set(TRUSTED_TYPES))


def import_pipeline(source: Path | str, rows: Sequence[TrainingRow], *, model: str,
                    version: int = 1, trust: Iterable[str] = (),
                    threshold_rule: ThresholdRule | None = None,
                    now: datetime | None = None) -> tuple[ModelBundle, ImportReport]:
    """A bundle serving the model in ``source`` (a fitted pipeline in a skops file, or an
    ``.onnx`` binary classifier), with its schema, reference, threshold and metrics read
    off the labeled reference ``rows``.

    ``trust`` confirms, by name, the types of a skops file that skops does not trust by
    itself; importing stops and names any type found that was not confirmed.
    """
    path = Path(source)
    onnx = path.suffix.lower() == ".onnx"
    for package, extra in IMPORTED_NEEDS[ONNX if onnx else IMPORTED]:
        if find_spec(package) is None:
            raise ModelImportError(f"importing {path.name} needs {package}: pip install "
                                   f"'streamml[{extra}]'")
    if not path.is_file():
        raise ModelImportError(f"{path}: no such file")
    data = path.read_bytes()
    if len(data) > MAX_ARTIFACT_BYTES:
        raise ModelImportError(f"{path.name} is {len(data)} bytes; a model of at most "
                               f"{MAX_ARTIFACT_BYTES} can be published")
    trusted: tuple[str, ...] = ()
    if onnx:
        pipeline, names = None, _onnx_inputs(data)
    else:
        pipeline, trusted = _skops_pipeline(data, path.name, set(trust))
        names = _input_names(pipeline, path.name)
    if not rows:
        raise ModelImportError("the reference data holds no rows")
    present = {name for row in rows for name in row.features}
    if absent := [n for n in names if n not in present]:
        raise ModelImportError(f"the model reads {', '.join(absent)}, which the reference "
                               "data does not hold")
    features = [{n: row.features.get(n) for n in names} for row in rows]
    schema = infer_schema(features)
    if pipeline is None:
        served = Pipeline([("model", _onnx_served(data, schema.kinds()))])
    else:
        frame = FrameColumns(columns=schema.names, order=tuple(names), numeric=tuple(
            f.name for f in schema.features if f.kind == "numeric"))
        served = Pipeline([("frame", frame.fit(None)), ("model", pipeline)])
    try:
        scores = served.predict_proba(vectorise(schema, features))[:, 1]
    except Exception as exc:
        raise ModelImportError(f"the model could not score the reference data: "
                               f"{type(exc).__name__}: {exc}") from None
    labels = np.array([row.label for row in rows])
    threshold = choose_threshold(labels, scores, threshold_rule or ThresholdRule())
    metrics = evaluate(labels, scores, threshold=threshold)
    baseline = base_rate_log_loss(float(labels.mean()), labels)
    sha256 = hashlib.sha256(data).hexdigest()
    bundle = ModelBundle(
        pipeline=served, schema=schema, reference=reference_stats(schema, features, scores),
        metrics=metrics, lineage=(), model=model, version=version,
        created_at=now or datetime.now(UTC), threshold=threshold,
        params={"estimator": ONNX if onnx else IMPORTED, "source": path.name,
                "source_sha256": sha256,
                "pipeline": "onnx" if pipeline is None else type(pipeline).__name__},
        trusted_types=trusted)
    return bundle, ImportReport(
        source=path.name, sha256=sha256, trusted_types=trusted, features=tuple(names),
        rows=len(rows), threshold=threshold, metrics=metrics,
        skill=skill(metrics["log_loss"], baseline), baseline_log_loss=baseline)


def _skops_pipeline(data: bytes, name: str, confirmed: set[str]) -> tuple[Any, tuple[str, ...]]:
    """The fitted object in a skops file, once every type it needs is confirmed and safe,
    with the types that had to be confirmed; its trees checked."""
    if refused := never_trusted(sorted(confirmed)):
        raise ModelImportError(f"{', '.join(refused)} can run code or reach the system when "
                               "loaded; no model that needs them is imported")
    needed = types_to_confirm(data)
    if refused := never_trusted(needed):
        raise ModelImportError(f"{name} holds {', '.join(refused)}, which can run code "
                               "or reach the system when loaded; it is not imported")
    if missing := [t for t in needed if t not in confirmed]:
        flags = " ".join(f"--trust {t}" for t in missing)
        raise ModelImportError(f"{name} holds types that skops does not trust by "
                               f"itself: {', '.join(missing)}. If you know the file's origin "
                               f"and trust them, confirm each: {flags}")
    try:
        pipeline = sio.loads(data, trusted=sorted({*TRUSTED_TYPES, *needed}))
    except Exception as exc:
        raise ModelImportError(f"skops could not load {name}: {exc}") from None
    check_pipeline_trees(pipeline)
    return pipeline, tuple(needed)


def _onnx_inputs(data: bytes) -> list[str]:
    from scorer.onnx_model import OnnxModelError, input_names

    try:
        return input_names(data)
    except OnnxModelError as exc:
        raise ModelImportError(str(exc)) from None


def _onnx_served(data: bytes, kinds: Mapping[str, str]) -> Any:
    from scorer.onnx_model import OnnxModelError, onnx_classifier

    try:
        return onnx_classifier(data, kinds)
    except OnnxModelError as exc:
        raise ModelImportError(str(exc)) from None


def _input_names(pipeline: Any, name: str) -> list[str]:
    if not hasattr(pipeline, "predict_proba"):
        raise ModelImportError(f"{name} holds a {type(pipeline).__name__}, which gives no "
                               "probabilities (predict_proba)")
    classes = getattr(pipeline, "classes_", None)
    if classes is None or [int(c) for c in classes] != [0, 1]:
        raise ModelImportError(f"{name} holds a model of classes {classes!r}; streamml serves "
                               "binary models fitted on labels 0 and 1")
    names = getattr(pipeline, "feature_names_in_", None)
    if names is None:
        raise ModelImportError(f"{name} was fitted on an array without column names; fit it "
                               "on a pandas DataFrame so its columns meet event features by name")
    return [str(n) for n in names]


__all__ = ["FrameColumns", "ImportReport", "ModelImportError",
           "import_pipeline", "types_to_confirm"]
