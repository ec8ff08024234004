"""Publish a signed artifact to ``model-versions`` and point the deployment at it.

Records are keyed ``<model>/<version>`` (the artifact) and ``<model>/deployment``
(which versions serve); the topic is compacted, so the latest of each key stays.
Both are signed with the trainer's private key as they are written.
Each record is acknowledged by the broker before the next is sent, so a deployment
never points at a version that did not land.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import msgspec

from contracts.kafka_clients import make_producer
from contracts.records import Deployment, ModelVersion
from contracts.settings import SharedSettings
from contracts.topics import MODEL_ARTIFACT_MAX_BYTES, Topics
from scorer.artifact import SignedArtifact
from scorer.exceptions import RegistryError
from scorer.signing import Signer, signer_from

logger = logging.getLogger(__name__)


class ProducerLike(Protocol):
    """The part of ``confluent_kafka.Producer`` publishing needs (a fake in tests)."""

    def produce(
        self, topic: str, *, value: bytes, key: bytes, on_delivery: Callable[[Any, Any], None]
    ) -> None: ...

    def flush(self, timeout: float = ...) -> int: ...


def version_key(model: str, version: int) -> bytes:
    """The record key of one version.

    >>> version_key("conversion", 7)
    b'conversion/7'
    """
    return f"{model}/{version}".encode()


def deployment_key(model: str) -> bytes:
    """The record key of a model's deployment pointer.

    >>> deployment_key("conversion")
    b'conversion/deployment'
    """
    return f"{model}/deployment".encode()


def model_version_record(artifact: SignedArtifact, *, trigger: str = "manual") -> ModelVersion:
    """The ``model-versions`` record of an artifact, unsigned until published.

    ``feature_schema`` holds ``features`` (ordered specs), ``dropped`` (column names)
    and ``reference`` (training distributions), each as JSON, so readers can check
    compatibility and drift without loading the model.
    """
    meta = artifact.metadata
    return ModelVersion(
        model=meta.model, version=meta.version, created_at=meta.created_at,
        artifact=artifact.data, sha256=artifact.sha256,
        feature_schema={
            "features": msgspec.Raw(msgspec.json.encode(meta.schema.features)),
            "dropped": msgspec.Raw(msgspec.json.encode(meta.schema.dropped)),
            "reference": msgspec.Raw(meta.reference.to_json()),
        },
        metrics=dict(meta.metrics), lineage=list(meta.lineage), trigger=trigger,
        threshold=meta.threshold,
    )


def deployment_record(
    model: str,
    champion: int,
    *,
    decided_by: str,
    reason: str,
    canary: int | None = None,
    canary_fraction: float = 0.0,
    shadow: int | None = None,
    now: datetime | None = None,
) -> Deployment:
    """A deployment pointer, stamped now (UTC) unless ``now`` is given."""
    return Deployment(
        model=model, champion=champion, canary=canary, canary_fraction=canary_fraction,
        shadow=shadow, decided_by=decided_by, reason=reason, decided_at=now or datetime.now(UTC),
    )


def send_and_wait(
    producer: ProducerLike, topic: str, key: bytes, value: bytes, *, timeout: float = 30.0
) -> None:
    """Produce one record and return once the broker acknowledged it, else raise."""
    if len(value) > MODEL_ARTIFACT_MAX_BYTES:
        raise RegistryError(
            f"the record for {key.decode()} is {len(value)} bytes encoded; the topic takes at "
            f"most {MODEL_ARTIFACT_MAX_BYTES} (artifacts grow by a third in JSON)"
        )
    errors: list[str] = []

    def delivered(error: Any, _message: Any) -> None:
        if error is not None:
            errors.append(str(error))

    producer.produce(topic, value=value, key=key, on_delivery=delivered)
    if producer.flush(timeout) > 0:
        raise RegistryError(f"{key.decode()} was not acknowledged by {topic} within {timeout}s")
    if errors:
        raise RegistryError(f"{key.decode()} could not be written to {topic}: {errors[0]}")


def publish(
    producer: ProducerLike,
    topic: str,
    version: ModelVersion,
    deployment: Deployment | None,
    signer: Signer,
    *,
    timeout: float = 30.0,
) -> None:
    """Sign and write ``version``, wait for it, then ``deployment`` (if any) and wait."""
    send_and_wait(producer, topic, version_key(version.model, version.version),
                  msgspec.json.encode(signer.sign(version)), timeout=timeout)
    logger.info("published model=%s version=%d topic=%s", version.model, version.version, topic)
    if deployment is not None:
        send_and_wait(producer, topic, deployment_key(deployment.model),
                      msgspec.json.encode(signer.sign(deployment)), timeout=timeout)
        logger.info("deployed model=%s champion=%d reason=%r", deployment.model,
                    deployment.champion, deployment.reason)


def publish_as_champion(
    settings: SharedSettings,
    artifact: SignedArtifact,
    *,
    decided_by: str,
    reason: str,
    trigger: str = "manual",
    timeout: float = 30.0,
) -> Deployment:
    """Publish ``artifact`` as a new version and make it the champion; return the deployment."""
    signer = signer_from(settings)
    record = model_version_record(artifact, trigger=trigger)
    deployment = deployment_record(record.model, record.version,
                                   decided_by=decided_by, reason=reason)
    producer = make_producer(settings, **{"message.max.bytes": MODEL_ARTIFACT_MAX_BYTES})
    publish(producer, Topics(settings.topic_prefix).model_versions, record, deployment, signer,
            timeout=timeout)
    return deployment


__all__ = [
    "ProducerLike",
    "deployment_key",
    "deployment_record",
    "model_version_record",
    "publish",
    "publish_as_champion",
    "send_and_wait",
    "version_key",
]
