from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from confluent_kafka import TopicPartition

from contracts.batch_runtime import BatchRuntime
from contracts.settings import Settings
from stream_processors.kafka_scoring import KafkaScoringWorker
from tests.signing_keys import PUBLIC_KEY


class RecordingConsumer:
    """What the rebalance callbacks call on the consumer, recorded."""

    def __init__(self) -> None:
        self.stored: list[TopicPartition] = []
        self.commits = 0

    def store_offsets(self, offsets: list[TopicPartition]) -> None:
        self.stored += offsets

    def commit(self, asynchronous: bool = True) -> None:
        self.commits += 1


@pytest.fixture
def worker() -> Iterator[KafkaScoringWorker]:
    settings = Settings(bootstrap_servers="127.0.0.1:9", model_public_keys=PUBLIC_KEY)
    built = KafkaScoringWorker(settings, lambda *_: None, web_port=0)
    built.runtime.assigned = {0, 1, 2}
    yield built
    built.output.close()


def test_a_revocation_commits_what_was_scored_and_is_logged_with_what_the_worker_keeps(
        worker: KafkaScoringWorker, caplog: pytest.LogCaptureFixture) -> None:
    runtime: BatchRuntime = worker.runtime
    runtime._uncommitted = {("user-events", 1): 10, ("user-events", 2): 7}
    consumer = RecordingConsumer()
    with caplog.at_level(logging.INFO, logger="contracts.batch_runtime"):
        runtime.on_revoke(consumer, [TopicPartition("user-events", 2)])

    assert runtime.assigned == {0, 1}
    assert consumer.commits == 1
    assert sorted((tp.partition, tp.offset) for tp in consumer.stored) == [(1, 10), (2, 7)]
    assert "revoked partitions=[2] kept=[0, 1]" in caplog.text


def test_lost_partitions_are_a_warning_that_names_the_likely_causes(
        worker: KafkaScoringWorker, caplog: pytest.LogCaptureFixture) -> None:
    runtime = worker.runtime
    runtime._uncommitted = {("user-events", 1): 10, ("user-events", 2): 7}
    with caplog.at_level(logging.WARNING, logger="contracts.batch_runtime"):
        runtime.on_lost(None, [TopicPartition("user-events", 1)])

    assert runtime.assigned == {0, 2}
    assert runtime._uncommitted == {("user-events", 2): 7}
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "lost partitions=[1]" in record.getMessage()
    assert "session timeout" in record.getMessage()
    assert "max.poll.interval.ms" in record.getMessage()
