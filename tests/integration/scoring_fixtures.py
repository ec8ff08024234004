"""Models and events for the scoring tests: trained on simulated history, published for real."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from confluent_kafka import Producer

from contracts.kafka_clients import producer_config
from contracts.records import Deployment, ModelVersion
from contracts.settings import Settings
from contracts.topics import MODEL_ARTIFACT_MAX_BYTES, Topics
from producers.sdk import EventProducer
from producers.simulator import SimulatedEvent, Simulator
from scorer.artifact import SignedArtifact, sign_bundle
from scorer.bundle import ModelBundle
from scorer.datasets import TrainingRow
from scorer.publishing import deployment_record, model_version_record, publish
from scorer.signing import Signer
from scorer.training import train
from tests.signing_keys import PRIVATE_KEY, SIGNER

# The private key of the fixtures; processes under test that only verify get
# tests.signing_keys.PUBLIC_KEY instead.
SIGNING_KEY = PRIVATE_KEY


def trained_bundle(version: int = 1, *, seed: int = 1, rows: int = 3000,
                   extra_feature: str | None = None) -> ModelBundle:
    """A model trained on simulated history; ``extra_feature`` adds a feature events lack."""
    history = Simulator(seed=seed, start=datetime(2026, 1, 1, tzinfo=UTC)).events(rows)
    training_rows = [
        TrainingRow({**i.event.features, **({extra_feature: float(n % 7)} if extra_feature
                                             else {})}, i.label, i.event.ts)
        for n, i in enumerate(history)
    ]
    bundle, _ = train(training_rows, model="conversion", version=version)
    return bundle


def signed(bundle: ModelBundle, signer: Signer = SIGNER) -> SignedArtifact:
    return sign_bundle(bundle, signer)


def publish_record(settings: Settings, record: ModelVersion,
                   deployment: Deployment | None, signer: Signer = SIGNER) -> None:
    producer = Producer(producer_config(settings, **{"message.max.bytes":
                                                     MODEL_ARTIFACT_MAX_BYTES}))
    publish(producer, Topics(settings.topic_prefix).model_versions, record, deployment, signer)


def publish_champion(settings: Settings, artifact: SignedArtifact, **deployment: object) -> None:
    record = model_version_record(artifact)
    champion = deployment.pop("champion", record.version)
    publish_record(settings, record, deployment_record(
        record.model, champion, decided_by="test", reason="test", **deployment))  # type: ignore[arg-type]


def tampered(record: ModelVersion) -> ModelVersion:
    data = bytearray(record.artifact)
    data[len(data) // 2] ^= 0x01
    return msgspec.structs.replace(record, artifact=bytes(data))


def send_events(settings: Settings, n: int, *, seed: int = 7, prefix: str = "e",
                n_users: int = 2000) -> list[SimulatedEvent]:
    simulator = Simulator(seed=seed, start=datetime.now(UTC), id_prefix=prefix, n_users=n_users)
    items = list(simulator.events(n))
    with EventProducer(settings) as producer:
        for item in items:
            producer.send_record(item.event)
    return items
