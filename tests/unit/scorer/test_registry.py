from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from scorer.artifact import sign_bundle
from scorer.bundle import ModelBundle
from scorer.exceptions import RegistryError
from scorer.publishing import deployment_key, deployment_record, model_version_record, version_key
from scorer.registry import RegistryState, fold_records, schema_of
from tests.signing_keys import KEYS, SIGNER

NOW = datetime(2026, 1, 2, tzinfo=UTC)


def version_records(bundle: ModelBundle, key: bytes, *versions: int) -> list[tuple[bytes, bytes]]:
    records = []
    for v in versions:
        record = model_version_record(sign_bundle(bundle.with_version(v), SIGNER))
        records.append((version_key("conversion", v), msgspec.json.encode(SIGNER.sign(record))))
    return records


def deploy(champion: int) -> tuple[bytes, bytes]:
    record = deployment_record("conversion", champion, decided_by="t", reason="r",
                               now=NOW + timedelta(seconds=champion))
    return deployment_key("conversion"), msgspec.json.encode(SIGNER.sign(record))


def test_an_empty_registry_starts_at_version_one() -> None:
    state = fold_records([], "conversion", KEYS)

    assert state == RegistryState(model="conversion", versions={}, deployment=None)
    assert state.next_version == 1


def test_versions_and_the_latest_deployment_are_known_and_next_is_max_plus_one(
    logistic_bundle: ModelBundle, key: bytes
) -> None:
    records = [*version_records(logistic_bundle, key, 1, 2), deploy(1),
               *version_records(logistic_bundle, key, 5), deploy(2)]

    state = fold_records(records, "conversion", KEYS)

    assert sorted(state.versions) == [1, 2, 5]
    assert state.next_version == 6
    assert state.deployment is not None and state.deployment.champion == 2
    assert state.versions[5].artifact == b""  # metadata only, unless asked
    assert schema_of(state.versions[5]) == logistic_bundle.schema


def test_artifacts_are_kept_when_asked(logistic_bundle: ModelBundle, key: bytes) -> None:
    records = version_records(logistic_bundle, key, 1)

    state = fold_records(records, "conversion", KEYS, keep_artifacts=True)

    assert state.versions[1].artifact.startswith(b"PK")


def test_tombstones_delete_and_other_models_are_ignored(
    logistic_bundle: ModelBundle, key: bytes
) -> None:
    records = [
        *version_records(logistic_bundle, key, 1, 2),
        deploy(2),
        (b"conversion/2", None),
        (b"conversion/deployment", None),
        (b"churn/9", b"{}"),
        (None, b"{}"),
    ]

    state = fold_records(records, "conversion", KEYS)

    assert list(state.versions) == [1]
    assert state.deployment is None


def test_an_undecodable_record_is_skipped_and_logged(
    logistic_bundle: ModelBundle, key: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    records = [*version_records(logistic_bundle, key, 1), (b"conversion/2", b"{not json")]

    state = fold_records(records, "conversion", KEYS)

    assert list(state.versions) == [1]
    assert "skipped registry record" in caplog.text


def test_a_record_without_a_schema_says_so(logistic_bundle: ModelBundle, key: bytes) -> None:
    record = model_version_record(sign_bundle(logistic_bundle, SIGNER))
    bare = msgspec.structs.replace(record, feature_schema={})

    with pytest.raises(RegistryError, match="no readable feature schema"):
        schema_of(bare)
