"""What a refused client is told: the setting to check, never the password."""

from __future__ import annotations

from contracts.broker_access import refusal_message
from contracts.settings import Secret, Settings

SETTINGS = Settings(bootstrap_servers="k:9093", security_protocol="SASL_SSL",
                    sasl_mechanism="SCRAM-SHA-512", sasl_username="ann",
                    sasl_password=Secret("hunter2"))


def test_authentication_names_the_user_and_the_settings_to_check() -> None:
    message = refusal_message("authentication", "invalid credentials", SETTINGS)
    assert message.startswith("authentication failed for user 'ann' (SCRAM-SHA-512) at k:9093")
    assert "STREAMML_SASL_PASSWORD" in message and "hunter2" not in message


def test_tls_points_at_the_ca_and_the_host_name() -> None:
    message = refusal_message("tls", "certificate verify failed", SETTINGS)
    assert "STREAMML_SSL_CA_LOCATION" in message and "certificate verify failed" in message


def test_silence_names_the_protocol_in_use() -> None:
    message = refusal_message("none", "within 10 s (last error: transport failure)", SETTINGS)
    assert message.startswith("no broker answered at k:9093 with "
                              "STREAMML_SECURITY_PROTOCOL=SASL_SSL within 10 s")
    assert "streamml kafka start" in message and "\n" not in message
