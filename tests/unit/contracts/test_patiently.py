"""Kafka calls asked again while a coordinator is still loading, and only then."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from contracts.kafka_clients import patiently


class Coordinator:
    """A consumer whose group coordinator refuses ``refusals`` times, then answers."""

    def __init__(self, refusals: int, code: int = KafkaError.NOT_COORDINATOR) -> None:
        self.refusals, self.code, self.asked = refusals, code, 0

    def committed(self, partitions: list[Any], timeout: float) -> list[Any]:
        self.asked += 1
        if self.asked <= self.refusals:
            raise KafkaException(KafkaError(self.code, "not yet", retriable=True))
        return [TopicPartition(tp.topic, tp.partition, 7) for tp in partitions]


def test_a_coordinator_still_loading_is_asked_again_until_it_answers() -> None:
    consumer = Coordinator(refusals=2)

    found = patiently(lambda: consumer.committed([TopicPartition("labeled", 0)], 1.0),
                      what="committed offsets", patience=10)

    assert [(tp.topic, tp.partition, tp.offset) for tp in found] == [("labeled", 0, 7)]
    assert consumer.asked == 3


def test_a_coordinator_that_never_answers_raises_after_the_patience() -> None:
    consumer = Coordinator(refusals=10**6)

    with pytest.raises(KafkaException, match="not yet"):
        patiently(lambda: consumer.committed([TopicPartition("labeled", 0)], 1.0),
                  what="committed offsets", patience=0.5)
    assert 2 <= consumer.asked <= 5


def test_an_error_that_cannot_pass_is_raised_at_once() -> None:
    class Refusing(Coordinator):
        def committed(self, partitions: list[Any], timeout: float) -> list[Any]:
            self.asked += 1
            raise KafkaException(KafkaError(KafkaError.GROUP_AUTHORIZATION_FAILED, "denied"))

    consumer = Refusing(refusals=0)

    with pytest.raises(KafkaException, match="denied"):
        patiently(lambda: consumer.committed([TopicPartition("labeled", 0)], 1.0),
                  what="committed offsets", patience=10)
    assert consumer.asked == 1
