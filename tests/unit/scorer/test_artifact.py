from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import pickle
import zipfile
from pathlib import Path

import msgspec
import numpy as np
import pytest
import skops.io as sio
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from contracts.exceptions import StreamMLError
from contracts.records import TopicRange
from scorer.artifact import (
    MAX_ARTIFACT_BYTES,
    METADATA_ENTRY,
    PIPELINE_ENTRY,
    TRUSTED_TYPES,
    dump_bundle,
    load_artifact,
    sign_bundle,
)
from scorer.bundle import ModelBundle
from scorer.exceptions import (
    ArtifactRejected,
    ArtifactTampered,
    ArtifactTooLarge,
    BadSignature,
    MalformedArtifact,
    ReplayedVersion,
    SchemaMismatch,
    UntrustedTypes,
    ZipBombSuspected,
)
from tests.signing_keys import KEYS, OTHER_SIGNER, SIGNER
from tests.zip_archives import container


def entries_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {name: z.read(name) for name in z.namelist()}


def load_signed(data: bytes, key: object = None, **kwargs: object) -> ModelBundle:
    """Load ``data`` signed correctly, so only the checks after the signature can refuse it."""
    sha256 = hashlib.sha256(data).hexdigest()
    return load_artifact(data, sha256, SIGNER.sign_bytes(data), KEYS,  # type: ignore[arg-type]
                         key_id=SIGNER.key_id, **kwargs)


class Marker:
    """A pickle payload that creates a file when unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.path), "w"))


def test_a_signed_artifact_loads_back_to_the_same_scores(bundle: ModelBundle, key: bytes) -> None:
    signed = sign_bundle(bundle, SIGNER)
    events: list[dict[str, float | str | None]] = [
        {"cart_value": 20.0, "device": "ios"}, {"pages": 2.0, "device": "tv"}, {}]

    loaded = load_artifact(signed.data, signed.sha256, signed.signature, KEYS,
                           key_id=signed.key_id)

    np.testing.assert_array_equal(loaded.score_batch(events)[0], bundle.score_batch(events)[0])
    assert (loaded.schema, loaded.reference) == (bundle.schema, bundle.reference)
    assert (loaded.model, loaded.version, loaded.created_at) == (
        bundle.model, bundle.version, bundle.created_at)
    assert dict(loaded.metrics) == dict(bundle.metrics)
    assert loaded.threshold == bundle.threshold


def test_the_trusted_types_are_exactly_what_our_pipelines_need(bundle: ModelBundle) -> None:
    needed = set(sio.get_untrusted_types(data=sio.dumps(bundle.pipeline)))

    assert needed <= set(TRUSTED_TYPES)


def test_one_changed_byte_is_refused_as_tampered(logistic_bundle: ModelBundle, key: bytes) -> None:
    signed = sign_bundle(logistic_bundle, SIGNER)
    data = bytearray(signed.data)
    data[len(data) // 2] ^= 0x01

    with pytest.raises(ArtifactTampered) as info:
        load_artifact(bytes(data), signed.sha256, signed.signature, KEYS, key_id=signed.key_id)

    assert info.value.code == "tampered"


def test_another_key_is_refused_as_a_bad_signature(
    logistic_bundle: ModelBundle, key: bytes
) -> None:
    signed = sign_bundle(logistic_bundle, SIGNER)

    with pytest.raises(BadSignature, match="STREAMML_MODEL_PUBLIC_KEYS") as info:
        load_artifact(signed.data, signed.sha256, signed.signature, OTHER_SIGNER.trusted(),
                      key_id=signed.key_id)

    assert info.value.code == "unknown-key"


def test_a_recomputed_digest_without_the_key_is_refused(
    logistic_bundle: ModelBundle, key: bytes
) -> None:
    forged = dump_bundle(logistic_bundle) + b"\0"
    sha = hashlib.sha256(forged).hexdigest()
    signature = OTHER_SIGNER.sign_bytes(forged)

    with pytest.raises(BadSignature) as info:
        load_artifact(forged, sha, signature, KEYS, key_id=SIGNER.key_id)

    assert info.value.code == "bad-signature"


def test_a_skops_file_with_an_untrusted_type_is_refused(
    logistic_bundle: ModelBundle, key: bytes
) -> None:
    evil = sio.dumps(Pipeline([("run", FunctionTransformer(os.system))]))
    metadata = entries_of(dump_bundle(logistic_bundle))[METADATA_ENTRY]
    data = container({METADATA_ENTRY: metadata, PIPELINE_ENTRY: evil})

    with pytest.raises(UntrustedTypes, match="posix.system|nt.system") as info:
        load_signed(data, key)

    assert info.value.code == "untrusted-type"
    assert info.value.types == [t for t in sio.get_untrusted_types(data=evil)]


def test_a_pickle_is_never_unpickled(
    logistic_bundle: ModelBundle, key: bytes, tmp_path: Path
) -> None:
    # The payload is live: unpickling it does create its file.
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(Marker(probe)))  # noqa: S301 - proving the payload works
    assert probe.exists()
    marker = tmp_path / "marker"
    payload = pickle.dumps(Marker(marker))
    metadata = entries_of(dump_bundle(logistic_bundle))[METADATA_ENTRY]

    for data in (payload, container({METADATA_ENTRY: metadata, PIPELINE_ENTRY: payload})):
        with pytest.raises(MalformedArtifact):
            load_signed(data, key)

    assert not marker.exists()


@pytest.mark.parametrize("serving", [1, 2])
def test_a_version_not_newer_than_the_serving_one_is_a_replay(
    logistic_bundle: ModelBundle, key: bytes, serving: int
) -> None:
    signed = sign_bundle(logistic_bundle, SIGNER)

    with pytest.raises(ReplayedVersion, match=f"not newer than version {serving}") as info:
        load_artifact(signed.data, signed.sha256, signed.signature, KEYS, key_id=signed.key_id,
                      serving_version=serving)

    assert info.value.code == "replayed-version"


def test_a_newer_version_than_the_serving_one_loads(
    logistic_bundle: ModelBundle, key: bytes
) -> None:
    signed = sign_bundle(logistic_bundle.with_version(5), SIGNER)

    loaded = load_artifact(signed.data, signed.sha256, signed.signature, KEYS,
                           key_id=signed.key_id, serving_version=4)

    assert loaded.version == 5


@pytest.mark.parametrize(
    ("contract", "problem"),
    [
        ({"cart_value": "numeric", "pages": "numeric", "device": "categorical"},
         "feature `country` \\(categorical\\) is not in the contract"),
        ({"cart_value": "categorical", "pages": "numeric", "device": "categorical",
          "country": "categorical"},
         "feature `cart_value` is numeric in the model but categorical in the contract"),
    ],
)
def test_a_schema_the_contract_cannot_feed_is_refused(
    logistic_bundle: ModelBundle, key: bytes, contract: dict[str, str], problem: str
) -> None:
    signed = sign_bundle(logistic_bundle, SIGNER)

    with pytest.raises(SchemaMismatch, match=problem) as info:
        load_artifact(signed.data, signed.sha256, signed.signature, KEYS, key_id=signed.key_id,
                      expected_features=contract)

    assert info.value.code == "schema-mismatch"


def test_a_contract_with_extra_features_feeds_the_model(
    logistic_bundle: ModelBundle, key: bytes
) -> None:
    signed = sign_bundle(logistic_bundle, SIGNER)
    contract = {**logistic_bundle.schema.kinds(), "extra": "numeric"}

    loaded = load_artifact(signed.data, signed.sha256, signed.signature, KEYS, key_id=signed.key_id,
                           expected_features=contract)

    assert loaded.schema == logistic_bundle.schema


def test_an_oversize_artifact_is_refused_before_anything_else(key: bytes) -> None:
    data = bytes(MAX_ARTIFACT_BYTES + 1)

    with pytest.raises(ArtifactTooLarge) as info:
        load_artifact(data, "0" * 64, "", KEYS, key_id="")

    assert info.value.code == "oversize"


def test_a_highly_compressed_entry_is_refused_as_a_zip_bomb(
    logistic_bundle: ModelBundle, key: bytes
) -> None:
    metadata = entries_of(dump_bundle(logistic_bundle))[METADATA_ENTRY]
    data = container({METADATA_ENTRY: metadata, PIPELINE_ENTRY: bytes(8 * 1024 * 1024)}, level=1)

    with pytest.raises(ZipBombSuspected, match="inflates") as info:
        load_signed(data, key)

    assert info.value.code == "zip-bomb"


def test_entries_inflating_past_the_limit_are_refused_as_a_zip_bomb(key: bytes) -> None:
    # Entries too small for the ratio check, but together far more than a model.
    data = container({f"part{i}": bytes(1024 * 1024) for i in range(70)}, level=1)

    with pytest.raises(ZipBombSuspected, match="would inflate"):
        load_signed(data, key)


def test_a_zip_bomb_inside_the_skops_file_is_refused(
    logistic_bundle: ModelBundle, key: bytes
) -> None:
    inner = container({"schema.json": b"{}", "bomb.npy": bytes(8 * 1024 * 1024)}, level=1)
    metadata = entries_of(dump_bundle(logistic_bundle))[METADATA_ENTRY]
    data = container({METADATA_ENTRY: metadata, PIPELINE_ENTRY: inner})

    with pytest.raises(ZipBombSuspected, match=PIPELINE_ENTRY):
        load_signed(data, key)


@pytest.mark.parametrize(
    "entries",
    [
        {METADATA_ENTRY: b"{}", PIPELINE_ENTRY: b""},
        {METADATA_ENTRY: b"not json", PIPELINE_ENTRY: b""},
        {"other": b""},
    ],
)
def test_a_container_without_usable_metadata_is_malformed(
    entries: dict[str, bytes], key: bytes
) -> None:
    with pytest.raises(MalformedArtifact):
        load_signed(container(entries), key)


def test_a_signed_container_holding_something_else_than_a_pipeline_is_malformed(
    logistic_bundle: ModelBundle, key: bytes
) -> None:
    metadata = entries_of(dump_bundle(logistic_bundle))[METADATA_ENTRY]
    data = container({METADATA_ENTRY: metadata, PIPELINE_ENTRY: sio.dumps({"a": 1})})

    with pytest.raises(MalformedArtifact, match="expected a fitted Pipeline"):
        load_signed(data, key)


def test_every_refusal_is_a_project_error_with_a_code() -> None:
    for kind in (ArtifactTampered, BadSignature, ZipBombSuspected, MalformedArtifact):
        assert issubclass(kind, ArtifactRejected) and issubclass(kind, StreamMLError)
        assert kind.code != ArtifactRejected.code


def test_metadata_records_what_the_bundle_knows(logistic_bundle: ModelBundle, key: bytes) -> None:
    meta = sign_bundle(logistic_bundle, SIGNER).metadata

    assert (meta.model, meta.version, meta.schema) == ("conversion", 1, logistic_bundle.schema)
    assert msgspec.json.decode(msgspec.json.encode(meta)) is not None


def test_lineage_survives_the_round_trip(logistic_bundle: ModelBundle, key: bytes) -> None:
    lineage = (TopicRange(topic="labeled-events", partition=2, first=10, last=99),)
    signed = sign_bundle(dataclasses.replace(logistic_bundle, lineage=lineage), SIGNER)

    loaded = load_artifact(signed.data, signed.sha256, signed.signature, KEYS,
                           key_id=signed.key_id)

    assert loaded.lineage == lineage
