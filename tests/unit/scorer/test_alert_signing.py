"""Alerts signed with the alert key are admitted; unsigned, other keys, changed: refused."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import msgspec
import pytest

from contracts.exceptions import SettingsError
from contracts.records import Alert
from contracts.settings import Secret, Settings
from scorer.alert_signing import AlertGate, alert_signer_from, alert_trusted_keys
from scorer.exceptions import UnknownSigningKey
from tests.signing_keys import (
    ALERT_KEYS,
    ALERT_PRIVATE_KEY,
    ALERT_PUBLIC_KEY,
    ALERT_SIGNER,
    OTHER_SIGNER,
    SIGNER,
)

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def drift(**changes: object) -> Alert:
    alert = Alert(fingerprint="f1", kind="concept-drift", severity="warning", status="firing",
                  model="conversion", version=1, metric="adwin_error", value=0.3,
                  threshold=0.2, window="1000 labels", details={}, started_at=NOW,
                  runbook="https://runbooks.example/drift")
    return msgspec.structs.replace(alert, **changes)


def test_a_signed_alert_is_admitted_after_a_trip_through_json() -> None:
    gate = AlertGate(ALERT_KEYS)
    sent = msgspec.json.encode(ALERT_SIGNER.sign(drift()))
    assert gate.admit(msgspec.json.decode(sent, type=Alert))
    assert gate.refusals == {}


@pytest.mark.parametrize(("alert", "reason"), [
    (drift(), "unsigned"),
    (OTHER_SIGNER.sign(drift()), "unknown-key"),
    (SIGNER.sign(drift()), "unknown-key"),  # the model key does not sign alerts
    (msgspec.structs.replace(ALERT_SIGNER.sign(drift()), runbook="javascript:alert(1)"),
     "bad-signature"),
    (msgspec.structs.replace(ALERT_SIGNER.sign(drift()), model=""), "bad-signature"),
])
def test_unsigned_unknown_and_changed_alerts_are_refused_by_reason(alert: Alert,
                                                                   reason: str) -> None:
    gate = AlertGate(ALERT_KEYS)
    assert not gate.admit(alert)
    assert gate.refusals == {reason: 1}


def test_the_unknown_key_message_names_the_alert_setting() -> None:
    with pytest.raises(UnknownSigningKey, match="STREAMML_ALERT_PUBLIC_KEYS"):
        ALERT_KEYS.verify(OTHER_SIGNER.sign(drift()))


def test_refusals_are_logged_once_per_key_and_reason_then_at_powers_of_ten(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = AlertGate(ALERT_KEYS)
    with caplog.at_level(logging.WARNING, logger="scorer.alert_signing"):
        for n in range(150):
            gate.admit(drift(fingerprint=f"u{n}"))
            gate.admit(OTHER_SIGNER.sign(drift(fingerprint=f"o{n}")))
    assert gate.refusals == {"unsigned": 150, "unknown-key": 150}
    said = [(r.args[0], r.args[2]) for r in caplog.records]  # type: ignore[index]
    assert said == [(reason, n) for n in (1, 10, 100) for reason in ("unsigned", "unknown-key")]


def test_the_alert_key_comes_from_settings_and_is_trusted_with_the_listed_ones() -> None:
    holder = Settings(alert_private_key=Secret(ALERT_PRIVATE_KEY))
    assert alert_signer_from(holder).public_text() == ALERT_PUBLIC_KEY
    reader = Settings(alert_public_keys=f"{OTHER_SIGNER.public_text()}\n{ALERT_PUBLIC_KEY}")
    assert set(alert_trusted_keys(reader).keys) == {OTHER_SIGNER.key_id, ALERT_SIGNER.key_id}
    assert set(alert_trusted_keys(holder).keys) == {ALERT_SIGNER.key_id}


def test_missing_or_placeholder_alert_keys_are_refused_with_the_variable() -> None:
    with pytest.raises(SettingsError, match="set STREAMML_ALERT_PRIVATE_KEY"):
        alert_signer_from(Settings())
    with pytest.raises(SettingsError, match="set STREAMML_ALERT_PUBLIC_KEYS"):
        alert_trusted_keys(Settings())
    with pytest.raises(SettingsError, match="STREAMML_ALERT_PUBLIC_KEYS holds a placeholder"):
        Settings.from_mapping({"STREAMML_ALERT_PUBLIC_KEYS": "REPLACE-ME-with-a-key"})
    with pytest.raises(SettingsError, match="STREAMML_ALERT_PRIVATE_KEY"):
        Settings.from_mapping({"STREAMML_ALERT_PRIVATE_KEY": "c2hvcnQ="})
