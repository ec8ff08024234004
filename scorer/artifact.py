"""Safe serialisation of a :class:`ModelBundle`: one signed blob, refused unless it checks out.

The artifact is a zip holding ``metadata.json`` (schema, reference statistics,
metrics, lineage, version) and ``pipeline.skops`` (the fitted pipeline in skops'
format; never pickle). Its SHA-256 detects corruption; an Ed25519 signature by the
trainer's private key (``scorer.signing``) proves it came from our trainer: over the
artifact bytes for a file, over the whole record on ``model-versions``. Loading
checks, in order: size, signature, digest, zip sizes, metadata, version, schema,
skops types.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib.util import find_spec
from typing import Any, Final, Literal

import msgspec
import numpy as np
import skops.io as sio
from sklearn.pipeline import Pipeline
from skops.io.exceptions import UntrustedTypesFoundException

from contracts.records import ModelVersion, TopicRange
from contracts.topics import MODEL_ARTIFACT_MAX_BYTES
from scorer.bundle import ModelBundle
from scorer.compiled import probe_rows
from scorer.exceptions import (
    ArtifactTampered,
    ArtifactTooLarge,
    MalformedArtifact,
    MissingDependency,
    ReplayedVersion,
    SchemaMismatch,
    UntrustedTypes,
    ZipBombSuspected,
)
from scorer.feature_schema import FeatureSchema
from scorer.reference import ReferenceStats
from scorer.signing import Signer, TrustedKeys
from scorer.trees import check_pipeline_trees

METADATA_ENTRY: Final = "metadata.json"
PIPELINE_ENTRY: Final = "pipeline.skops"
MAX_ARTIFACT_BYTES: Final = MODEL_ARTIFACT_MAX_BYTES
MAX_UNCOMPRESSED_BYTES: Final = 4 * MODEL_ARTIFACT_MAX_BYTES
MAX_ZIP_ENTRIES: Final = 10_000
# Model arrays compress well, but not a thousandfold; a ratio beyond this on a
# large entry is the signature of a decompression bomb.
MAX_COMPRESSION_RATIO: Final = 100
RATIO_CHECK_MIN_BYTES: Final = 1024 * 1024

# Beyond skops' defaults, exactly what our pipelines hold. TreePredictor is listed
# as unsafe for files of unknown origin (unchecked node indices); it is trusted
# here only because loading reaches skops after the signature proved the file is
# ours, and its node arrays are checked (scorer.trees) before anything walks them.
TRUSTED_TYPES: Final = (
    "numpy.dtype",
    "scorer.imported.FrameColumns",
    "scorer.onnx_model.OnnxClassifier",
    "scorer.preprocessing.QuantileClipper",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)
# An imported pipeline may need more (its publisher confirmed each with `--trust`;
# the list travels in the signed metadata). Types of these modules run code or reach
# the system when built, so no confirmation and no signature makes them loadable.
NEVER_TRUSTED_MODULES: Final = frozenset({
    "builtins", "code", "codecs", "ctypes", "functools", "importlib", "io", "marshal", "nt",
    "operator", "os", "pathlib", "pickle", "posix", "pty", "runpy", "shutil", "socket",
    "subprocess", "sys", "types",
})


# The estimator an imported version's params name (scorer.imported), and the packages
# (with their extra) a processor needs to serve it.
IMPORTED: Final = "imported"
ONNX: Final = "imported-onnx"
IMPORTED_NEEDS: Final = {
    IMPORTED: (("pandas", "import"),),
    ONNX: (("onnxruntime", "onnx"), ("onnx", "onnx")),
}


def never_trusted(types: Iterable[str]) -> list[str]:
    """The types among ``types`` that no confirmation makes loadable.

    >>> never_trusted(["sklearn.tree._tree.Tree", "posix.system", "builtins.eval"])
    ['posix.system', 'builtins.eval']
    """
    return [t for t in types if t.split(".", 1)[0] in NEVER_TRUSTED_MODULES]


# omit_defaults: an artifact without imported types reads as before, in older processors too.
class ArtifactMetadata(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True,
                       omit_defaults=True):
    """Everything in the bundle but the fitted pipeline, stored as JSON in the artifact."""

    format: Literal[1] = 1
    model: str
    version: int
    created_at: datetime
    threshold: float
    schema: FeatureSchema
    reference: ReferenceStats
    metrics: dict[str, float]
    lineage: tuple[TopicRange, ...]
    params: dict[str, Any]
    trusted_types: tuple[str, ...] = ()  # beyond TRUSTED_TYPES, confirmed at import


@dataclass(frozen=True, slots=True)
class SignedArtifact:
    """Artifact bytes with their hex SHA-256, the Ed25519 signature over them (base64)
    and its key id, and the metadata inside."""

    data: bytes
    sha256: str
    signature: str
    key_id: str
    metadata: ArtifactMetadata


def metadata_of(bundle: ModelBundle) -> ArtifactMetadata:
    return ArtifactMetadata(
        model=bundle.model, version=bundle.version, created_at=bundle.created_at,
        threshold=bundle.threshold, schema=bundle.schema, reference=bundle.reference,
        metrics=dict(bundle.metrics), lineage=tuple(bundle.lineage), params=dict(bundle.params),
        trusted_types=tuple(bundle.trusted_types),
    )


def dump_bundle(bundle: ModelBundle) -> bytes:
    """The artifact bytes (unsigned) of ``bundle``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as container:
        # Fixed timestamps keep the outer bytes a function of the content.
        for name, payload in (
            (METADATA_ENTRY, msgspec.json.encode(metadata_of(bundle))),
            (PIPELINE_ENTRY, sio.dumps(bundle.pipeline)),
        ):
            container.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), payload,
                               compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def sign_bundle(bundle: ModelBundle, signer: Signer) -> SignedArtifact:
    """Serialise and sign ``bundle``; refuse one too large to publish."""
    data = dump_bundle(bundle)
    if len(data) > MAX_ARTIFACT_BYTES:
        raise ArtifactTooLarge(
            f"the artifact is {len(data)} bytes; at most {MAX_ARTIFACT_BYTES} can be published"
        )
    return SignedArtifact(
        data=data, sha256=hashlib.sha256(data).hexdigest(), signature=signer.sign_bytes(data),
        key_id=signer.key_id, metadata=metadata_of(bundle),
    )


def load_artifact(
    data: bytes,
    sha256: str,
    signature: str,
    keys: TrustedKeys,
    *,
    key_id: str,
    serving_version: int | None = None,
    expected_features: Mapping[str, str] | None = None,
) -> ModelBundle:
    """The bundle in an artifact file, or an :class:`ArtifactRejected` subclass saying why not.

    Nothing in ``data`` is deserialised before its signature and digest check out,
    and then only by skops with the types in :data:`TRUSTED_TYPES`.

    Parameters
    ----------
    data, sha256, signature
        The artifact, its hex SHA-256 and its signature as written by the trainer.
    keys, key_id
        The trusted public keys, and the id of the key that signed.
    serving_version
        Refuse a version not newer than this one (a replay).
    expected_features
        Feature name to kind (``numeric``/``categorical``) of what the events carry;
        refuse a model they cannot feed.

    Examples
    --------
    >>> signer = Signer.generate()
    >>> junk = b"\\x80\\x04 a pickle, say"
    >>> try:
    ...     load_artifact(junk, hashlib.sha256(junk).hexdigest(), signer.sign_bytes(junk),
    ...                   signer.trusted(), key_id=signer.key_id)
    ... except MalformedArtifact as exc:
    ...     print(exc.code)
    malformed
    """
    _check_digest(data, sha256)
    keys.verify_bytes(data, signature, key_id, what="the artifact")
    return _open(data, serving_version, expected_features)


def load_version(
    record: ModelVersion,
    keys: TrustedKeys,
    *,
    serving_version: int | None = None,
    expected_features: Mapping[str, str] | None = None,
) -> ModelBundle:
    """The bundle a ``model-versions`` record holds, once the record's signature (which
    covers the artifact bytes) checks out; else an :class:`ArtifactRejected` subclass."""
    _check_digest(record.artifact, record.sha256)
    keys.verify(record)
    bundle = _open(record.artifact, serving_version, expected_features)
    if (bundle.model, bundle.version) != (record.model, record.version):
        raise MalformedArtifact(
            f"the record says {record.model} version {record.version} but the signed "
            f"artifact holds {bundle.model} version {bundle.version}"
        )
    return bundle


def _check_digest(data: bytes, sha256: str) -> None:
    if len(data) > MAX_ARTIFACT_BYTES:
        raise ArtifactTooLarge(
            f"the artifact is {len(data)} bytes; at most {MAX_ARTIFACT_BYTES} are loaded"
        )
    actual_sha = hashlib.sha256(data).hexdigest()
    # Compared as bytes: compare_digest refuses non-ASCII text, which a forged record may hold.
    if not hmac.compare_digest(actual_sha.encode(), sha256.lower().encode()):
        raise ArtifactTampered(
            f"the artifact's SHA-256 is {actual_sha[:12]}..., the record says {sha256[:12]}...; "
            "the bytes were changed after publishing"
        )


def _open(data: bytes, serving_version: int | None,
          expected_features: Mapping[str, str] | None) -> ModelBundle:
    metadata, pipeline_bytes = _read_container(data)
    if serving_version is not None and metadata.version <= serving_version:
        raise ReplayedVersion(
            f"version {metadata.version} of {metadata.model} is not newer than version "
            f"{serving_version}, which is serving; an old artifact is not loaded again"
        )
    if expected_features is not None and (problems := metadata.schema.feed_problems(
        expected_features
    )):
        raise SchemaMismatch(
            f"version {metadata.version} of {metadata.model} cannot be fed: " + "; ".join(problems)
        )
    needs = IMPORTED_NEEDS.get(str(metadata.params.get("estimator")), ())
    if missing := [package for package, _ in needs if find_spec(package) is None]:
        raise MissingDependency(
            f"version {metadata.version} of {metadata.model} is an imported model, which "
            f"needs {', '.join(missing)}: install streamml[{needs[0][1]}] where the "
            "processors run")
    pipeline = _load_pipeline(pipeline_bytes, metadata.trusted_types)
    try:
        bundle = ModelBundle(
            pipeline=pipeline, schema=metadata.schema, reference=metadata.reference,
            metrics=metadata.metrics, lineage=metadata.lineage, model=metadata.model,
            version=metadata.version, created_at=metadata.created_at,
            threshold=metadata.threshold, params=metadata.params,
            trusted_types=metadata.trusted_types,
        )
    except ValueError as exc:
        raise MalformedArtifact(f"the artifact holds an unusable model: {exc}") from None
    if needs:
        _probe_imported(bundle)
    return bundle


def _probe_imported(bundle: ModelBundle) -> None:
    """Score a few rows with an imported model now, so one that cannot score is refused
    at load and the serving version stays, rather than fail on every batch after."""
    try:
        scores, _ = bundle.score_batch(probe_rows(bundle.schema, n=8))
    except Exception as exc:
        raise MalformedArtifact(f"the imported model cannot score: {type(exc).__name__}: "
                                f"{exc}") from None
    if scores.shape != (8,) or not np.all((scores >= 0.0) & (scores <= 1.0)):
        raise MalformedArtifact("the imported model gives scores outside [0, 1]")


def _read_container(data: bytes) -> tuple[ArtifactMetadata, bytes]:
    entries = _open_checked(data, "artifact")
    if set(entries) != {METADATA_ENTRY, PIPELINE_ENTRY}:
        raise MalformedArtifact(
            f"the artifact holds {sorted(entries)}; expected {METADATA_ENTRY} and {PIPELINE_ENTRY}"
        )
    try:
        metadata = msgspec.json.decode(entries[METADATA_ENTRY], type=ArtifactMetadata)
    except msgspec.DecodeError as exc:
        raise MalformedArtifact(f"the artifact's {METADATA_ENTRY} is not valid: {exc}") from None
    _open_checked(entries[PIPELINE_ENTRY], PIPELINE_ENTRY, read=False)
    return metadata, entries[PIPELINE_ENTRY]


def _open_checked(data: bytes, what: str, *, read: bool = True) -> dict[str, bytes]:
    """Entries of the zip ``data``, after checking their declared sizes.

    zipfile never inflates an entry past its declared size, so bounding the
    declared sizes bounds the memory any later read can take.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            _check_sizes(infos, what)
            return {i.filename: archive.read(i) for i in infos} if read else {}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
        raise MalformedArtifact(f"the {what} is not a readable zip file: {exc}") from None


def _check_sizes(infos: list[zipfile.ZipInfo], what: str) -> None:
    if len(infos) > MAX_ZIP_ENTRIES:
        raise ZipBombSuspected(f"the {what} has {len(infos)} entries; at most {MAX_ZIP_ENTRIES}")
    total = sum(i.file_size for i in infos)
    if total > MAX_UNCOMPRESSED_BYTES:
        raise ZipBombSuspected(
            f"the {what} would inflate to {total} bytes; at most {MAX_UNCOMPRESSED_BYTES} are read"
        )
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_CHECK_MIN_BYTES and ratio > MAX_COMPRESSION_RATIO:
            raise ZipBombSuspected(
                f"entry {info.filename!r} of the {what} inflates {ratio:.0f}-fold "
                f"({info.compress_size} to {info.file_size} bytes); "
                f"at most {MAX_COMPRESSION_RATIO}-fold is accepted"
            )


def _load_pipeline(data: bytes, confirmed: Iterable[str] = ()) -> Pipeline:
    if refused := never_trusted(confirmed):
        raise UntrustedTypes(f"the artifact asks to trust {', '.join(refused)}, which is "
                             "never loaded", types=refused)
    trusted = sorted({*TRUSTED_TYPES, *confirmed})
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # skops raises many kinds on a malformed schema
        raise MalformedArtifact(f"the pipeline cannot be read by skops: {exc}") from None
    unknown = sorted(set(untrusted) - set(trusted))
    if unknown:
        raise UntrustedTypes(
            f"the pipeline holds types that are not trusted: {', '.join(unknown)}", types=unknown
        )
    try:
        pipeline = sio.loads(data, trusted=trusted)
    except UntrustedTypesFoundException as exc:
        raise UntrustedTypes(f"skops refused the pipeline: {exc}", types=[]) from None
    except Exception as exc:
        raise MalformedArtifact(f"the pipeline cannot be loaded: {exc}") from None
    if not isinstance(pipeline, Pipeline) or not hasattr(pipeline, "predict_proba"):
        raise MalformedArtifact(
            f"the artifact holds a {type(pipeline).__name__}; expected a fitted Pipeline"
        )
    check_pipeline_trees(pipeline)
    return pipeline


__all__ = [
    "IMPORTED",
    "IMPORTED_NEEDS",
    "MAX_ARTIFACT_BYTES",
    "NEVER_TRUSTED_MODULES",
    "ONNX",
    "TRUSTED_TYPES",
    "ArtifactMetadata",
    "SignedArtifact",
    "dump_bundle",
    "load_artifact",
    "load_version",
    "never_trusted",
    "sign_bundle",
]
