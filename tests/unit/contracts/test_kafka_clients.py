"""Client configuration: one place, same security for both transports, safe defaults."""

from __future__ import annotations

import ssl

from contracts.kafka_clients import (
    aiokafka_config,
    common_config,
    consumer_config,
    producer_config,
)
from contracts.settings import Secret, Settings

MUST_NOT_LEAK = "hunter2-do-not-print"

SECURE = Settings(
    bootstrap_servers="k1:9093,k2:9093",
    security_protocol="SASL_SSL",
    sasl_mechanism="SCRAM-SHA-256",
    sasl_username="svc",
    sasl_password=Secret(MUST_NOT_LEAK),
)


def test_common_config_for_plaintext_holds_only_the_connection() -> None:
    assert common_config(Settings(bootstrap_servers="k:9092")) == {
        "bootstrap.servers": "k:9092",
        "security.protocol": "PLAINTEXT",
    }


def test_common_config_passes_sasl_and_tls_through() -> None:
    settings = SECURE.with_overrides(
        ssl_ca_location="/etc/ca.pem",
        ssl_certificate_location="/etc/client.pem",
        ssl_key_location="/etc/client.key",
        ssl_key_password=Secret("keypass"),
    )

    config = common_config(settings)

    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.mechanism"] == "SCRAM-SHA-256"
    assert config["sasl.username"] == "svc"
    assert config["sasl.password"] == MUST_NOT_LEAK
    assert config["ssl.ca.location"] == "/etc/ca.pem"
    assert config["ssl.certificate.location"] == "/etc/client.pem"
    assert config["ssl.key.location"] == "/etc/client.key"
    assert config["ssl.key.password"] == "keypass"


def test_producer_is_idempotent_and_waits_for_all_replicas() -> None:
    config = producer_config(SECURE)

    assert config["enable.idempotence"] is True
    assert config["acks"] == "all"
    assert config["sasl.password"] == MUST_NOT_LEAK
    assert config["bootstrap.servers"] == "k1:9093,k2:9093"


def test_producer_overrides_win() -> None:
    assert producer_config(Settings(), **{"linger.ms": 0})["linger.ms"] == 0


def test_consumer_never_commits_on_its_own() -> None:
    config = consumer_config(SECURE, "scoring")

    assert config["group.id"] == "streamml.scoring"
    assert config["enable.auto.commit"] is False
    assert config["enable.auto.offset.store"] is False
    assert config["isolation.level"] == "read_committed"
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.password"] == MUST_NOT_LEAK


def test_consumers_take_the_session_timeout_and_heartbeat_a_third_as_often() -> None:
    default = consumer_config(Settings(), "scoring")
    short = consumer_config(Settings(session_timeout_s=8), "scoring")

    assert (default["session.timeout.ms"], default["heartbeat.interval.ms"]) == (45_000, 3000)
    assert (short["session.timeout.ms"], short["heartbeat.interval.ms"]) == (8000, 2666)


def test_aiokafka_config_for_plaintext_has_no_tls_or_sasl() -> None:
    config = aiokafka_config(Settings(bootstrap_servers="a:1,b:2"))

    assert config == {"bootstrap_servers": ["a:1", "b:2"], "security_protocol": "PLAINTEXT"}


def test_aiokafka_config_passes_sasl_and_tls_through() -> None:
    config = aiokafka_config(SECURE)

    assert config["bootstrap_servers"] == ["k1:9093", "k2:9093"]
    assert config["security_protocol"] == "SASL_SSL"
    assert config["sasl_mechanism"] == "SCRAM-SHA-256"
    assert config["sasl_plain_username"] == "svc"
    assert config["sasl_plain_password"] == MUST_NOT_LEAK
    assert isinstance(config["ssl_context"], ssl.SSLContext)


def test_aiokafka_config_has_no_tls_context_for_sasl_plaintext() -> None:
    config = aiokafka_config(SECURE.with_overrides(security_protocol="SASL_PLAINTEXT"))

    assert "ssl_context" not in config
    assert config["sasl_plain_password"] == MUST_NOT_LEAK
