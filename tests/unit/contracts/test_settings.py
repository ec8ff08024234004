"""Settings: defaults, environment and file parsing, validation, and secrets kept secret."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from contracts.exceptions import SettingsError
from contracts.settings import (
    LOG_LEVELS,
    SASL_MECHANISMS,
    SECURITY_PROTOCOLS,
    JoinerSettings,
    MonitorSettings,
    RetrainerSettings,
    ScoringSettings,
    Secret,
    Settings,
    SharedSettings,
    describe,
)
from tests.signing_keys import PRIVATE_KEY

MUST_NOT_LEAK = "hunter2-do-not-print"
SASL = {
    "STREAMML_SECURITY_PROTOCOL": "SASL_SSL",
    "STREAMML_SASL_MECHANISM": "SCRAM-SHA-512",
    "STREAMML_SASL_USERNAME": "svc-scorer",
    "STREAMML_SASL_PASSWORD": MUST_NOT_LEAK,
}


def settings_file(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "streamml.toml"
    path.write_text(text)
    return {"STREAMML_SETTINGS_FILE": str(path)}


def test_empty_environment_gives_the_laptop_defaults() -> None:
    settings = Settings.from_mapping({})

    assert settings == Settings()
    assert settings.bootstrap_servers == "127.0.0.1:9092"
    assert settings.security_protocol == "PLAINTEXT"
    assert (settings.partitions, settings.replication_factor) == (3, 1)
    assert settings.sasl_password is None
    assert settings.log_level == "INFO"


def test_variables_are_parsed_to_their_types() -> None:
    settings = Settings.from_mapping(
        {
            "STREAMML_PARTITIONS": " 6 ",
            "STREAMML_SCORING_PORT": "7000",
            "STREAMML_TOPIC_PREFIX": "ci.",
            "STREAMML_LOG_LEVEL": "debug",
            "STREAMML_MODEL_PRIVATE_KEY": PRIVATE_KEY,
        }
    )

    assert settings.partitions == 6
    assert settings.scoring_port == 7000
    assert settings.topic_prefix == "ci."
    assert settings.log_level == "DEBUG"
    assert settings.model_private_key == Secret(PRIVATE_KEY)


def test_empty_variable_counts_as_unset() -> None:
    assert Settings.from_mapping({"STREAMML_PARTITIONS": ""}).partitions == 3


def test_unrelated_variables_are_ignored() -> None:
    assert Settings.from_mapping({"PATH": "/bin", "STREAMML": "x"}) == Settings()


def test_kafka_bootstrap_servers_is_read_as_an_alias() -> None:
    settings = Settings.from_mapping({"KAFKA_BOOTSTRAP_SERVERS": "kafka:9092"})

    assert settings.bootstrap_servers == "kafka:9092"


def test_streamml_bootstrap_servers_wins_over_the_alias() -> None:
    settings = Settings.from_mapping(
        {"KAFKA_BOOTSTRAP_SERVERS": "alias:9092", "STREAMML_BOOTSTRAP_SERVERS": "own:9092"}
    )

    assert settings.bootstrap_servers == "own:9092"


def test_file_values_apply_and_variables_win(tmp_path: Path) -> None:
    environ = settings_file(tmp_path, 'partitions = 5\nmodel_name = "churn"\n')
    environ["STREAMML_PARTITIONS"] = "7"

    settings = Settings.from_mapping(environ)

    assert settings.partitions == 7
    assert settings.model_name == "churn"


def test_unknown_key_in_file_is_rejected_by_name(tmp_path: Path) -> None:
    environ = settings_file(tmp_path, "partitons = 5\n")

    with pytest.raises(SettingsError, match="partitons") as info:
        Settings.from_mapping(environ)

    assert "streamml.toml" in str(info.value)
    assert "partitions" in str(info.value)  # the known names help spot the typo


def test_bad_value_in_file_names_the_file_and_key(tmp_path: Path) -> None:
    environ = settings_file(tmp_path, 'partitions = "many"\n')

    with pytest.raises(SettingsError, match="streamml.toml: partitions") as info:
        Settings.from_mapping(environ)

    assert "whole number" in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(None, "no such file", id="missing-file"),
        pytest.param("partitions = = 5\n", "not valid TOML", id="invalid-toml"),
    ],
)
def test_unreadable_settings_file_is_a_settings_error(
    tmp_path: Path, text: str | None, expected: str
) -> None:
    environ = (
        {"STREAMML_SETTINGS_FILE": str(tmp_path / "absent.toml")}
        if text is None
        else settings_file(tmp_path, text)
    )

    with pytest.raises(SettingsError, match=expected):
        Settings.from_mapping(environ)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        pytest.param("STREAMML_PARTITIONS", "three", "expected a whole number", id="not-an-int"),
        pytest.param(
            "STREAMML_PARTITIONS", "0", "expected a whole number >= 1", id="below-minimum"
        ),
        pytest.param("STREAMML_MONITOR_PORT", "80.5", "expected a whole number", id="float-port"),
    ],
)
def test_bad_number_names_the_variable(variable: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_mapping({variable: value})

    assert variable in str(info.value)
    assert expected in str(info.value)


@pytest.mark.parametrize(
    ("variable", "choices"),
    [
        pytest.param("STREAMML_SECURITY_PROTOCOL", SECURITY_PROTOCOLS, id="security-protocol"),
        pytest.param("STREAMML_SASL_MECHANISM", SASL_MECHANISMS, id="sasl-mechanism"),
        pytest.param("STREAMML_LOG_LEVEL", LOG_LEVELS, id="log-level"),
    ],
)
def test_bad_choice_names_the_variable_and_lists_the_allowed_values(
    variable: str, choices: tuple[str, ...]
) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_mapping({variable: "bogus"})

    assert variable in str(info.value)
    for choice in choices:
        assert choice in str(info.value)


def test_session_timeout_is_45_s_unless_its_variable_says_otherwise() -> None:
    assert Settings.from_mapping({}).session_timeout_s == 45
    assert Settings.from_mapping({"STREAMML_SESSION_TIMEOUT_S": "8"}).session_timeout_s == 8


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("5", "expected a whole number within [6, 1800]", id="below-broker-min"),
        pytest.param("1801", "expected a whole number within [6, 1800]", id="above-broker-max"),
        pytest.param("7.5", "expected a whole number", id="fraction"),
        pytest.param("8s", "expected a whole number", id="unit-suffix"),
    ],
)
def test_a_session_timeout_the_broker_would_refuse_is_refused_at_start(
    value: str, expected: str
) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_mapping({"STREAMML_SESSION_TIMEOUT_S": value})

    assert str(info.value) == f"STREAMML_SESSION_TIMEOUT_S={value!r}: {expected}"


def test_settings_error_is_also_a_value_error() -> None:
    with pytest.raises(ValueError, match="STREAMML_PARTITIONS"):
        Settings.from_mapping({"STREAMML_PARTITIONS": "x"})


@pytest.mark.parametrize("missing", ["STREAMML_SASL_MECHANISM", "STREAMML_SASL_USERNAME"])
def test_sasl_without_its_credentials_is_refused(missing: str) -> None:
    environ = {k: v for k, v in SASL.items() if k != missing}

    with pytest.raises(SettingsError, match=missing) as info:
        Settings.from_mapping(environ)

    assert MUST_NOT_LEAK not in str(info.value)


def test_complete_sasl_settings_are_accepted() -> None:
    settings = Settings.from_mapping(SASL)

    assert settings.security_protocol == "SASL_SSL"
    assert settings.sasl_password is not None
    assert settings.sasl_password.reveal() == MUST_NOT_LEAK


def test_missing_certificate_file_is_refused(tmp_path: Path) -> None:
    absent = tmp_path / "ca.pem"

    with pytest.raises(SettingsError, match="STREAMML_SSL_CA_LOCATION"):
        Settings.from_mapping({"STREAMML_SSL_CA_LOCATION": str(absent)})


def test_secrets_never_show_in_repr_or_str() -> None:
    settings = Settings.from_mapping(
        {**SASL, "STREAMML_ALERT_WEBHOOK_URL": "https://hooks.example/" + MUST_NOT_LEAK}
    )

    assert MUST_NOT_LEAK not in repr(settings)
    assert MUST_NOT_LEAK not in str(settings)
    assert "Secret('***')" in repr(settings)


def test_secret_in_a_rejected_file_never_shows_in_the_error(tmp_path: Path) -> None:
    environ = settings_file(tmp_path, f'sasl_password = "{MUST_NOT_LEAK}"\nbogus = 1\n')

    with pytest.raises(SettingsError) as info:
        Settings.from_mapping(environ)

    assert MUST_NOT_LEAK not in str(info.value)
    assert MUST_NOT_LEAK not in repr(info.value)


def test_secret_in_unparsable_toml_never_shows_in_the_error(tmp_path: Path) -> None:
    environ = settings_file(tmp_path, f'sasl_password = "{MUST_NOT_LEAK}\n')

    with pytest.raises(SettingsError) as info:
        Settings.from_mapping(environ)

    assert MUST_NOT_LEAK not in str(info.value)


def test_with_overrides_returns_a_changed_copy() -> None:
    base = Settings()

    changed = base.with_overrides(partitions=9)

    assert (base.partitions, changed.partitions) == (3, 9)


def test_describe_lists_every_variable_with_its_choices() -> None:
    rows = {variable: doc for _, variable, _, doc in describe()}

    assert "STREAMML_BOOTSTRAP_SERVERS" in rows
    assert "STREAMML_SASL_PASSWORD" in rows
    assert all(level in rows["STREAMML_LOG_LEVEL"] for level in LOG_LEVELS)
    assert len(rows) == len(fields(Settings))


def test_each_service_has_its_own_settings_and_none_of_another_services() -> None:
    """A setting read by one service lives in that service's class, a shared one in the
    shared part; the whole is every part, each setting once."""
    own = {part: {f.name for f in fields(part)} - {f.name for f in fields(SharedSettings)}
           for part in (ScoringSettings, JoinerSettings, MonitorSettings, RetrainerSettings)}

    assert "scoring_port" in own[ScoringSettings] and "monitor_port" in own[MonitorSettings]
    assert "retrain_window_size" in own[RetrainerSettings]
    assert "bootstrap_servers" in {f.name for f in fields(SharedSettings)}
    for part, names in own.items():
        for other, other_names in own.items():
            assert part is other or not names & other_names, (part, other)
    assert {f.name for f in fields(Settings)} == (
        {f.name for f in fields(SharedSettings)}.union(*own.values()))
    sections = {section for section, _, _, _ in describe()}
    assert len(sections) == 5


def test_a_secret_can_come_from_a_file_named_by_its_FILE_variable(tmp_path):
    key = tmp_path / "key"
    key.write_text(PRIVATE_KEY + "\n")
    settings = Settings.from_mapping({"STREAMML_MODEL_PRIVATE_KEY_FILE": str(key)})
    assert settings.model_private_key is not None
    assert settings.model_private_key.reveal() == PRIVATE_KEY
    with pytest.raises(SettingsError, match="STREAMML_MODEL_PRIVATE_KEY_FILE=.*cannot read"):
        Settings.from_mapping({"STREAMML_MODEL_PRIVATE_KEY_FILE": str(tmp_path / "missing")})
