from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import msgspec
import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from contracts.records import ModelVersion
from contracts.settings import Settings
from scorer.exceptions import BadSignature, ReplayedVersion
from stream_processors.metrics import scoring_metrics
from stream_processors.model_watcher import ModelWatcher
from stream_processors.serving_state import ServingState
from tests.signing_keys import KEYS
from tests.unit.stream_processors.fakes import FakeModel, deployment


def version_record(version: int) -> bytes:
    return msgspec.json.encode(ModelVersion(
        model="conversion", version=version, created_at=datetime(2026, 1, 1, tzinfo=UTC),
        artifact=b"x", sha256="0" * 64, feature_schema={}, metrics={},
        lineage=[]))


def loader(record: ModelVersion, state: ServingState) -> FakeModel:
    if record.version <= state.newest_version:
        raise ReplayedVersion(f"version {record.version} is not newer")
    if record.version == 13:
        raise BadSignature("unlucky")
    return FakeModel(record.version)


@pytest.fixture
def watcher() -> ModelWatcher:
    return ModelWatcher(Settings(), loader, scoring_metrics("conversion"), KEYS)


def test_a_version_then_its_deployment_makes_the_processor_ready(watcher):
    watcher.advance(0, at_end=True)  # an empty registry, read to its end
    assert watcher.apply(b"conversion/1", version_record(1)) is None
    assert not watcher.ready.is_set()
    assert watcher.apply(b"conversion/deployment", msgspec.json.encode(deployment(1))) is None
    assert watcher.ready.is_set() and watcher.state.champion().version == 1


def test_a_restarted_processor_is_ready_only_once_it_has_replayed_every_version(watcher):
    for offset, version in ((0, 1), (2, 2)):
        watcher.apply(f"conversion/{version}".encode(), version_record(version))
        watcher.apply(b"conversion/deployment", msgspec.json.encode(deployment(version)))
        watcher.advance(offset + 2)
        # Until the end is reached a newer version may follow: scoring now could serve
        # an older version after a newer one.
        assert not watcher.ready.is_set()
        assert watcher.serving.deployment is None  # what /predict and /health answer with
    watcher.advance(4, at_end=True)
    assert watcher.ready.is_set() and watcher.state.champion().version == 2
    assert watcher.serving.champion().version == 2
    assert watcher._metrics.model_ready._value.get() == 1


def test_waiting_for_an_offset_returns_once_the_records_before_it_are_applied(watcher):
    watcher.advance(2)
    assert watcher.wait_until_read(2, timeout=0)
    assert not watcher.wait_until_read(5, timeout=0.05)
    threading.Timer(0.1, watcher.advance, args=(5,)).start()
    began = time.monotonic()
    assert watcher.wait_until_read(5, timeout=10)
    assert 0.05 < time.monotonic() - began < 5


class RegistryEnd:
    """Answers where ``model-versions`` ends, as a consumer's watermark query does."""

    def __init__(self, end: int | Exception) -> None:
        self.end = end

    def get_watermark_offsets(self, partition: TopicPartition, timeout: float) -> tuple[int, int]:
        assert partition.topic.endswith("model-versions") and partition.partition == 0
        if isinstance(self.end, Exception):
            raise self.end
        return 0, self.end


def test_taking_over_partitions_waits_for_every_version_published_so_far(watcher):
    watcher.advance(3)
    assert watcher.catch_up(RegistryEnd(3), timeout=0)
    threading.Timer(0.1, watcher.advance, args=(6,)).start()
    assert watcher.catch_up(RegistryEnd(6), timeout=10)
    assert watcher.wait_until_read(6, timeout=0)


def test_a_catch_up_that_cannot_finish_says_so_and_lets_scoring_go_on(watcher, caplog):
    watcher.advance(3)
    assert not watcher.catch_up(RegistryEnd(9), timeout=0.05)
    assert "not applied up to offset 9" in caplog.text
    assert not watcher.catch_up(RegistryEnd(KafkaException(KafkaError(KafkaError._TIMED_OUT))))
    assert "end of model-versions unknown" in caplog.text


@pytest.mark.parametrize(("key", "value", "reason"), [
    (b"conversion/13", version_record(13), "bad-signature"),
    (b"conversion/7", b"{garbage", "malformed-record"),
])
def test_a_refused_record_raises_an_alert_and_the_champion_stays(watcher, key, value, reason):
    watcher.apply(b"conversion/1", version_record(1))
    watcher.apply(b"conversion/deployment", msgspec.json.encode(deployment(1)))
    alert = watcher.apply(key, value)
    assert alert is not None and alert.status == "firing" and alert.kind == "model-refused"
    assert msgspec.json.decode(alert.details["reason"]) == reason
    assert watcher.state.champion().version == 1
    refused = watcher._metrics.model_refusals.labels(reason=reason)._value.get()
    assert refused == 1


def test_a_replayed_old_version_is_refused(watcher):
    watcher.apply(b"conversion/2", version_record(2))
    alert = watcher.apply(b"conversion/1", version_record(1))
    assert alert is not None and msgspec.json.decode(alert.details["reason"]) == "replayed-version"


def test_a_deployment_naming_an_unloaded_version_is_refused(watcher):
    watcher.apply(b"conversion/1", version_record(1))
    watcher.apply(b"conversion/deployment", msgspec.json.encode(deployment(1)))
    alert = watcher.apply(b"conversion/deployment", msgspec.json.encode(deployment(5)))
    assert alert is not None
    assert watcher.state.champion().version == 1


def test_records_of_other_models_and_tombstones_are_ignored(watcher):
    assert watcher.apply(b"other/1", version_record(1).replace(b"conversion", b"other")) is None
    assert watcher.apply(b"conversion/1", None) is None
    assert watcher.state.models == {}


@pytest.mark.parametrize("top_k", [0, 3])
def test_a_version_that_cannot_be_explained_on_the_stream_is_said_once_when_asked_for(
        top_k: int, caplog: pytest.LogCaptureFixture) -> None:
    watcher = ModelWatcher(Settings(explain_top_k=top_k), loader,
                           scoring_metrics("conversion"), KEYS)

    with caplog.at_level("WARNING", logger="stream_processors.model_watcher"):
        watcher.apply(b"conversion/1", version_record(1))

    said = [r.getMessage() for r in caplog.records if "carry no contributions" in r.getMessage()]
    assert said == (["model=conversion version=1: its predictions carry no contributions on "
                     "the stream (STREAMML_EXPLAIN_TOP_K explains linear and tree models); "
                     'POST /predict with "explain" explains one event'] if top_k else [])
