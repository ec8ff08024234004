"""A backlog larger than the joiner's stores joins whole: the three topics are read in step
by event time, not as fast as each one's bytes allow. The joiner's metrics pass promtool."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from contracts.records import Label, LabeledEvent, Prediction, UserEvent
from contracts.settings import Settings
from contracts.topics import Topics
from streamml.broker.single_node import free_port
from tests.integration.processes import http_get, settings_env, streamml_child, wait_for_health
from tests.integration.test_joiner import Sender, metric
from tests.integration.topic_reader import read_topic

EVENTS = 24_000
EVENTS_PER_SECOND = 20
# Per partition (three of them), three quarters of its backlog: room for the batches a
# topic can run ahead by before it is paused (at most 2,000 records each), not for all of
# a partition's labels read ahead of its events (librdkafka's read-ahead of 4 MiB holds
# them all).
CAPACITY = 18_000
LABEL_DELAY = timedelta(seconds=5)


def send_backlog(settings: Settings, start: datetime) -> None:
    """Twenty minutes of traffic: large events, small labels."""
    sender = Sender(settings)
    topics = sender.topics
    # Events of 2.3 KB (8 strings of 256 characters) and labels of 130 bytes, so a
    # fetch brings a few dozen events against hundreds of labels.
    padding = {f"note{k}": "x" * 256 for k in range(8)}
    times = [start + timedelta(seconds=i / EVENTS_PER_SECOND) for i in range(EVENTS)]
    for i, ts in enumerate(times):
        user = f"u{i % 97}"
        event = UserEvent(event_id=f"e{i}", user_id=user, ts=ts,
                          features={"cart_value": float(i), **padding})
        sender.send(topics.user_events, user, msgspec.json.encode(event))
        prediction = Prediction(event_id=f"e{i}", user_id=user, ts=ts, model="conversion",
                                version=1, route="champion", score=0.5, decision=1,
                                scored_at=ts)
        sender.send(topics.predictions, user, msgspec.json.encode(prediction))
    for i, ts in enumerate(times):
        label = Label(event_id=f"e{i}", user_id=f"u{i % 97}", ts=ts + LABEL_DELAY, label=i % 2)
        sender.send(topics.labels, label.user_id, msgspec.json.encode(label))
    sender.flush()


def test_a_backlog_larger_than_the_stores_joins_every_label(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    topics = Topics(kafka_settings.topic_prefix)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    send_backlog(kafka_settings, start)
    port = free_port()
    args = ["join", "--web-port", str(port), "--capacity", str(CAPACITY), "--label-wait", "600",
            "--ttl", "86400"]

    with streamml_child(args, settings_env(kafka_settings), tmp_path / "join.log") as child:
        wait_for_health(child, port, timeout=30)
        labeled = read_topic(kafka_settings, topics.labeled_events, timeout=120,
                             until=lambda r: len(r) >= EVENTS)
        dead = read_topic(kafka_settings, topics.dead_letters, idle=1.0)
        _, body = http_get(f"http://127.0.0.1:{port}/metrics")

    text = body.decode()
    joined = {msgspec.json.decode(r.value or b"", type=LabeledEvent).event_id for r in labeled}
    reasons = [msgspec.json.decode(r.value or b"").get("reason") for r in dead]
    assert (len(joined), reasons) == (EVENTS, []), text
    paused = sum(metric(text, "streamml_join_pauses_total", topic=t)
                 for t in (topics.user_events, topics.predictions, topics.labels))
    assert paused > 0  # the stores did not merely happen to suffice
    assert metric(text, "streamml_join_paused_partitions") == 0
    check = subprocess.run(["promtool", "check", "metrics"], input=body,  # noqa: S607
                           capture_output=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
