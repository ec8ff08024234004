from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from contracts.records import Deployment, ModelVersion
from contracts.topics import MODEL_ARTIFACT_MAX_BYTES
from scorer.artifact import load_version, sign_bundle
from scorer.bundle import ModelBundle
from scorer.exceptions import RegistryError
from scorer.publishing import (
    deployment_record,
    model_version_record,
    publish,
    send_and_wait,
)
from scorer.registry import reference_of, schema_of
from tests.signing_keys import KEYS, SIGNER

NOW = datetime(2026, 1, 2, tzinfo=UTC)


@dataclass
class FakeProducer:
    """Acknowledges (or fails) each record when flushed, like the real one."""

    fail_with: str | None = None
    stuck: bool = False
    sent: list[tuple[str, bytes, bytes]] = field(default_factory=list)
    pending: list[Callable[[Any, Any], None]] = field(default_factory=list)

    def produce(self, topic: str, *, value: bytes, key: bytes,
                on_delivery: Callable[[Any, Any], None]) -> None:
        self.sent.append((topic, key, value))
        self.pending.append(on_delivery)

    def flush(self, timeout: float = -1) -> int:
        if self.stuck:
            return len(self.pending)
        for callback in self.pending:
            callback(self.fail_with, None)
        self.pending.clear()
        return 0


def test_a_version_record_carries_the_signed_artifact_and_its_metadata(
    logistic_bundle: ModelBundle, key: bytes
) -> None:
    signed = sign_bundle(logistic_bundle.with_version(3), SIGNER)

    record = model_version_record(signed, trigger="drift")

    assert (record.model, record.version, record.trigger) == ("conversion", 3, "drift")
    assert record.metrics == dict(logistic_bundle.metrics)
    assert schema_of(record) == logistic_bundle.schema
    assert reference_of(record) == logistic_bundle.reference
    decoded = msgspec.json.decode(msgspec.json.encode(record), type=ModelVersion)
    assert decoded.signature == ""  # signed as it is published
    assert load_version(SIGNER.sign(decoded), KEYS).version == 3


def test_the_version_lands_before_the_deployment_points_at_it(
    logistic_bundle: ModelBundle, key: bytes
) -> None:
    producer = FakeProducer()
    record = model_version_record(sign_bundle(logistic_bundle, SIGNER))
    deployment = deployment_record("conversion", 1, decided_by="me", reason="first", now=NOW)

    publish(producer, "t.model-versions", record, deployment, SIGNER)

    assert [(t, k) for t, k, _ in producer.sent] == [
        ("t.model-versions", b"conversion/1"), ("t.model-versions", b"conversion/deployment")]
    sent = msgspec.json.decode(producer.sent[1][2], type=Deployment)
    assert KEYS.verify(sent) == SIGNER.sign(deployment)
    assert KEYS.verify(msgspec.json.decode(producer.sent[0][2], type=ModelVersion)).version == 1


def test_a_failed_delivery_raises_and_no_deployment_follows(
    logistic_bundle: ModelBundle, key: bytes
) -> None:
    producer = FakeProducer(fail_with="broker says no")
    record = model_version_record(sign_bundle(logistic_bundle, SIGNER))
    deployment = deployment_record("conversion", 1, decided_by="me", reason="first", now=NOW)

    with pytest.raises(RegistryError, match="conversion/1 could not be written.*broker says no"):
        publish(producer, "mv", record, deployment, SIGNER)

    assert len(producer.sent) == 1


def test_an_unacknowledged_record_times_out() -> None:
    with pytest.raises(RegistryError, match="not acknowledged by mv within 0.1s"):
        send_and_wait(FakeProducer(stuck=True), "mv", b"k", b"v", timeout=0.1)


def test_a_record_larger_than_the_topic_accepts_is_not_sent() -> None:
    producer = FakeProducer()

    with pytest.raises(RegistryError, match="the topic takes at most"):
        send_and_wait(producer, "mv", b"m/1", bytes(MODEL_ARTIFACT_MAX_BYTES + 1))

    assert producer.sent == []


def test_a_deployment_record_defaults_to_champion_only_stamped_in_utc() -> None:
    d = deployment_record("conversion", 2, decided_by="retrainer", reason="better auc")

    assert (d.champion, d.canary, d.canary_fraction, d.shadow) == (2, None, 0.0, None)
    assert d.decided_at.tzinfo is not None
