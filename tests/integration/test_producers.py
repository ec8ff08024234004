"""The SDK and ``streamml simulate`` against a real broker: what is sent comes back, keyed."""

from __future__ import annotations

import argparse
from collections import defaultdict

import msgspec
import pytest

from contracts.decoding import RecordDecoder, decode_event
from contracts.records import Label, UserEvent
from contracts.settings import Settings
from contracts.topics import Topics
from producers import EventProducer, LabelProducer
from streamml.cli.commands import simulate
from tests.integration.topic_reader import read_topic

pytestmark = pytest.mark.integration


def test_events_sent_with_the_sdk_come_back_keyed_by_user_as_valid_json(
    kafka_settings: Settings,
) -> None:
    with EventProducer(kafka_settings) as producer:
        sent = [
            producer.send(user_id=f"u{n % 7}", features={"cart_value": float(n), "device": "mobile",
                                                         "coupon": None})
            for n in range(60)
        ]
    assert producer.report.delivered == 60

    records = read_topic(kafka_settings, Topics(kafka_settings.topic_prefix).user_events,
                         until=lambda got: len(got) >= 60)

    assert len(records) == 60
    partitions: dict[bytes, set[int]] = defaultdict(set)
    for record in records:
        event = decode_event(record.value)
        assert isinstance(event, UserEvent), event
        assert record.key == event.user_id.encode()
        partitions[record.key].add(record.partition)
    by_id = {e.event_id: e for e in map(decode_event, (r.value for r in records))
             if isinstance(e, UserEvent)}
    assert by_id == {e.event_id: e for e in sent}
    assert all(len(p) == 1 for p in partitions.values())


def test_a_label_lands_in_the_partition_of_its_event(kafka_settings: Settings) -> None:
    topics = Topics(kafka_settings.topic_prefix)
    users = [f"user-{n}" for n in range(30)]
    with EventProducer(kafka_settings) as events, LabelProducer(kafka_settings) as labels:
        for user in users:
            event = events.send(user_id=user, features={"pages_viewed": 3})
            labels.send(event_id=event.event_id, user_id=user, label=1)

    event_partition = {r.key: r.partition for r in read_topic(
        kafka_settings, topics.user_events, until=lambda got: len(got) >= 30)}
    label_partition = {r.key: r.partition for r in read_topic(
        kafka_settings, topics.labels, until=lambda got: len(got) >= 30)}

    assert len(event_partition) == 30 and event_partition == label_partition


def test_simulate_sends_events_and_their_labels(kafka_settings: Settings) -> None:
    parser = argparse.ArgumentParser()
    simulate.register(parser.add_subparsers(required=True))
    args = parser.parse_args(["simulate", "--events", "2000", "--rate", "0", "--seed", "3",
                              "--scenario", "label-shift"])

    assert args.handler(args, kafka_settings) == 0

    topics = Topics(kafka_settings.topic_prefix)
    events = read_topic(kafka_settings, topics.user_events, until=lambda got: len(got) >= 2000)
    labels = read_topic(kafka_settings, topics.labels, until=lambda got: len(got) >= 2000)
    decoded_events = [decode_event(r.value) for r in events]
    decoded_labels = [RecordDecoder(Label).decode(r.value) for r in labels]
    assert len(events) == 2000 and len(labels) == 2000
    assert all(isinstance(e, UserEvent) for e in decoded_events)
    assert all(isinstance(lab, Label) for lab in decoded_labels)
    event_ids = {e.event_id for e in decoded_events if isinstance(e, UserEvent)}
    assert {lab.event_id for lab in decoded_labels if isinstance(lab, Label)} == event_ids
    assert all(r.key == msgspec.json.decode(r.value or b"{}")["user_id"].encode()
               for r in events + labels)
