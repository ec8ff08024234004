"""The service loop without a broker: what counts as new, when it trains, what it commits."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from unittest.mock import MagicMock

import msgspec
import pytest
from confluent_kafka import KafkaError

from contracts.settings import Settings
from retrainer import service as service_module
from retrainer.config import RetrainerConfig
from retrainer.jobs import JobOutcome
from retrainer.registry_io import RegistryWriter
from retrainer.service import RetrainerService
from tests.signing_keys import ALERT_KEYS, ALERT_SIGNER
from tests.unit.retrainer.conftest import alert, deployment, labeled

SETTINGS = Settings(topic_prefix="t.")
LABELED, ALERTS, VERSIONS = "t.labeled-events", "t.alerts", "t.model-versions"


@dataclass
class Message:
    """The few methods of ``confluent_kafka.Message`` the service calls."""

    topic_: str
    partition_: int
    offset_: int
    value_: bytes | None = None
    key_: bytes | None = None
    eof: bool = False

    def error(self) -> Any:
        if not self.eof:
            return None
        return MagicMock(spec_set=["code"], code=lambda: KafkaError._PARTITION_EOF)

    def topic(self) -> str:
        return self.topic_

    def partition(self) -> int:
        return self.partition_

    def offset(self) -> int:
        return self.offset_

    def key(self) -> bytes | None:
        return self.key_

    def value(self) -> bytes | None:
        return self.value_


@pytest.fixture
def jobs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []

    def fake_run_job(*args: Any) -> JobOutcome:
        calls.append(args)
        return JobOutcome(None, "not published: test", 0.0)

    monkeypatch.setattr(service_module, "run_job", fake_run_job)
    return calls


def make_service() -> RetrainerService:
    config = RetrainerConfig(min_rows=3, window_size=100, every_labels=3)
    service = RetrainerService(SETTINGS, config, b"key", alert_keys=ALERT_KEYS)
    service.loop.count_from = {0: 2}
    service.unread = {(LABELED, 0), (VERSIONS, 0)}
    return service


def feed(service: RetrainerService, messages: list[Message]) -> int:
    """What the runtime does: records to the service, partition ends to ``reached_end``."""
    fresh = 0
    for m in messages:
        if m.eof:
            service.reached_end(m.topic(), m.partition(), m.offset())
        else:
            fresh += service._handle(m)
    return fresh


def labeled_message(i: int, offset: int) -> Message:
    return Message(LABELED, 0, offset, msgspec.json.encode(labeled(i, label=i % 2)))


def eofs() -> list[Message]:
    return [Message(LABELED, 0, 0, eof=True), Message(VERSIONS, 0, 0, eof=True)]


def run_until_idle(service: RetrainerService, consumer: Any, writer: Any) -> None:
    service._tick(consumer, writer)
    deadline = time.monotonic() + 5
    while service.job is not None and time.monotonic() < deadline:
        time.sleep(0.01)
        service._tick(consumer, writer)


def test_labels_before_the_committed_offset_fill_the_window_but_are_not_new() -> None:
    service = make_service()
    fresh = feed(service, [labeled_message(i, i) for i in range(5)] + [labeled_message(4, 5)])
    assert len(service.loop.window) == 5 and fresh == 5
    assert service.loop.triggers.new_labels == 3, "offsets 2, 3, 4; the duplicate at 5 is not new"


def test_nothing_is_trained_before_every_partition_was_read_to_its_end(
    jobs: list[tuple[Any, ...]]
) -> None:
    service = make_service()
    consumer, writer = MagicMock(), MagicMock(spec_set=RegistryWriter)
    feed(service, [labeled_message(i, i) for i in range(6)])
    service._tick(consumer, writer)
    assert not service.ready and jobs == []
    feed(service, eofs())
    run_until_idle(service, consumer, writer)
    assert service.ready and len(jobs) == 1
    due = jobs[0][4]
    assert len(due.snapshot) == 6 and due.trigger.kind == "labels"


def test_offsets_are_committed_where_the_snapshot_was_taken_once_the_job_decided(
    jobs: list[tuple[Any, ...]]
) -> None:
    service = make_service()
    consumer, writer = MagicMock(), MagicMock(spec_set=RegistryWriter)
    feed(service, [labeled_message(i, i) for i in range(6)] + eofs())
    feed(service, [Message(ALERTS, 1, 41, msgspec.json.encode(
        ALERT_SIGNER.sign(alert(kind="info-only"))))])
    run_until_idle(service, consumer, writer)
    (call,) = consumer.commit.call_args_list
    committed = {(tp.topic, tp.partition): tp.offset for tp in call.kwargs["offsets"]}
    assert committed == {(LABELED, 0): 6, (ALERTS, 1): 42}
    assert call.kwargs["asynchronous"] is False


def test_a_version_on_trial_defers_retraining(jobs: list[tuple[Any, ...]]) -> None:
    service = make_service()
    consumer, writer = MagicMock(), MagicMock(spec_set=RegistryWriter)
    service.loop.releaser.controller.watch(deployment(1, canary=2, fraction=0.1))
    feed(service, [labeled_message(i, i) for i in range(6)] + eofs())
    run_until_idle(service, consumer, writer)
    assert jobs == [] and service.loop.triggers.new_labels == 4
    assert service.loop.status.startswith("waiting for the canary trial of v2 to end")
    consumer.commit.assert_not_called()


def test_undecodable_records_are_skipped_not_fatal() -> None:
    service = make_service()
    assert feed(service, [Message(LABELED, 0, 3, b"{not json"),
                          Message(VERSIONS, 0, 0, b"{}", key_=b"conversion/deployment")]) == 0
    assert len(service.loop.window) == 0 and service.next_offsets[(LABELED, 0)] == 4
