"""Read the compacted ``model-versions`` topic: which versions exist, which one serves.

The topic is read from its beginning to its end with assigned partitions and no
consumer-group commits, so any number of readers can do it at any time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

import msgspec

from contracts.partition_reads import KeyValues, TopicMissing, UnfinishedRead, read_topic
from contracts.records import Deployment, ModelVersion
from contracts.settings import SharedSettings
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
    settings: SharedSettings,
    model: str | None = None,
    *,
    timeout: float = 15.0,
    keep_artifacts: bool = False,
) -> RegistryState:
    """Read ``model-versions`` from the beginning to its current end (``model`` defaults
    to ``settings.model_name``); raise :class:`RegistryError` if that takes over ``timeout``."""
    records = read_topic_records(settings, Topics(settings.topic_prefix).model_versions,
                                 timeout=timeout)
    return fold_records(records, model or settings.model_name, trusted_keys(settings),
                        keep_artifacts=keep_artifacts)


def read_topic_records(settings: SharedSettings, topic: str, *, tail: int | None = None,
                       timeout: float = 15.0) -> KeyValues:
    """:func:`contracts.partition_reads.read_topic`, with every failure a :class:`RegistryError`."""
    from confluent_kafka import KafkaException

    try:
        return read_topic(settings, topic, tail=tail, timeout=timeout)
    except (TopicMissing, UnfinishedRead) as exc:
        raise RegistryError(str(exc)) from None
    except KafkaException as exc:
        raise RegistryError(f"reading {topic}: {exc.args[0] if exc.args else exc}") from None


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


__all__ = ["RegistryState", "fold_records", "read_registry", "read_topic_records",
           "reference_of", "schema_of"]
