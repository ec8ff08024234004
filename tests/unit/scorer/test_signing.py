"""Ed25519 signatures on registry records: canonical bytes, key ids, rotation, refusals,
and the settings and command that carry the keys."""

from __future__ import annotations

import base64
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from contracts.exceptions import SettingsError
from contracts.records import Deployment
from contracts.settings import Secret, Settings
from monitor.registry_check import RegistryCheck
from scorer.exceptions import BadSignature, ReplayedDeployment, UnknownSigningKey, UnsignedRecord
from scorer.registry import fold_records
from scorer.registry_guard import DeploymentGuard
from scorer.signing import Signer, TrustedKeys, canonical_bytes, key_id, signer_from, trusted_keys
from streamml.cli.main import main
from tests.signing_keys import KEYS, OTHER_PUBLIC_KEY, OTHER_SIGNER, PRIVATE_KEY, PUBLIC_KEY, SIGNER

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def deployment(champion: int, at: datetime = T0) -> Deployment:
    return Deployment(model="conversion", champion=champion, decided_by="test", reason="r",
                      decided_at=at)


def test_canonical_bytes_sort_keys_and_leave_out_only_the_signature() -> None:
    signed = SIGNER.sign(deployment(1))
    data = canonical_bytes(signed)
    assert b"signature" not in data and SIGNER.key_id.encode() in data
    assert data == canonical_bytes(msgspec.structs.replace(signed, signature="other"))
    assert list(msgspec.json.decode(data)) == sorted(msgspec.json.decode(data))


def test_the_key_id_is_the_start_of_the_public_keys_sha256() -> None:
    assert SIGNER.key_id == key_id(base64.b64decode(PUBLIC_KEY)) and len(SIGNER.key_id) == 16
    assert SIGNER.key_id != OTHER_SIGNER.key_id


def test_a_signed_record_verifies_and_any_change_breaks_it() -> None:
    signed = SIGNER.sign(deployment(1))
    assert KEYS.verify(signed) == signed
    with pytest.raises(BadSignature) as info:
        KEYS.verify(msgspec.structs.replace(signed, champion=2))
    assert info.value.code == "bad-signature"


def test_unsigned_and_unknown_key_records_are_refused_with_their_own_reasons() -> None:
    with pytest.raises(UnsignedRecord):
        KEYS.verify(deployment(1))
    with pytest.raises(UnknownSigningKey, match="STREAMML_MODEL_PUBLIC_KEYS"):
        KEYS.verify(OTHER_SIGNER.sign(deployment(1)))
    # A foreign signature under our key id is a bad signature, not an unknown key.
    forged = msgspec.structs.replace(OTHER_SIGNER.sign(deployment(1)), key_id=SIGNER.key_id)
    with pytest.raises(BadSignature) as info:
        KEYS.verify(forged)
    assert info.value.code == "bad-signature"


def test_during_a_rotation_both_keys_are_trusted() -> None:
    both = TrustedKeys.from_raw([SIGNER.public_key, OTHER_SIGNER.public_key])
    for signer in (SIGNER, OTHER_SIGNER):
        assert both.verify(signer.sign(deployment(1))).champion == 1
    settings = Settings.from_mapping(
        {"STREAMML_MODEL_PUBLIC_KEYS": f"{PUBLIC_KEY},\n{OTHER_PUBLIC_KEY}"})
    assert set(trusted_keys(settings).keys) == {SIGNER.key_id, OTHER_SIGNER.key_id}


def test_a_deployment_not_newer_than_the_last_applied_is_refused() -> None:
    guard = DeploymentGuard(KEYS)
    guard.applied(guard.check(SIGNER.sign(deployment(2, T0 + timedelta(1)))))
    for at in (T0, T0 + timedelta(1)):
        with pytest.raises(ReplayedDeployment):
            guard.check(SIGNER.sign(deployment(1, at)))


def test_the_registry_reader_skips_what_is_not_signed_by_a_trusted_key() -> None:
    records = [(b"conversion/deployment", msgspec.json.encode(SIGNER.sign(deployment(2)))),
               (b"conversion/deployment", msgspec.json.encode(deployment(1, T0 + timedelta(1)))),
               (b"conversion/deployment",
                msgspec.json.encode(OTHER_SIGNER.sign(deployment(1, T0 + timedelta(2)))))]
    state = fold_records(records, "conversion", KEYS)
    assert state.deployment is not None and state.deployment.champion == 2


def test_the_monitor_admits_signed_records_and_alerts_on_the_others() -> None:
    check = RegistryCheck("conversion", KEYS)
    good = SIGNER.sign(deployment(2))
    assert check.admit(b"conversion/deployment", msgspec.json.encode(good)) == (True, None)
    for forged, reason in ((deployment(1, T0 + timedelta(1)), "unsigned"),
                           (OTHER_SIGNER.sign(deployment(1, T0 + timedelta(1))), "unknown-key"),
                           (good, "replayed-deployment")):
        admitted, alert = check.admit(b"conversion/deployment", msgspec.json.encode(forged))
        assert not admitted and alert is not None and alert.severity == "critical"
        assert alert.kind == "model-refused" and alert.model == "conversion"
        assert msgspec.json.decode(alert.details["reason"]) == reason
    assert check.refusals == {"unsigned": 1, "unknown-key": 1, "replayed-deployment": 1}


@pytest.mark.parametrize("value, says", [
    ("a", "not base64"),
    (base64.b64encode(b"short").decode(), "holds 5 bytes"),
    ("REPLACE-ME-WITH-streamml-keys-generate", "placeholder"),
    ("REPLACE-ME-WITH-A-LONG-RANDOM-SECRET", "placeholder"),
    (base64.b64encode(bytes(32)).decode(), "one byte repeated"),
])
def test_settings_refuse_malformed_short_and_placeholder_keys(value: str, says: str) -> None:
    for variable in ("STREAMML_MODEL_PRIVATE_KEY", "STREAMML_MODEL_PUBLIC_KEYS"):
        with pytest.raises(SettingsError, match=says) as info:
            Settings.from_mapping({variable: value})
        assert variable in str(info.value) and "\n" not in str(info.value)
        assert value not in str(info.value) or "REPLACE" not in value


def test_without_keys_the_settings_say_what_to_set() -> None:
    with pytest.raises(SettingsError, match="set STREAMML_MODEL_PRIVATE_KEY"):
        signer_from(Settings())
    with pytest.raises(SettingsError, match="set STREAMML_MODEL_PUBLIC_KEYS"):
        trusted_keys(Settings())
    holder = Settings(model_private_key=Secret(PRIVATE_KEY))
    assert signer_from(holder).key_id == SIGNER.key_id
    assert set(trusted_keys(holder).keys) == {SIGNER.key_id}


def test_keys_generate_writes_a_private_file_only_its_owner_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in list(os.environ):
        if name.startswith("STREAMML_MODEL_"):
            monkeypatch.delenv(name)
    assert main(["keys", "generate", "--out", str(tmp_path)]) == 0
    private, public = tmp_path / "model_private_key", tmp_path / "model_public_key"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    signer = Signer.from_raw(base64.b64decode(private.read_text()))
    assert base64.b64decode(public.read_text()) == signer.public_key
    printed = capsys.readouterr().out
    assert f"STREAMML_MODEL_PUBLIC_KEYS={signer.public_text()}" in printed
    assert signer.private_text() not in printed
    assert main(["keys", "generate", "--out", str(tmp_path)]) == 2  # never overwritten
    assert "exists" in capsys.readouterr().err
