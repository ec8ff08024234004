"""Transport security on a real broker: SASL_SSL with SCRAM-SHA-512, TLS and ACLs.

The module starts a broker of its own whose only client listener is SASL_SSL. Every
component runs as a real process signed in as its own user, with only the ACLs its
role needs (:mod:`contracts.component_access`); the admin user creates the topics and
grants the ACLs. Refusals are checked too: plaintext, a wrong password, a host name
the certificate does not name, and a scoring worker's user publishing a model.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
from aiokafka.errors import KafkaConnectionError
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from contracts.broker_access import BrokerAccessError, check_access
from contracts.kafka_clients import aiokafka_config
from contracts.records import LabeledEvent, Prediction
from contracts.settings import Secret, Settings
from contracts.topics import ALL_TOPICS, Topics
from producers.sdk import EventProducer, LabelProducer
from producers.simulator import SimulatedEvent, Simulator
from scorer.artifact import SignedArtifact
from scorer.exceptions import RegistryError
from scorer.publishing import publish_as_champion
from streamml.broker.single_node import answers, free_port
from tests.faults.secure_broker import ADMIN, SecureBroker
from tests.faults.workers import wait_until
from tests.integration.processes import (
    Child,
    http_get,
    settings_env,
    streamml_child,
    wait_for_health,
)
from tests.integration.scoring_fixtures import signed, trained_bundle
from tests.integration.topic_reader import read_topic

PREDICTION = msgspec.json.Decoder(Prediction)
LABELED = msgspec.json.Decoder(LabeledEvent)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory,
           in_memory: Path | None) -> Iterator[SecureBroker]:
    secure = SecureBroker.start(tmp_path_factory.mktemp("secure-kafka"), in_memory)
    try:
        yield secure
    finally:
        secure.stop()


@dataclass
class Pipeline:
    broker: SecureBroker
    settings: Settings  # topics and groups, no credentials
    topics_output: str
    processor: Child
    processor_port: int
    monitor_port: int

    def as_component(self, component: str) -> Settings:
        return self.broker.as_component(self.settings, component)


def _cli(args: list[str], settings: Settings, timeout: float = 120.0) \
        -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streamml", *args], env=settings_env(settings),
                          capture_output=True, text=True, timeout=timeout, check=False)


def _start(stack: ExitStack, command: str, settings: Settings, log: Path, **env: str) \
        -> tuple[Child, int]:
    port = free_port()
    child = stack.enter_context(streamml_child(
        [command, "--web-port", str(port), *(["--data-dir", str(log.with_suffix(""))]
                                             if command == "process" else [])],
        settings_env(settings, **env), log))
    return child, port


@pytest.fixture(scope="module")
def first_model() -> SignedArtifact:
    return signed(trained_bundle(1))


@pytest.fixture(scope="module")
def pipeline(broker: SecureBroker, first_model: SignedArtifact,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """Topics created by the admin over the CLI, a champion published by the retrainer,
    and a processor, a joiner and a monitor running, each as its own user."""
    workdir = tmp_path_factory.mktemp("secure-pipeline")
    settings = broker.deployment()
    created = _cli(["topics", "create"], broker.as_user(settings, ADMIN))
    assert created.returncode == 0, created.stderr
    broker.grant_components(settings)
    publish_as_champion(broker.as_component(settings, "retrainer"), first_model,
                        decided_by="test", reason="first model")
    with ExitStack() as stack:
        started = {
            name: _start(stack, command, broker.as_component(settings, name),
                         workdir / f"{name}.log")
            for name, command in (("processor", "process"), ("joiner", "join"),
                                  ("monitor", "monitor"))
        }
        for child, port in started.values():
            wait_for_health(child, port, timeout=120)
        yield Pipeline(broker, settings, created.stdout, *started["processor"],
                       started["monitor"][1])


def _events(n: int, prefix: str) -> list[SimulatedEvent]:
    return list(Simulator(seed=3, start=datetime.now(UTC), id_prefix=prefix).events(n))


def _send_events(settings: Settings, items: list[SimulatedEvent]) -> None:
    with EventProducer(settings) as producer:
        for item in items:
            producer.send_record(item.event)
        assert producer.flush(60).delivered == len(items)


def _predictions(reader: Settings, ids: set[str], timeout: float = 90.0) -> dict[str, Prediction]:
    topic = Topics(reader.topic_prefix).predictions
    records = read_topic(reader, topic, timeout=timeout, until=lambda rs: ids <= {
        PREDICTION.decode(r.value).event_id for r in rs})
    found = {p.event_id: p for p in (PREDICTION.decode(r.value) for r in records)}
    assert ids <= set(found), f"unscored: {sorted(ids - set(found))[:5]}"
    return found


def test_every_component_works_signed_in_as_its_own_user(pipeline: Pipeline) -> None:
    admin = pipeline.broker.as_user(pipeline.settings, ADMIN)
    assert pipeline.topics_output.count(" created") == len(ALL_TOPICS), pipeline.topics_output
    items = _events(30, "sec")
    _send_events(pipeline.as_component("producer"), items)
    ids = {i.event.event_id for i in items}
    assert {p.version for p in _predictions(admin, ids).values()} == {1}

    with LabelProducer(pipeline.as_component("producer")) as labels:
        for item in items:
            labels.send(event_id=item.event.event_id, user_id=item.event.user_id,
                        label=item.label)
    labeled = read_topic(admin, Topics(admin.topic_prefix).labeled_events, timeout=90,
                         until=lambda rs: ids <= {LABELED.decode(r.value).event_id for r in rs})
    assert ids <= {LABELED.decode(r.value).event_id for r in labeled}

    health_url = f"http://127.0.0.1:{pipeline.monitor_port}/health"
    wait_until(lambda: json.loads(http_get(health_url)[1])["records"] >= len(ids), 60,
               "the monitor counting the scored events")


def test_only_the_retrainers_user_may_publish_a_model(pipeline: Pipeline) -> None:
    challenger = signed(trained_bundle(2, seed=2))
    with pytest.raises(RegistryError, match="TOPIC_AUTHORIZATION_FAILED|[Aa]uthoriz"):
        publish_as_champion(pipeline.as_component("processor"), challenger,
                            decided_by="test", reason="a taken-over worker", timeout=30)
    publish_as_champion(pipeline.as_component("retrainer"), challenger,
                        decided_by="test", reason="retrained")

    # The processor serves on, and swaps to the retrainer's version.
    admin = pipeline.broker.as_user(pipeline.settings, ADMIN)

    def scored_by_version_2() -> bool:
        items = _events(5, f"after-{time.monotonic_ns()}")
        _send_events(pipeline.as_component("producer"), items)
        found = _predictions(admin, {i.event.event_id for i in items})
        return all(found[i.event.event_id].version == 2 for i in items)

    wait_until(scored_by_version_2, 90, "events scored by version 2", step=1.0)
    assert pipeline.processor.process.poll() is None


def test_faust_runner_signs_in_with_its_credentials(
        broker: SecureBroker, first_model: SignedArtifact, tmp_path: Path) -> None:
    settings = broker.deployment()
    broker.create_topics(settings)
    broker.grant_components(settings)
    publish_as_champion(broker.as_component(settings, "retrainer"), first_model,
                        decided_by="test", reason="first model")
    with ExitStack() as stack:
        child, port = _start(stack, "process", broker.as_component(settings, "processor"),
                             tmp_path / "faust.log", STREAMML_SCORING_RUNNER="faust")
        wait_for_health(child, port, timeout=120)
        items = _events(10, "faust")
        _send_events(broker.as_component(settings, "producer"), items)
        _predictions(broker.as_user(settings, ADMIN), {i.event.event_id for i in items}, 120)


def _metadata_answered(config: dict[str, object], timeout: float = 5.0) -> bool:
    admin = AdminClient({**config, "log_level": 0})
    try:
        admin.list_topics(timeout=timeout)
    except KafkaException:
        return False
    return True


def test_a_plaintext_client_is_refused(broker: SecureBroker) -> None:
    assert not _metadata_answered({"bootstrap.servers": broker.bootstrap})
    assert not answers(broker.bootstrap)
    assert answers(broker.bootstrap, client_config=broker.security.client_config(ADMIN))
    plaintext = broker.deployment()
    with pytest.raises(BrokerAccessError, match="no broker answered .*SECURITY_PROTOCOL=PLAINTEXT"):
        check_access(plaintext, timeout=5)


def test_a_wrong_password_is_refused_with_a_clear_error(broker: SecureBroker) -> None:
    settings = broker.as_user(broker.deployment(), ADMIN).with_overrides(
        sasl_password=Secret("not-the-password"))
    began = time.monotonic()
    result = _cli(["topics", "create"], settings)
    assert result.returncode == 2, result.stderr
    assert "authentication failed for user 'admin'" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert "not-the-password" not in result.stderr
    assert time.monotonic() - began < 60


def test_a_host_name_the_certificate_does_not_name_is_refused(
        broker: SecureBroker, caplog: pytest.LogCaptureFixture) -> None:
    port = broker.bootstrap.rpartition(":")[2]
    settings = broker.as_user(broker.deployment(), ADMIN).with_overrides(
        bootstrap_servers=f"localhost:{port}")
    with pytest.raises(BrokerAccessError, match="TLS handshake .* failed") as refused:
        check_access(settings, timeout=30)
    assert "certificate verify failed" in str(refused.value)
    # The same client without the name check gets in: the name was the only fault.
    config = {**broker.security.client_config(ADMIN), "bootstrap.servers": f"localhost:{port}"}
    assert _metadata_answered({**config, "ssl.endpoint.identification.algorithm": "none"},
                              timeout=30)

    async def aiokafka_connect() -> None:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(request_timeout_ms=10_000, **aiokafka_config(settings))
        try:
            await producer.start()
        finally:
            await producer.stop()

    # faust's client (aiokafka) checks the name as strictly.
    with pytest.raises(KafkaConnectionError):
        asyncio.run(aiokafka_connect())
    assert "Hostname mismatch, certificate is not valid for 'localhost'" in caplog.text
