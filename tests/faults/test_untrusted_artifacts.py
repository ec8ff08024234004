"""Untrusted artifacts published on ``model-versions`` to a running processor.

Each record below is refused: none is loaded, the pickle's marker
file is never created, version 1 keeps serving, and every refusal is logged,
and counted (``streamml_model_refusals_total{reason}``), which is how the processor
tells of it: it does not write ``alerts``.
Artifacts that only the signing key could have produced are signed with it, so the
checks after the signature (container, skops types, zip sizes) are what refuses them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import time
import zipfile
from collections import Counter
from pathlib import Path

import msgspec
import skops.io as sio
from confluent_kafka import Producer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from contracts.kafka_clients import producer_config
from contracts.records import ModelVersion, Prediction
from contracts.settings import Settings
from contracts.topics import Topics
from scorer.artifact import MAX_ARTIFACT_BYTES, METADATA_ENTRY, PIPELINE_ENTRY, dump_bundle
from scorer.bundle import ModelBundle
from scorer.publishing import deployment_record, model_version_record, version_key
from scorer.signing import Signer
from tests.faults.workers import Worker
from tests.integration.processes import http_post
from tests.integration.scoring_fixtures import (
    publish_champion,
    send_events,
    signed,
    tampered,
    trained_bundle,
)
from tests.integration.test_scoring import metric
from tests.integration.topic_reader import read_topic
from tests.signing_keys import OTHER_SIGNER, SIGNER
from tests.zip_archives import container

PREDICTION = msgspec.json.Decoder(Prediction)


class Marker:
    """A pickle payload that creates a file when unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.path), "w"))


def metadata(bundle: ModelBundle) -> bytes:
    with zipfile.ZipFile(io.BytesIO(dump_bundle(bundle))) as z:
        return z.read(METADATA_ENTRY)


def carrying(bundle: ModelBundle, data: bytes, signer: Signer = SIGNER) -> ModelVersion:
    """The record of ``bundle``'s version with ``data`` as its artifact, signed by ``signer``."""
    return signer.sign(msgspec.structs.replace(model_version_record(signed(bundle)), artifact=data,
                                               sha256=hashlib.sha256(data).hexdigest()))


def untrusted_records(champion: ModelBundle, marker: Path) \
        -> list[tuple[str, str, bytes, bytes]]:
    """(case, expected reason, key, value) of every record the processor must refuse."""
    v = champion.with_version
    payload = pickle.dumps(Marker(marker))
    evil = sio.dumps(Pipeline([("run", FunctionTransformer(os.system))]))
    wide = trained_bundle(11, seed=3, extra_feature="loyalty_points")
    records: list[tuple[str, str, ModelVersion | bytes]] = [
        ("a pickle, signed", "malformed", carrying(v(2), payload)),
        ("a pickle in the container, signed", "malformed", carrying(v(3), container(
            {METADATA_ENTRY: metadata(v(3)), PIPELINE_ENTRY: payload}))),
        ("a skops type outside the trusted list", "untrusted-type", carrying(v(4), container(
            {METADATA_ENTRY: metadata(v(4)), PIPELINE_ENTRY: evil}))),
        ("one byte flipped", "tampered",
         tampered(SIGNER.sign(model_version_record(signed(v(5)))))),
        ("a foreign signature", "unknown-key",
         OTHER_SIGNER.sign(model_version_record(signed(v(6), OTHER_SIGNER)))),
        ("no signature", "unsigned", model_version_record(signed(v(7)))),
        ("an old version replayed", "replayed-version",
         SIGNER.sign(model_version_record(signed(champion)))),
        ("oversize", "oversize", carrying(v(9), bytes(MAX_ARTIFACT_BYTES + 1))),
        ("a zip bomb", "zip-bomb", carrying(v(10), container(
            {METADATA_ENTRY: metadata(v(10)), PIPELINE_ENTRY: bytes(8 * 1024 * 1024)}, level=1))),
        ("the wrong feature count", "schema-mismatch",
         SIGNER.sign(model_version_record(signed(wide)))),
    ]
    out = []
    for case, reason, record in records:
        if isinstance(record, bytes):
            out.append((case, reason, b"conversion/7", record))
        else:
            out.append((case, reason, version_key(record.model, record.version),
                        msgspec.json.encode(record)))
    # A deployment naming a refused version is refused too; the old one stays.
    deployment = SIGNER.sign(deployment_record("conversion", 4, decided_by="test",
                                               reason="fault test"))
    out.append(("a deployment of a refused version", "rejected", b"conversion/deployment",
                msgspec.json.encode(deployment)))
    return out


def test_untrusted_artifacts_are_refused_logged_counted_and_alerted_and_v1_keeps_serving(
    settings: Settings, champion: ModelBundle, tmp_path: Path
) -> None:
    topics = Topics(settings.topic_prefix)
    marker = tmp_path / "marker"
    publish_champion(settings, signed(champion))
    # After the champion's deployment: an older one would be refused as replayed instead.
    cases = untrusted_records(champion, marker)
    worker = Worker(settings, tmp_path, "w").start()
    try:
        worker.wait_healthy()
        send_events(settings, 100, prefix="before")
        # Large enough for the oversize record: it must reach the processor to be refused.
        producer = Producer(producer_config(settings,
                                            **{"message.max.bytes": 4 * MAX_ARTIFACT_BYTES}))
        began = time.monotonic()
        for _, _, key, value in cases:
            producer.produce(topics.model_versions, key=key, value=value)
        assert producer.flush(60) == 0
        deadline = time.monotonic() + 120
        while (metric(worker.port, "streamml_model_refusals_total") < len(cases)
               and time.monotonic() < deadline):
            time.sleep(0.2)
        refused = int(metric(worker.port, "streamml_model_refusals_total"))
        refused_in = time.monotonic() - began
        send_events(settings, 100, prefix="after")
        predictions = [PREDICTION.decode(p.value or b"") for p in read_topic(
            settings, topics.predictions, until=lambda r: len(r) >= 200, timeout=60)]
        status, body = http_post(f"http://127.0.0.1:{worker.port}/predict",
                                 b'{"features": {"cart_value": 10}}')
        counted = {r: metric(worker.port, f'streamml_model_refusals_total{{reason="{r}"}}')
                   for r in {reason for _, reason, _, _ in cases}}
        log = worker.output()
        assert worker.alive() and worker.starts == 1
    finally:
        worker.stop()

    expected = Counter(reason for _, reason, _, _ in cases)
    print(f"\n[untrusted artifacts] published={len(cases)} refused={refused} "
          f"loaded=0 refused-within-s={refused_in:.1f} marker={marker.exists()} "
          f"serving-version={json.loads(body)['version']} "
          f"predictions-after={sum(p.event_id.startswith('after') for p in predictions)} "
          f"recovery-s=0 (no restart)")
    assert not marker.exists(), "the pickle ran"
    assert counted == {reason: float(n) for reason, n in expected.items()}
    for reason in expected:
        assert f"refused reason={reason}" in log
    assert status == 200 and json.loads(body)["version"] == 1
    assert len(predictions) == 200 and {p.version for p in predictions} == {1}
