"""Events written by Confluent's Avro serializer are scored as their JSON twins are; a
record that does not match its writer's schema is dead-lettered with the reason."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import msgspec
import pytest

pytest.importorskip("fastavro")

from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.schema_registry._sync.mock_schema_registry_client import (  # noqa: E402
    MockSchemaRegistryClient,
)
from confluent_kafka.schema_registry.avro import AvroSerializer  # noqa: E402
from confluent_kafka.serialization import MessageField, SerializationContext  # noqa: E402

from contracts.kafka_clients import make_admin, producer_config  # noqa: E402
from contracts.records import DeadLetter, Prediction  # noqa: E402
from contracts.settings import Secret, Settings  # noqa: E402
from contracts.topic_admin import ensure_topics  # noqa: E402
from contracts.topics import Topics  # noqa: E402
from streamml.broker.single_node import free_ports  # noqa: E402
from tests.integration.processes import settings_env, streamml_child, wait_for_health  # noqa: E402
from tests.integration.scoring_fixtures import (  # noqa: E402
    SIGNING_KEY,
    publish_champion,
    send_events,
    signed,
    trained_bundle,
)
from tests.integration.topic_reader import read_topic  # noqa: E402
from tests.unit.contracts.test_wire_formats import NESTED_EVENT  # noqa: E402

PREDICTION = msgspec.json.Decoder(Prediction)
DEAD_LETTER = msgspec.json.Decoder(DeadLetter)
EVENTS = 2000


def twin_settings(settings: Settings) -> Settings:
    """The same broker under a second set of topics and groups."""
    tag = uuid.uuid4().hex[:10]
    twin = settings.with_overrides(topic_prefix=f"t{tag}.", group_prefix=f"g{tag}")
    ensure_topics(make_admin(twin), Topics(twin.topic_prefix).specs(partitions=3,
                                                                     replication_factor=1))
    return twin


@pytest.mark.parametrize("runner", ["kafka", "faust"])
def test_avro_events_score_as_their_json_twins_and_a_mismatch_is_dead_lettered(
        kafka_settings: Settings, tmp_path: Path, runner: str) -> None:
    json_side = kafka_settings.with_overrides(model_private_key=Secret(SIGNING_KEY))
    avro_side = twin_settings(json_side)
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    artifact = signed(trained_bundle(1))
    publish_champion(json_side, artifact)
    publish_champion(avro_side, artifact)

    # The twins: the same simulated events, as streamml's JSON and as an application
    # using Confluent's Avro serializer writes them (its schemas copied to a directory).
    sent = send_events(json_side, EVENTS, prefix="twin")
    registry = MockSchemaRegistryClient({"url": "mock://application"})
    serialize = AvroSerializer(registry, json.dumps(NESTED_EVENT))
    topic = Topics(avro_side.topic_prefix).user_events
    context = SerializationContext(topic, MessageField.VALUE)
    producer = Producer(producer_config(avro_side))
    for item in sent:
        e = item.event
        producer.produce(topic, key=e.user_id.encode(), value=serialize(
            {"event_id": e.event_id, "user_id": e.user_id, "ts": e.ts,
             "features": dict(e.features)}, context))
    framed = serialize({"event_id": "broken", "user_id": "u1", "ts": sent[0].event.ts,
                        "features": {"cart_value": 1.0}}, context)
    producer.produce(topic, key=b"u1", value=framed[:-3])
    producer.produce(topic, key=b"u1", value=b'{"event_id": "plain"}')
    producer.flush(30)
    schema_id = int.from_bytes(framed[1:5], "big")
    (schemas / f"{schema_id}.avsc").write_text(registry.get_schema(schema_id).schema_str)

    ports = free_ports(2)
    with (
        streamml_child(["process", "--data-dir", str(tmp_path / "json")],
                       settings_env(json_side, STREAMML_SCORING_PORT=str(ports[0])),
                       tmp_path / "json.log") as plain,
        streamml_child(["process", "--data-dir", str(tmp_path / "avro")],
                       settings_env(avro_side, STREAMML_SCORING_PORT=str(ports[1]),
                                    STREAMML_SCORING_RUNNER=runner,
                                    STREAMML_INPUT_FORMAT="confluent",
                                    STREAMML_SCHEMA_DIR=str(schemas)),
                       tmp_path / "avro.log") as avro,
    ):
        wait_for_health(plain, ports[0])
        wait_for_health(avro, ports[1])
        expected = {p.event_id: p for p in map(PREDICTION.decode, (r.value for r in read_topic(
            json_side, Topics(json_side.topic_prefix).predictions,
            until=lambda r: len(r) >= EVENTS, timeout=120)))}
        scored = {p.event_id: p for p in map(PREDICTION.decode, (r.value for r in read_topic(
            avro_side, Topics(avro_side.topic_prefix).predictions,
            until=lambda r: len(r) >= EVENTS, timeout=120)))}
        letters = [DEAD_LETTER.decode(r.value) for r in read_topic(
            avro_side, Topics(avro_side.topic_prefix).dead_letters,
            until=lambda r: len(r) >= 2, timeout=60)]

    assert len(expected) == len(scored) == EVENTS
    assert {k: (p.score, p.decision, p.ts) for k, p in scored.items()} == \
        {k: (p.score, p.decision, p.ts) for k, p in expected.items()}
    assert sorted((d.reason, d.source_topic) for d in letters) == [
        ("not-schema-framed", topic), ("schema-mismatch", topic)]
    assert all(d.error for d in letters)


def test_an_unreachable_registry_stops_the_processor_in_one_line_and_loses_nothing(
        kafka_settings: Settings, tmp_path: Path) -> None:
    from confluent_kafka import Consumer, TopicPartition

    from contracts.kafka_clients import consumer_config

    settings = kafka_settings.with_overrides(model_private_key=Secret(SIGNING_KEY))
    publish_champion(settings, signed(trained_bundle(1)))
    topics = Topics(settings.topic_prefix)
    producer = Producer(producer_config(settings))
    producer.produce(topics.user_events, key=b"u1", partition=0,
                     value=b"\x00\x00\x00\x00\x07" + b"\x04e1\x04u1")
    producer.flush(30)
    closed = free_ports(1)[0]  # nothing listens there
    env = settings_env(settings, STREAMML_SCORING_PORT=str(free_ports(1)[0]),
                       STREAMML_INPUT_FORMAT="confluent",
                       STREAMML_SCHEMA_REGISTRY_URL=f"http://127.0.0.1:{closed}")

    with streamml_child(["process", "--data-dir", str(tmp_path / "w")], env,
                        tmp_path / "process.log") as child:
        code = child.process.wait(90)
        output = child.output()

    assert code == 2, output[-2000:]
    last = output.strip().splitlines()[-1]
    assert last.startswith("streamml process: the Schema Registry at http://127.0.0.1:")
    assert "schema id 7" in last and "Traceback" not in output
    assert read_topic(settings, topics.dead_letters, until=lambda r: False, timeout=3) == []
    group = Consumer(consumer_config(settings, "scoring"))
    committed = group.committed([TopicPartition(topics.user_events, 0)], timeout=10)
    group.close()
    assert committed[0].offset < 1, "the record the registry could not explain is read again"
