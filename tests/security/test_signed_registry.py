"""Forged registry records on a real broker: a live processor and the monitor, holding
public keys only, apply none of them, and every one is alerted.

Deterministic: fixed keys (tests.signing_keys) and fixed training seeds; waits are
bounded by the alert each refusal must produce.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
from confluent_kafka import Producer

from contracts.kafka_clients import producer_config
from contracts.records import Alert, Deployment
from contracts.settings import Secret, Settings
from contracts.topics import MODEL_ARTIFACT_MAX_BYTES, Topics
from scorer.publishing import deployment_record, model_version_record
from streamml.broker.single_node import free_port
from tests.integration.processes import (
    http_get,
    http_post,
    settings_env,
    streamml_child,
    wait_for_health,
)
from tests.integration.scoring_fixtures import publish_champion, signed, trained_bundle
from tests.integration.test_monitor_support import Capture, monitor_process, read_alerts
from tests.integration.test_scoring import metric
from tests.signing_keys import OTHER_SIGNER, PRIVATE_KEY, PUBLIC_KEY, SIGNER

REFUSALS = {"unsigned", "unknown-key", "replayed-deployment"}


def pointer(champion: int, at: datetime) -> Deployment:
    return deployment_record("conversion", champion, decided_by="attacker",
                             reason="forged", now=at)


def send_raw(settings: Settings, records: list[tuple[bytes, bytes]],
             topic: str | None = None) -> None:
    producer = Producer(producer_config(settings, **{"message.max.bytes":
                                                     MODEL_ARTIFACT_MAX_BYTES}))
    for key, value in records:
        producer.produce(topic or Topics(settings.topic_prefix).model_versions, key=key,
                         value=value)
    assert producer.flush(30) == 0


def posted(capture: Capture) -> list[Alert]:
    """The alert records the monitor's webhook sink delivered."""
    return [msgspec.json.decode(json.dumps(body).encode(), type=Alert) for body in capture.bodies]


def reasons_of(alerts: list[Alert]) -> set[str]:
    return {json.loads(bytes(a.details["reason"])) for a in alerts if a.kind == "model-refused"}


def test_forged_deployments_and_an_unsigned_version_change_nothing_and_are_alerted(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    trainer = kafka_settings.with_overrides(model_private_key=Secret(PRIVATE_KEY))
    verifier = kafka_settings.with_overrides(model_public_keys=PUBLIC_KEY)
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    old_v1 = SIGNER.sign(pointer(1, an_hour_ago))  # genuinely signed, but superseded
    publish_champion(trainer, signed(trained_bundle(1, seed=1)))
    publish_champion(trainer, signed(trained_bundle(2, seed=2)))
    capture = Capture()
    port = free_port()
    env = settings_env(verifier, STREAMML_SCORING_PORT=str(port), STREAMML_SCORING_RUNNER="kafka")
    try:
        with streamml_child(["process", "--data-dir", str(tmp_path / "w")], env,
                            tmp_path / "process.log") as processor, \
                monitor_process(verifier, tmp_path / "monitor.log",
                                STREAMML_ALERT_WEBHOOK_URL=capture.url) as (_, monitor_port):
            wait_for_health(processor, port)
            now = datetime.now(UTC)
            unsigned_v3 = model_version_record(signed(trained_bundle(3, seed=3)))
            send_raw(verifier, [
                (b"conversion/deployment", msgspec.json.encode(pointer(1, now))),
                (b"conversion/deployment",
                 msgspec.json.encode(OTHER_SIGNER.sign(pointer(1, now)))),
                (b"conversion/deployment", msgspec.json.encode(old_v1)),
                (b"conversion/3", msgspec.json.encode(unsigned_v3)),
                (b"conversion/deployment", msgspec.json.encode(pointer(3, now))),
            ])
            alerts = read_alerts(verifier, until=lambda a: reasons_of(a) >= REFUSALS)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not reasons_of(posted(capture)) >= REFUSALS:
                time.sleep(0.5)
            _, predicted = http_post(f"http://127.0.0.1:{port}/predict",
                                     b'{"features": {"cart_value": 10}}')
            health = json.loads(http_get(f"http://127.0.0.1:{monitor_port}/health")[1])
            processor_refusals = {r: metric(port, f'streamml_model_refusals_total{{reason="{r}"}}')
                                  for r in REFUSALS}
            monitor_refusals = {r: metric(monitor_port, "streamml_monitor_registry_refusals"
                                          f'_total{{reason="{r}"}}') for r in REFUSALS}
    finally:
        capture.close()

    assert json.loads(predicted)["version"] == 2
    assert health["served"] == {"champion": 2}
    assert reasons_of(alerts) >= REFUSALS
    assert all(a.severity == "critical" for a in alerts if a.kind == "model-refused")
    # Unsigned: the two unsigned pointers and the unsigned version; one each of the others.
    assert processor_refusals == {"unsigned": 3, "unknown-key": 1, "replayed-deployment": 1}
    assert monitor_refusals == processor_refusals
    assert reasons_of(posted(capture)) >= REFUSALS
