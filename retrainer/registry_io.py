"""Read the registry with its audit trail, and write changes in one Kafka transaction.

A new version, the deployment pointer, its audit record and the info alert saying
why are written together or not at all: readers use ``read_committed``, so a writer
killed half-way leaves nothing behind, and a restarted retrainer (same
transactional id) fences its predecessor and aborts what it left open.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from contracts.kafka_clients import make_producer, patiently
from contracts.partition_reads import KeyValues
from contracts.records import Alert, Deployment, ModelVersion
from contracts.settings import SharedSettings
from contracts.topics import MODEL_ARTIFACT_MAX_BYTES, Topics
from retrainer.audit import audit_key, fold_history
from scorer.alert_signing import ALERT_PRIVATE_KEY_VARIABLE, alert_signer_from
from scorer.exceptions import RegistryError
from scorer.publishing import deployment_key, version_key
from scorer.registry import RegistryState, fold_records, read_topic_records
from scorer.signing import signer_from, trusted_keys

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class RegistryView:
    """Versions, the current deployment, and every deployment change still on the topic."""

    state: RegistryState
    history: list[Deployment]


def read_records(settings: SharedSettings, *, timeout: float = 15.0) -> KeyValues:
    """Every ``(key, value)`` of ``model-versions`` from its start to its current end."""
    return read_topic_records(settings, Topics(settings.topic_prefix).model_versions,
                              timeout=timeout)


def read_view(settings: SharedSettings, *, keep_artifacts: bool = False,
              timeout: float = 15.0) -> RegistryView:
    """The registry of ``settings.model_name`` and its deployment history, in one read."""
    records = read_records(settings, timeout=timeout)
    model, keys = settings.model_name, trusted_keys(settings)
    return RegistryView(fold_records(records, model, keys, keep_artifacts=keep_artifacts),
                        fold_history(records, model, keys))


class RegistryWriter:
    """A transactional producer for registry changes, signing each with the private key.

    Parameters
    ----------
    settings : SharedSettings
    transactional_id : str or None
        Stable for a service (a restart fences the old instance); None makes a
        unique one, as a command line does.
    """

    def __init__(self, settings: SharedSettings, *, transactional_id: str | None = None,
                 timeout: float = 30.0) -> None:
        self.topics = Topics(settings.topic_prefix)
        self.signer = signer_from(settings)
        # Only the retrainer writes alerts through here; `streamml models` changes write none.
        self.alert_signer = (alert_signer_from(settings)
                             if settings.alert_private_key is not None else None)
        self.timeout = timeout
        tid = transactional_id or f"{settings.group_prefix}.cli.{uuid.uuid4().hex[:12]}"
        self._producer = make_producer(settings, **{
            "transactional.id": tid, "message.max.bytes": MODEL_ARTIFACT_MAX_BYTES})
        patiently(lambda: self._producer.init_transactions(timeout),
                  what="the transaction coordinator")
        # The training thread and the service loop share one transactional producer;
        # transactions on it must not interleave.
        self._lock = threading.Lock()

    def write(self, *, version: ModelVersion | None = None,
              deployment: Deployment | None = None, alerts: Sequence[Alert] = ()) -> None:
        """Write all of it in one transaction, or raise :class:`RegistryError` and write nothing."""
        from confluent_kafka import KafkaException

        messages: list[tuple[str, bytes, bytes]] = []
        if version is not None:
            messages.append((self.topics.model_versions,
                             version_key(version.model, version.version),
                             msgspec.json.encode(self.signer.sign(version))))
        if deployment is not None:
            value = msgspec.json.encode(self.signer.sign(deployment))
            messages += [(self.topics.model_versions, deployment_key(deployment.model), value),
                         (self.topics.model_versions,
                          audit_key(deployment.model, deployment.decided_at), value)]
        if alerts:
            signer = self.alert_signer
            if signer is None:
                raise RegistryError(f"alerts are signed before they are written: set "
                                    f"{ALERT_PRIVATE_KEY_VARIABLE}")
            messages += [(self.topics.alerts, a.fingerprint.encode(),
                          msgspec.json.encode(signer.sign(a))) for a in alerts]
        for _, key, value in messages:
            if len(value) > MODEL_ARTIFACT_MAX_BYTES:
                raise RegistryError(f"the record for {key.decode()} is {len(value)} bytes; "
                                    f"the topic takes at most {MODEL_ARTIFACT_MAX_BYTES}")
        with self._lock:
            try:
                self._producer.begin_transaction()
                for topic, key, value in messages:
                    self._producer.produce(topic, value=value, key=key)
                self._producer.commit_transaction(self.timeout)
            except KafkaException as exc:
                self._abort()
                raise RegistryError(f"the registry change was not written: {exc}") from None
        logger.info("registry change written records=%d version=%s deployment=%s",
                    len(messages), version.version if version else None,
                    _summary(deployment))

    def _abort(self) -> None:
        from confluent_kafka import KafkaException

        try:
            self._producer.abort_transaction(self.timeout)
        except KafkaException as exc:  # already failed: nothing more to undo from here
            logger.warning("could not abort the transaction: %s", exc)

    def close(self) -> None:
        self._producer.flush(self.timeout)


def _summary(deployment: Deployment | None) -> Any:
    if deployment is None:
        return None
    return (f"champion={deployment.champion} canary={deployment.canary} "
            f"fraction={deployment.canary_fraction} shadow={deployment.shadow}")


__all__ = ["RegistryView", "RegistryWriter", "read_records", "read_view"]
