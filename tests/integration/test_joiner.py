"""``streamml join`` as a child process against the real broker: labels meet scored events."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import numpy as np
from confluent_kafka import Producer

from contracts.kafka_clients import producer_config
from contracts.packed import FLOAT, LABEL, VERSION, unpack
from contracts.records import (
    DeadLetter,
    Label,
    LabeledEvent,
    LabeledOutcomes,
    Prediction,
    Route,
    UserEvent,
)
from contracts.settings import Settings
from contracts.topics import Topics
from streamml.broker.single_node import free_port
from tests.integration.processes import http_get, settings_env, streamml_child, wait_for_health
from tests.integration.topic_reader import read_topic

LABEL_WAIT = 3.0
EVENTS = 20
EARLY = range(0, 5)  # labeled before their event and prediction are sent
LATE = range(5, 15)  # labeled after; 15..19 are never labeled
UNKNOWN = ["x0", "x1", "x2"]
OUTCOMES = msgspec.json.Decoder(LabeledOutcomes)


def user_of(i: int) -> str:
    return f"u{i % 7}"


def score_of(i: int) -> float:
    return round(0.05 * i, 2)


class Sender:
    def __init__(self, settings: Settings) -> None:
        self.topics = Topics(settings.topic_prefix)
        self.producer = Producer(producer_config(settings))
        self.errors: list[object] = []

    def send(self, topic: str, key: str, value: bytes) -> None:
        self.producer.produce(topic, key=key.encode(), value=value,
                              on_delivery=lambda err, _m: self.errors.append(err) if err else None)
        self.producer.poll(0)

    def flush(self) -> None:
        assert self.producer.flush(30) == 0
        assert self.errors == []


def send_label(sender: Sender, event_id: str, user_id: str, ts: datetime, value: int) -> None:
    label = Label(event_id=event_id, user_id=user_id, ts=ts + timedelta(seconds=45), label=value)
    sender.send(sender.topics.labels, user_id, msgspec.json.encode(label))


def send_all(settings: Settings, ts: datetime) -> None:
    sender = Sender(settings)
    topics = sender.topics
    for i in EARLY:
        send_label(sender, f"e{i}", user_of(i), ts, i % 2)
    sender.flush()
    for i in (*range(EVENTS), 8):  # event 8 is sent twice
        event = UserEvent(event_id=f"e{i}", user_id=user_of(i), ts=ts,
                          features={"cart_value": float(i), "device": "mobile"})
        sender.send(topics.user_events, user_of(i), msgspec.json.encode(event))
    for i in (*range(EVENTS), 9):  # and prediction 9
        routes: tuple[tuple[Route, float, int], ...] = (
            ("champion", score_of(i), 1), ("shadow", 0.99, 2))
        for route, score, version in routes:
            prediction = Prediction(event_id=f"e{i}", user_id=user_of(i), ts=ts,
                                    model="conversion", version=version, route=route,
                                    score=score, decision=int(score > 0.5), scored_at=ts)
            sender.send(topics.predictions, user_of(i), msgspec.json.encode(prediction))
    for i in LATE:
        send_label(sender, f"e{i}", user_of(i), ts, i % 2)
    for i in (6, 7, 2):  # repeated labels, one of them an early one
        send_label(sender, f"e{i}", user_of(i), ts, i % 2)
    for event_id in UNKNOWN:
        send_label(sender, event_id, "u1", ts, 1)
    sender.send(topics.labels, "u1", b'{"event_id": "broken"')
    sender.flush()


def metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = re.escape(name + (f"{{{wanted}}}" if wanted else "")) + r" ([0-9.e+-]+)"
    match = re.search(pattern, text)
    return float(match.group(1)) if match else 0.0


def test_join_labels_scored_events_once_and_dead_letters_the_rest(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    topics = Topics(kafka_settings.topic_prefix)
    port = free_port()
    args = ["join", "--web-port", str(port), "--label-wait", str(LABEL_WAIT), "--ttl", "600"]
    ts = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    labeled_ids = {f"e{i}" for i in (*EARLY, *LATE)}

    with streamml_child(args, settings_env(kafka_settings), tmp_path / "join.log") as child:
        wait_for_health(child, port, timeout=30)
        send_all(kafka_settings, ts)

        labeled = read_topic(kafka_settings, topics.labeled_events, timeout=30,
                             until=lambda r: len(r) >= len(labeled_ids))
        dead = read_topic(kafka_settings, topics.dead_letters, timeout=30,
                          until=lambda r: len(r) >= len(UNKNOWN) + 1)
        # Give repeats a chance to show up as extra labeled events (they must not).
        labeled = read_topic(kafka_settings, topics.labeled_events, idle=LABEL_WAIT)
        outcomes = read_topic(kafka_settings, topics.labeled_outcomes, timeout=30,
                              until=lambda r: sum(len(OUTCOMES.decode(o.value or b"").event_ids)
                                                  for o in r) >= len(labeled_ids))
        _, body = http_get(f"http://127.0.0.1:{port}/metrics")
        _, health = http_get(f"http://127.0.0.1:{port}/health")

    joined = [msgspec.json.decode(r.value or b"", type=LabeledEvent) for r in labeled]
    assert sorted(e.event_id for e in joined) == sorted(labeled_ids), child.output()[-3000:]
    for record, event in zip(labeled, joined, strict=True):
        i = int(event.event_id[1:])
        assert record.key == user_of(i).encode()
        assert (event.user_id, event.label, event.score, event.version) == (
            user_of(i), i % 2, score_of(i), 1)
        assert event.features == {"cart_value": float(i), "device": "mobile"}
        assert event.ts == ts

    # What the monitor reads of them: each one's columns, at the offset it got.
    written = {(r.partition, r.offset): e for r, e in zip(labeled, joined, strict=True)}
    told = {}
    for record in outcomes:
        o = OUTCOMES.decode(record.value or b"")
        assert o.consecutive and record.partition == o.partition
        columns = zip(o.event_ids, unpack(o.versions, VERSION, np.int64).tolist(),
                      unpack(o.labels, LABEL, np.int64).tolist(),
                      unpack(o.scores, FLOAT, np.float64).tolist(),
                      unpack(o.ts, FLOAT, np.float64).tolist(), strict=True)
        for i, outcome in enumerate(columns):
            told[(o.partition, o.first_offset + i)] = outcome
    assert told == {at: (e.event_id, e.version, e.label, e.score, e.ts.timestamp())
                    for at, e in written.items()}

    letters = sorted((msgspec.json.decode(r.value or b"", type=DeadLetter) for r in dead),
                     key=lambda d: d.reason)
    assert [(d.reason, d.stage, d.source_topic) for d in letters] == [
        ("no-scored-event", "join", topics.labels)] * len(UNKNOWN) + [
        ("not-json", "join", topics.labels)]
    unknown = [msgspec.json.decode(d.original, type=Label).event_id for d in letters[:3]]
    assert sorted(unknown) == UNKNOWN

    text = body.decode()
    assert metric(text, "streamml_labeled_events_total", model="conversion") == len(labeled_ids)
    assert metric(text, "streamml_join_unmatched_labels_total",
                  reason="no-scored-event") == len(UNKNOWN)
    assert metric(text, "streamml_join_duplicates_total", kind="label") == 3
    assert metric(text, "streamml_join_duplicates_total", kind="event") == 1
    assert metric(text, "streamml_join_duplicates_total", kind="prediction") == 1
    assert metric(text, "streamml_join_records_in_total", topic="user-events") == EVENTS + 1
    assert metric(text, "streamml_join_records_in_total", topic="predictions") == 2 * EVENTS + 2
    assert metric(text, "streamml_join_records_in_total", topic="labels") == (
        len(labeled_ids) + 3 + len(UNKNOWN) + 1)
    assert metric(text, "streamml_join_skipped_total", topic="labels", reason="not-json") == 1
    assert metric(text, "streamml_label_delay_seconds_count",
                  model="conversion") == len(labeled_ids)
    assert [metric(text, "streamml_join_waiting_labels", partition=str(p)) for p in range(3)
            ] == [0, 0, 0]
    assert text.count("streamml_join_waiting_labels{") == 3
    assert metric(text, "streamml_join_pending_events") == EVENTS - len(labeled_ids)
    assert b'"waiting_labels":0' in health.replace(b" ", b"")
