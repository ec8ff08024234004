"""Records written by Confluent's own serializers (Avro, JSON Schema) read as their JSON
twins; what does not match its schema, or a schema that could exhaust a reader, refused."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastavro")
pytest.importorskip("jsonschema")

from confluent_kafka.schema_registry._sync.mock_schema_registry_client import (  # noqa: E402
    MockSchemaRegistryClient,
)
from confluent_kafka.schema_registry.avro import AvroSerializer  # noqa: E402
from confluent_kafka.schema_registry.json_schema import JSONSerializer  # noqa: E402
from confluent_kafka.serialization import MessageField, SerializationContext  # noqa: E402

from contracts.bounded_ids import RecentIds  # noqa: E402
from contracts.decoding import JSON_INPUTS, InputDecoders, Rejection  # noqa: E402
from contracts.exceptions import SettingsError  # noqa: E402
from contracts.kafka_clients import KafkaRecord  # noqa: E402
from contracts.records import Label, UserEvent  # noqa: E402
from contracts.settings import Settings  # noqa: E402
from contracts.wire_formats import (  # noqa: E402
    ConfluentFormat,
    SchemaUnavailable,
    WriterSchema,
    local_schemas,
    registry_schemas,
    wire_format,
)
from producers.simulator import Simulator  # noqa: E402

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC).timestamp()
FEATURE_VALUE = ["null", "double", "string"]
NESTED_EVENT = {
    "type": "record", "name": "UserEvent", "namespace": "shop",
    "fields": [
        {"name": "event_id", "type": "string"},
        {"name": "user_id", "type": "string"},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "features", "type": {"type": "map", "values": FEATURE_VALUE}},
    ],
}
LABEL = {
    "type": "record", "name": "Label", "namespace": "shop",
    "fields": [
        {"name": "event_id", "type": "string"},
        {"name": "user_id", "type": "string"},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "label", "type": "int"},
    ],
}
JSON_EVENT = {
    "type": "object",
    "properties": {"event_id": {"type": "string"}, "user_id": {"type": "string"},
                   "ts": {"type": "string"}, "cart_value": {"type": ["number", "null"]}},
    "required": ["event_id", "user_id", "ts"],
}


class Writer:
    """An application's side: Confluent's serializers, and the schemas they registered
    copied to the directory a streamml deployment reads them from."""

    def __init__(self, directory: Path) -> None:
        self.client = MockSchemaRegistryClient({"url": "mock://writer"})
        self.directory = directory

    def avro(self, schema: dict[str, Any], topic: str = "user-events") -> Callable[[Any], bytes]:
        serializer = AvroSerializer(self.client, json.dumps(schema))
        return lambda value: self._export(serializer(value, _context(topic)))

    def json_schema(self, schema: dict[str, Any], topic: str = "user-events") \
            -> Callable[[Any], bytes]:
        serializer = JSONSerializer(json.dumps(schema), self.client)
        return lambda value: self._export(serializer(value, _context(topic)))

    def _export(self, framed: bytes) -> bytes:
        schema_id = int.from_bytes(framed[1:5], "big")
        found = self.client.get_schema(schema_id)
        suffix = ".avsc" if found.schema_type == "AVRO" else ".json"
        (self.directory / f"{schema_id}{suffix}").write_text(found.schema_str)
        return framed


def _context(topic: str) -> SerializationContext:
    return SerializationContext(topic, MessageField.VALUE)


def inputs(directory: Path) -> InputDecoders:
    return InputDecoders.of(ConfluentFormat(local_schemas(str(directory))))


def simulated(n: int) -> list[UserEvent]:
    return [item.event for item in Simulator(seed=5, start=datetime.fromtimestamp(
        NOW - 3600, UTC)).events(n)]


def test_avro_events_decode_to_their_json_twins(tmp_path: Path) -> None:
    write = Writer(tmp_path).avro(NESTED_EVENT)
    events = simulated(200)
    framed = [write({"event_id": e.event_id, "user_id": e.user_id, "ts": e.ts,
                     "features": dict(e.features)}) for e in events]

    decoded = [inputs(tmp_path).events.decode(raw, now=NOW) for raw in framed]
    twins = [JSON_INPUTS.events.decode(json.dumps({
        "event_id": e.event_id, "user_id": e.user_id, "ts": e.ts.isoformat(),
        "features": dict(e.features)}).encode(), now=NOW) for e in events]

    assert decoded == twins
    assert all(isinstance(d, UserEvent) for d in decoded)


def test_a_record_without_a_features_field_has_its_other_fields_as_features(
        tmp_path: Path) -> None:
    flat = {"type": "record", "name": "Flat", "fields": [
        {"name": "event_id", "type": "string"}, {"name": "user_id", "type": "string"},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "cart_value", "type": ["null", "double"]},
        {"name": "device", "type": "string"}]}
    ts = datetime.fromtimestamp(NOW - 60, UTC)
    raw = Writer(tmp_path).avro(flat)(
        {"event_id": "e1", "user_id": "u1", "ts": ts, "cart_value": None, "device": "mobile"})

    event = inputs(tmp_path).events.decode(raw, now=NOW)

    assert event == UserEvent(event_id="e1", user_id="u1", ts=ts,
                              features={"cart_value": None, "device": "mobile"})


def test_avro_labels_and_json_schema_events_decode(tmp_path: Path) -> None:
    writer = Writer(tmp_path)
    ts = datetime.fromtimestamp(NOW - 60, UTC)
    label = writer.avro(LABEL, "labels")({"event_id": "e1", "user_id": "u1", "ts": ts,
                                           "label": 1})
    event = writer.json_schema(JSON_EVENT)({"event_id": "e1", "user_id": "u1",
                                            "ts": ts.isoformat(), "cart_value": 3.5})
    decoders = inputs(tmp_path)

    assert decoders.labels.decode(label, now=NOW) == Label(event_id="e1", user_id="u1",
                                                             ts=ts, label=1)
    assert decoders.events.decode(event, now=NOW) == UserEvent(
        event_id="e1", user_id="u1", ts=ts, features={"cart_value": 3.5})


def _avro_event(writer: Writer, features: dict[str, Any]) -> bytes:
    return writer.avro(NESTED_EVENT)({"event_id": "e1", "user_id": "u1",
                                      "ts": datetime.fromtimestamp(NOW, UTC),
                                      "features": features})


def _truncated(writer: Writer) -> bytes:
    return _avro_event(writer, {"a": 1.0})[:-4]


def _trailing(writer: Writer) -> bytes:
    return _avro_event(writer, {}) + b"\x02\x04"


def _json_mismatch(writer: Writer) -> bytes:
    valid = writer.json_schema(JSON_EVENT)({"event_id": "e1", "user_id": "u1",
                                            "ts": "2026-05-01T11:00:00Z"})
    return valid[:5] + b'{"event_id": "e1", "user_id": "u1", "ts": 7}'


WIRE_CATALOGUE = [
    pytest.param(lambda w: b'{"event_id": "e1"}', "not-schema-framed", "wire format",
                 id="plain-json"),
    pytest.param(lambda w: b"\x00\x00\x00\x00\x63" + b"{}", "unknown-schema", "id 99",
                 id="unknown-id"),
    pytest.param(_truncated, "schema-mismatch", "Avro", id="truncated-avro"),
    pytest.param(_trailing, "schema-mismatch", "bytes are left", id="trailing-bytes"),
    pytest.param(_json_mismatch, "schema-mismatch", "ts", id="json-schema-mismatch"),
    pytest.param(lambda w: _json_mismatch(w)[:5] + b'{"event_id": "\xff"}', "not-utf8",
                 "UTF-8", id="json-not-utf8"),
]


@pytest.mark.parametrize(("make", "code", "mentions"), WIRE_CATALOGUE)
def test_a_record_that_does_not_match_its_schema_is_refused_with_its_reason(
        tmp_path: Path, make: Callable[[Writer], bytes], code: str, mentions: str) -> None:
    result = inputs(tmp_path).events.decode(make(Writer(tmp_path)), now=NOW)

    assert isinstance(result, Rejection)
    assert result.code == code, result.message
    assert mentions in result.message


BAD_SCHEMAS = [
    pytest.param({"type": "record", "name": "R", "fields": [
        {"name": "xs", "type": {"type": "array", "items": "null"}}]}, "may take no bytes",
        id="array-of-nulls"),
    pytest.param({"type": "record", "name": "R", "fields": [
        {"name": "xs", "type": {"type": "map", "values": {
            "type": "record", "name": "Empty", "fields": []}}}]}, "may take no bytes",
        id="map-of-empty-records"),
    pytest.param({"type": "record", "name": "Node", "fields": [
        {"name": "next", "type": ["null", "Node"]}]}, "contains itself", id="recursive"),
    pytest.param({"type": "record", "name": "A", "fields": [
        {"name": "b", "type": {"type": "record", "name": "B", "fields": [
            {"name": "a", "type": ["null", "A"]}]}}]}, "contains itself",
        id="mutually-recursive"),
    pytest.param("not a schema", "not a usable Avro schema", id="not-avro"),
]


@pytest.mark.parametrize(("schema", "mentions"), BAD_SCHEMAS)
def test_a_schema_that_could_exhaust_a_reader_is_refused(schema: Any, mentions: str) -> None:
    wire = ConfluentFormat({7: WriterSchema("AVRO", json.dumps(schema))}.get)
    # Billions of items declared in a few bytes, were the schema accepted.
    payload = b"\x00\x00\x00\x00\x07" + b"\xfe\xff\xff\xff\x0f" * 3

    result = wire.envelope(payload, ("event_id",))

    assert isinstance(result, Rejection)
    assert result.code == "bad-schema"
    assert mentions in result.message


def test_a_wide_schema_of_shared_types_is_checked_once_per_type() -> None:
    # 40 levels, each using the one below twice: walked naively, 2^40 visits.
    types: list[Any] = [{"type": "record", "name": "T0", "fields": [
        {"name": "x", "type": "long"}]}]
    for level in range(1, 40):
        types.append({"type": "record", "name": f"T{level}", "fields": [
            {"name": "a", "type": types[-1]}, {"name": "b", "type": f"T{level - 1}"}]})
    wire = ConfluentFormat({1: WriterSchema("AVRO", json.dumps(types[-1]))}.get)
    # A guard against a hang, not a speed target: a linear check takes milliseconds.
    checking = threading.Thread(target=wire.prepare, args=([b"\x00\x00\x00\x00\x01"],),
                                daemon=True)
    checking.start()
    checking.join(60)

    assert not checking.is_alive()
    # Accepted: a payload is read until it ends (2^39 longs would be needed).
    result = wire.envelope(b"\x00\x00\x00\x00\x01" + b"\x02" * 10, ("x",))
    assert isinstance(result, Rejection) and result.code == "schema-mismatch"


def test_a_protobuf_schema_is_refused_by_name() -> None:
    wire = ConfluentFormat({3: WriterSchema("PROTOBUF", "syntax = 'proto3';")}.get)

    result = wire.envelope(b"\x00\x00\x00\x00\x03\x00", ("event_id",))

    assert isinstance(result, Rejection) and "Avro and JSON Schema" in result.message


def _no_record(i: int) -> KafkaRecord:
    raise AssertionError("no record is dead-lettered")


def test_an_unanswering_source_stops_a_batch_before_it_changes_anything(tmp_path: Path) -> None:
    from stream_processors.scoring_step import score_values
    from stream_processors.serving_state import ServingState

    def down(schema_id: int) -> WriterSchema | None:
        raise SchemaUnavailable("the registry did not answer")

    write = Writer(tmp_path).avro(NESTED_EVENT)
    values = [write({"event_id": f"e{i}", "user_id": "u1", "ts": datetime.fromtimestamp(
        NOW, UTC), "features": {}}) for i in range(3)]
    seen = RecentIds()

    with pytest.raises(SchemaUnavailable):
        score_values(values, [b"u1"] * 3, [0] * 3, _no_record, ServingState(), seen,
                     inputs=InputDecoders.of(ConfluentFormat(down)))
    assert seen.add("e0"), "no event was taken as scored: the batch can be read again"


def test_an_unreachable_registry_is_a_one_line_error_not_a_dead_letter() -> None:
    settings = Settings.from_mapping({"STREAMML_INPUT_FORMAT": "confluent",
                                      "STREAMML_SCHEMA_REGISTRY_URL": "http://127.0.0.1:9"})
    lookup = registry_schemas(settings)

    with pytest.raises(SchemaUnavailable) as raised:
        lookup(1)
    assert "127.0.0.1:9" in str(raised.value) and "\n" not in str(raised.value)


def test_the_confluent_format_needs_to_know_where_schemas_are(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="SCHEMA_REGISTRY_URL or STREAMML_SCHEMA_DIR"):
        wire_format(Settings.from_mapping({"STREAMML_INPUT_FORMAT": "confluent"}))
    with pytest.raises(SettingsError, match="not a directory"):
        wire_format(Settings.from_mapping({"STREAMML_INPUT_FORMAT": "confluent",
                                           "STREAMML_SCHEMA_DIR": str(tmp_path / "none")}))
    assert wire_format(Settings.from_mapping({})) is None


def test_avro_events_and_labels_join_with_their_predictions(tmp_path: Path) -> None:
    import msgspec

    from contracts.records import LabeledEvent, Prediction
    from contracts.topics import Topics
    from stream_processors.joiner_step import join_messages
    from stream_processors.partitioned_join import PartitionedJoin

    writer, topics = Writer(tmp_path), Topics()
    write_event, write_label = writer.avro(NESTED_EVENT), writer.avro(LABEL, "labels")
    ts = datetime.fromtimestamp(NOW - 60, UTC)
    records = []
    for i in range(3):
        event_id = f"e{i}"
        prediction = Prediction(event_id=event_id, user_id="u1", ts=ts, model="m", version=1,
                                route="champion", score=0.25, decision=0, scored_at=ts)
        for offset, (topic, value) in enumerate([
            (topics.user_events, write_event({"event_id": event_id, "user_id": "u1", "ts": ts,
                                              "features": {"x": float(i)}})),
            (topics.predictions, msgspec.json.encode(prediction)),
            (topics.labels, write_label({"event_id": event_id, "user_id": "u1", "ts": ts,
                                         "label": i % 2}))]):
            records.append(KafkaRecord(topic=topic, partition=0, offset=3 * i + offset,
                                       key=b"u1", value=value, timestamp_ms=int(NOW * 1000)))
    joins = PartitionedJoin(partitions=1)
    joins.assign({0})

    result = join_messages(records, joins, topics, now=datetime.fromtimestamp(NOW, UTC),
                           inputs=inputs(tmp_path))

    joined = [msgspec.json.decode(v, type=LabeledEvent) for _, v, _ in result.labeled_events]
    assert [(j.event_id, j.label, j.features) for j in joined] == [
        ("e0", 0, {"x": 0.0}), ("e1", 1, {"x": 1.0}), ("e2", 0, {"x": 2.0})]
    assert not result.dead_letters


def test_a_json_schema_referring_outside_itself_is_not_fetched() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    schema = {"type": "object", "properties": {
        "event_id": {"$ref": f"http://127.0.0.1:{port}/id.json"},
        "user_id": {"$ref": "#/$defs/id"}}, "$defs": {"id": {"type": "string"}}}
    wire = ConfluentFormat({4: WriterSchema("JSON", json.dumps(schema))}.get)

    remote = wire.envelope(b"\x00\x00\x00\x00\x04" + b'{"event_id": "e1"}', ("event_id",))
    local = wire.envelope(b"\x00\x00\x00\x00\x04" + b'{"user_id": 7}', ("user_id",))

    assert isinstance(remote, Rejection) and remote.code == "bad-schema", remote
    assert isinstance(local, Rejection) and local.code == "schema-mismatch", local
    with pytest.raises(TimeoutError):
        listener.accept()  # nobody came to fetch it
    listener.close()


def test_decimals_read_as_numbers_and_bytes_are_refused(tmp_path: Path) -> None:
    schema = {"type": "record", "name": "Priced", "fields": [
        {"name": "event_id", "type": "string"}, {"name": "user_id", "type": "string"},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal",
                                   "precision": 6, "scale": 2}},
        {"name": "blob", "type": ["null", "bytes"]}]}
    write = Writer(tmp_path).avro(schema)
    ts = datetime.fromtimestamp(NOW - 60, UTC)
    from decimal import Decimal

    priced = inputs(tmp_path).events.decode(write({"event_id": "e1", "user_id": "u1", "ts": ts,
                                                   "price": Decimal("12.34"), "blob": None}),
                                            now=NOW)
    blob = inputs(tmp_path).events.decode(write({"event_id": "e2", "user_id": "u1", "ts": ts,
                                                 "price": Decimal("1.00"), "blob": b"\x00"}),
                                          now=NOW)

    assert isinstance(priced, UserEvent) and priced.features == {"price": 12.34, "blob": None}
    assert isinstance(blob, Rejection) and blob.code == "wrong-type" and "`blob`" in blob.message


def test_mutated_and_random_records_are_read_or_refused_never_raised() -> None:
    import io
    import random

    import fastavro

    from contracts.decoding import REASON_CODES

    schemas = {1: WriterSchema("AVRO", json.dumps(NESTED_EVENT)),
               2: WriterSchema("AVRO", json.dumps(LABEL)),
               3: WriterSchema("JSON", json.dumps(JSON_EVENT))}
    decoders = InputDecoders.of(ConfluentFormat(schemas.get))
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(NESTED_EVENT), {
        "event_id": "e1", "user_id": "u1", "ts": datetime.fromtimestamp(NOW, UTC),
        "features": {"a": 1.0, "b": "x", "c": None}})
    rng, seen = random.Random(11), set()
    for _ in range(20_000):
        if rng.random() < 0.4:
            payload = rng.randbytes(rng.randint(0, 40))
        else:
            mutated = bytearray(out.getvalue())
            for _ in range(rng.randint(1, 4)):
                mutated[rng.randrange(len(mutated))] = rng.getrandbits(8)
            payload = bytes(mutated)
        schema_id = rng.choice((1, 1, 2, 3))
        decoder = decoders.labels if schema_id == 2 else decoders.events
        result = decoder.decode(b"\x00" + schema_id.to_bytes(4, "big") + payload, now=NOW)
        seen.add(result.code if isinstance(result, Rejection) else "read")
        assert not isinstance(result, Rejection) or (result.code in REASON_CODES
                                                     and result.message)
    assert {"read", "schema-mismatch", "not-json"} <= seen


@pytest.mark.parametrize(("url", "mentions"), [
    ("http://registry.example:8081", "clear text"),
    ("ftp://registry.example", "http(s) URL"),
])
def test_registry_credentials_never_travel_in_clear(url: str, mentions: str) -> None:
    settings = Settings.from_mapping({
        "STREAMML_INPUT_FORMAT": "confluent", "STREAMML_SCHEMA_REGISTRY_URL": url,
        "STREAMML_SCHEMA_REGISTRY_USER": "streamml",
        "STREAMML_SCHEMA_REGISTRY_PASSWORD": "s3cret"})

    with pytest.raises(SettingsError, match=re.escape(mentions)) as refused:
        wire_format(settings)
    assert "s3cret" not in str(refused.value)


def test_the_monitor_counts_framed_events_as_it_counts_json_ones(tmp_path: Path) -> None:
    from monitor.config import load_config
    from monitor.pipeline import MonitorPipeline

    write = Writer(tmp_path).avro(NESTED_EVENT)
    events = simulated(50)
    framed = [write({"event_id": e.event_id, "user_id": e.user_id, "ts": e.ts,
                     "features": dict(e.features)}) for e in events]
    topic = "user-events"
    avro_side = MonitorPipeline(load_config(), model="conversion", inputs=inputs(tmp_path))
    json_side = MonitorPipeline(load_config(), model="conversion")

    avro_side.process_values({topic: [*framed, framed[0], b'{"event_id": "e"}']})
    json_side.process_values({topic: [json.dumps({
        "event_id": e.event_id, "user_id": e.user_id, "ts": e.ts.isoformat(),
        "features": dict(e.features)}).encode() for e in events]})

    counts = avro_side.monitor.counts
    assert counts[("events", "counted")] == json_side.monitor.counts[("events", "counted")] == 50
    assert counts[("events", "duplicate")] == 1 and counts[("events", "not-schema-framed")] == 1


def test_made_up_schema_ids_are_remembered_boundedly_and_asked_again_later() -> None:
    from contracts.wire_formats import UNKNOWN_FOR_SECONDS, UNKNOWN_IDS

    asked: list[int] = []
    registered: dict[int, WriterSchema] = {}
    now = [0.0]

    def lookup(schema_id: int) -> WriterSchema | None:
        asked.append(schema_id)
        return registered.get(schema_id)

    wire = ConfluentFormat(lookup, clock=lambda: now[0])
    framed = [b"\x00" + i.to_bytes(4, "big") + b"{}" for i in range(3 * UNKNOWN_IDS)]

    results = [wire.envelope(raw, ("event_id",)) for raw in framed]
    wire.envelope(framed[-1], ("event_id",))  # still known as unknown: not asked again

    assert {r.code for r in results if isinstance(r, Rejection)} == {"unknown-schema"}
    assert len(asked) == 3 * UNKNOWN_IDS and len(wire._unknown) == UNKNOWN_IDS
    registered[3 * UNKNOWN_IDS - 1] = WriterSchema("JSON", '{"type": "object"}')
    now[0] += UNKNOWN_FOR_SECONDS
    assert wire.envelope(framed[-1], ("event_id",)) == b"{}"  # registered since: read
