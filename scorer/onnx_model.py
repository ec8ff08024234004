"""An ONNX binary classifier served like any other model: one input per feature.

skl2onnx writes a scikit-learn pipeline with one ``[None, 1]`` input per column (a
float tensor for a number, a string tensor for a category) and a probabilities output
of two columns, label 1 second. :class:`OnnxClassifier` feeds those inputs from the
processor's array (the schema's order, :func:`scorer.preprocessing.vectorise`) and
returns the probabilities, so it sits in a scikit-learn ``Pipeline`` like a fitted
estimator and the bundle scores it as it scores any pipeline.

onnxruntime parses the model in native code, so the model is read with ``onnx`` first:
a tensor whose data lives in an external file is refused, because onnxruntime would
read it from the processor's working directory.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from scorer.exceptions import ScorerError

FLOAT_INPUTS: Final = ("tensor(float)", "tensor(double)")
STRING_INPUT: Final = "tensor(string)"


class OnnxModelError(ScorerError):
    """An ONNX model streamml cannot serve, and why."""


class OnnxClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Probabilities from an ONNX model whose inputs are the schema's columns, in order.

    ``inputs`` name the model's inputs for the array's columns and ``types`` give each
    one's tensor type. The onnxruntime session is built on first use and never stored.
    """

    def __init__(self, model: bytes = b"", inputs: Sequence[str] = (),
                 types: Sequence[str] = (), output: str = "") -> None:
        self.model = model
        self.inputs = inputs
        self.types = types
        self.output = output

    def fit(self, _x: Any = None, _y: Any = None) -> OnnxClassifier:
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = len(self.inputs)
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        feed = {}
        for j, (name, kind) in enumerate(zip(self.inputs, self.types, strict=True)):
            column = x[:, j:j + 1]
            if kind == STRING_INPUT:
                feed[name] = np.where(column == None, "", column).astype(str).astype(object)  # noqa: E711
            else:
                feed[name] = column.astype(np.float64 if kind == "tensor(double)" else np.float32)
        [probabilities] = self._session().run([self.output], feed)
        if isinstance(probabilities, list):  # skl2onnx's default ZipMap: one dict a row
            positive = np.array([row[1] for row in probabilities], dtype=np.float64)
        else:
            positive = np.asarray(probabilities, dtype=np.float64)[:, 1]
        return np.column_stack([1.0 - positive, positive])

    def predict(self, x: np.ndarray) -> np.ndarray:
        return (self.predict_proba(x)[:, 1] >= 0.5).astype(np.int64)

    def _session(self) -> Any:
        session = self.__dict__.get("_session_")
        if session is None:
            session = open_session(self.model)
            self.__dict__["_session_"] = session
        return session

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state.pop("_session_", None)
        return state


def open_session(model: bytes) -> Any:
    """An onnxruntime session on one thread, after refusing external data."""
    import onnx
    import onnxruntime

    try:
        proto = onnx.load_model_from_string(model)
    except Exception as exc:
        raise OnnxModelError(f"not an ONNX model: {exc}") from None
    if any(t.data_location == onnx.TensorProto.EXTERNAL or t.external_data
           for t in _tensors(proto.graph)):
        raise OnnxModelError("the model keeps tensors in external files, which the "
                             "processor would read from its working directory; save it "
                             "with every tensor inside")
    options = onnxruntime.SessionOptions()
    # The processor scores on one thread; onnxruntime would otherwise take every core.
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    try:
        return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise OnnxModelError(f"onnxruntime cannot run the model: {exc}") from None


def _tensors(graph: Any) -> Iterator[Any]:
    """Every tensor of ``graph`` and its subgraphs: initializers and node attributes."""
    yield from graph.initializer
    yield from (s.values for s in graph.sparse_initializer)
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from _tensors(attribute.g)
            for sub in attribute.graphs:
                yield from _tensors(sub)


def onnx_classifier(model: bytes, kinds: Mapping[str, str]) -> OnnxClassifier:
    """The classifier for ``model``, fed in the order of ``kinds`` (each input's kind,
    numeric or categorical, from the reference data), its inputs and output checked."""
    session = open_session(model)
    types = {}
    for spec in session.get_inputs():
        shape = list(spec.shape)
        if len(shape) != 2 or shape[1] != 1:
            raise OnnxModelError(f"input `{spec.name}` has shape {shape}; streamml feeds one "
                                 "[None, 1] input a feature (skl2onnx's initial_types)")
        if spec.type not in (*FLOAT_INPUTS, STRING_INPUT):
            raise OnnxModelError(f"input `{spec.name}` is a {spec.type}; streamml feeds "
                                 "float or string tensors")
        types[spec.name] = spec.type
        kind = kinds.get(spec.name)
        if kind is not None and (kind == "categorical") != (spec.type == STRING_INPUT):
            raise OnnxModelError(f"input `{spec.name}` is a {spec.type} but the reference "
                                 f"data holds it as {kind}")
    if set(types) != set(kinds):
        raise OnnxModelError(f"the model's inputs {sorted(types)} are not the features "
                             f"{sorted(kinds)}")
    outputs = {o.name for o in session.get_outputs()}
    output = next((n for n in ("probabilities", "output_probability") if n in outputs), None)
    if output is None:
        raise OnnxModelError(f"no probabilities output among {sorted(outputs)}; expected "
                             "`probabilities` or `output_probability` (skl2onnx's names)")
    classifier = OnnxClassifier(model=model, inputs=tuple(kinds),
                                types=tuple(types[n] for n in kinds), output=output).fit()
    classifier.__dict__["_session_"] = session
    return classifier


def input_names(model: bytes) -> list[str]:
    """The names of the model's inputs: the features it reads."""
    return [spec.name for spec in open_session(model).get_inputs()]


__all__ = ["OnnxClassifier", "OnnxModelError", "input_names", "onnx_classifier", "open_session"]
