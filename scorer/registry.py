"""Read the compacted ``model-versions`` topic: which versions exist, which one serves.

The topic is read from its beginning to its end with assigned partitions and no
consumer-group commits, so any number of readers can do it at any time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

import msgspec

from contracts.kafka_clients import make_consumer
from contracts.records import Deployment, ModelVersion
from contracts.settings import Settings
from contracts.topics import Topics
from scorer.exceptions import ArtifactRejected, RegistryError
from scorer.feature_schema import FeatureSchema, FeatureSpec
from scorer.reference import ReferenceStats
from scorer.registry_guard import DeploymentGuard
from scorer.signing import TrustedKeys, trusted_keys

logger = logging.getLogger(__name__)

_VERSION: Final = msgspec.json.Decoder(ModelVersion)
_DEPLOYMENT: Final = msgspec.json.Decoder(Deployment)


@dataclass(frozen=True, slots=True)
class RegistryState:
    """The versions of one model (artifact bytes dropped unless asked for) and its deployment.

    >>> RegistryState(model="m", versions={}, deployment=None).next_version
    1
    """

    model: str
    versions: Mapping[int, ModelVersion]
    deployment: Deployment | None

    @property
    def next_version(self) -> int:
        return max(self.versions, default=0) + 1


def fold_records(
    records: Iterable[tuple[bytes | None, bytes | None]],
    model: str,
    keys: TrustedKeys,
    *,
    keep_artifacts: bool = False,
) -> RegistryState:
    """The registry state after ``(key, value)`` records in topic order.

    A later record of a key replaces an earlier one and an empty value (tombstone)
    deletes it, as compaction would. Records that do not decode, are not signed by
    one of ``keys``, or (deployments) are older than the one before are logged and
    skipped.
    """
    versions: dict[int, ModelVersion] = {}
    deployment: Deployment | None = None
    guard = DeploymentGuard(keys)
    for key, value in records:
        name, _, suffix = (key or b"").decode(errors="replace").rpartition("/")
        if name != model:
            continue
        try:
            if suffix == "deployment":
                deployment = guard.applied(guard.check(_DEPLOYMENT.decode(value))) \
                    if value else None
            elif suffix.isdigit():
                if not value:
                    versions.pop(int(suffix), None)
                    continue
                record = keys.verify(_VERSION.decode(value))
                versions[record.version] = (
                    record if keep_artifacts else msgspec.structs.replace(record, artifact=b"")
                )
        except (msgspec.DecodeError, ArtifactRejected) as exc:
            logger.warning("skipped registry record key=%s reason=%s", key, exc)
    return RegistryState(model=model, versions=versions, deployment=deployment)


def read_registry(
    settings: Settings,
    model: str | None = None,
    *,
    timeout: float = 15.0,
    keep_artifacts: bool = False,
) -> RegistryState:
    """Read ``model-versions`` from the beginning to its current end (``model`` defaults
    to ``settings.model_name``); raise :class:`RegistryError` if that takes over ``timeout``."""
    from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition

    topic = Topics(settings.topic_prefix).model_versions
    consumer = make_consumer(settings, "registry-reader", **{"enable.partition.eof": True})
    try:
        found = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
        if found is None or found.error is not None or not found.partitions:
            raise RegistryError(
                f"topic {topic} does not exist; create the project's topics first "
                "(streamml topics create)"
            )
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in found.partitions])
        pending = set(found.partitions)
        deadline = time.monotonic() + timeout

        def records() -> Iterable[tuple[bytes | None, bytes | None]]:
            while pending:
                if time.monotonic() > deadline:
                    raise RegistryError(f"could not read {topic} to its end within {timeout}s")
                message = consumer.poll(0.5)
                if message is None:
                    continue
                error = message.error()
                if error is None:
                    yield message.key(), message.value()
                elif error.code() == KafkaError._PARTITION_EOF:
                    pending.discard(message.partition())
                else:
                    raise RegistryError(f"reading {topic}: {error}")

        return fold_records(records(), model or settings.model_name, trusted_keys(settings),
                            keep_artifacts=keep_artifacts)
    finally:
        consumer.close()


def schema_of(record: ModelVersion) -> FeatureSchema:
    """The feature schema a ``model-versions`` record carries."""
    try:
        return FeatureSchema(
            features=msgspec.json.decode(record.feature_schema["features"],
                                         type=tuple[FeatureSpec, ...]),
            dropped=msgspec.json.decode(record.feature_schema["dropped"], type=tuple[str, ...]),
        )
    except (KeyError, msgspec.DecodeError) as exc:
        raise RegistryError(f"version {record.version} has no readable feature schema: {exc}") \
            from None


def reference_of(record: ModelVersion) -> ReferenceStats:
    """The training reference statistics a ``model-versions`` record carries."""
    try:
        return ReferenceStats.from_json(record.feature_schema["reference"])
    except (KeyError, msgspec.DecodeError) as exc:
        raise RegistryError(f"version {record.version} has no readable reference: {exc}") \
            from None


__all__ = ["RegistryState", "fold_records", "read_registry", "reference_of", "schema_of"]
