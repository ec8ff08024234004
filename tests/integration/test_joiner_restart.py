"""``streamml join`` restarted (SIGTERM) and killed (SIGKILL) mid-stream forgets nothing.

Events, predictions and labels read before a restart were committed, so they are never
delivered again; the joiner rebuilds them from the topics' tails. Labels for
events seen before the restart still join, labels that waited across the restart
still join, and repeated labels (or records delivered again after a kill) never
join twice.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from contracts.kafka_clients import KafkaRecord
from contracts.records import LabeledEvent, LabeledOutcomes, Prediction, Route, UserEvent
from contracts.settings import Settings
from contracts.topics import Topics
from streamml.broker.single_node import free_port
from tests.integration.processes import (
    Child,
    http_get,
    settings_env,
    streamml_child,
    wait_for_health,
)
from tests.integration.test_joiner import Sender, metric, send_label
from tests.integration.topic_reader import read_topic

LABEL_WAIT = 30.0
# Short sessions so a killed worker's membership ends in seconds, not 45 s.
FAST_GROUP = {"STREAMML_SESSION_TIMEOUT_S": "6"}
# No commits while the worker runs: a kill then leaves everything it did uncommitted.
NO_COMMITS = ("--commit-interval", "3600")
LABELED = msgspec.json.Decoder(LabeledEvent)
OUTCOMES = msgspec.json.Decoder(LabeledOutcomes)


def user_of(i: int) -> str:
    return f"u{i % 11}"


def join_args(port: int, *extra: str) -> list[str]:
    return ["join", "--web-port", str(port), "--label-wait", str(LABEL_WAIT), "--ttl", "600",
            *extra]


def send_scored(sender: Sender, ids: Iterable[int], ts: datetime) -> None:
    """Each event, its champion prediction and a shadow one the joiner must ignore."""
    topics = sender.topics
    for i in ids:
        user = user_of(i)
        event = UserEvent(event_id=f"e{i}", user_id=user, ts=ts, features={"n": float(i)})
        sender.send(topics.user_events, user, msgspec.json.encode(event))
        routes: tuple[tuple[Route, int], ...] = (("champion", 1), ("shadow", 2))
        for route, version in routes:
            prediction = Prediction(event_id=f"e{i}", user_id=user, ts=ts, model="m",
                                    version=version, route=route, score=(i % 100) / 100,
                                    decision=0, scored_at=ts)
            sender.send(topics.predictions, user, msgspec.json.encode(prediction))
    sender.flush()


def send_labels(sender: Sender, ids: Iterable[int], ts: datetime) -> None:
    for i in ids:
        send_label(sender, f"e{i}", user_of(i), ts, i % 2)
    sender.flush()


def wait_ready(child: Child, port: int, timeout: float = 40.0) -> dict[str, Any]:
    """Health once the worker has partitions and has restored them."""
    deadline = time.monotonic() + timeout
    while True:
        health = wait_for_health(child, port, timeout=max(1.0, deadline - time.monotonic()))
        if health.get("ready") and health.get("partitions"):
            return health
        if time.monotonic() > deadline:
            raise AssertionError(f"never ready: {health}\n{child.output()[-3000:]}")
        time.sleep(0.3)


def health_of(port: int) -> dict[str, Any]:
    health: dict[str, Any] = json.loads(http_get(f"http://127.0.0.1:{port}/health")[1])
    return health


def joined_ids(records: list[KafkaRecord]) -> Counter[str]:
    return Counter(msgspec.json.decode(r.value or b"", type=LabeledEvent).event_id
                   for r in records)


def wait_joined(settings: Settings, expected: set[str], timeout: float = 30.0) -> Counter[str]:
    """Event ids on ``labeled-events`` once all of ``expected`` are there."""
    topic = Topics(settings.topic_prefix).labeled_events
    records = read_topic(settings, topic, timeout=timeout,
                         until=lambda r: expected <= set(joined_ids(r)))
    joined = joined_ids(records)
    missing = expected - set(joined)
    assert not missing, f"never joined within {timeout:g}s: {sorted(missing)}"
    return joined


def ids(numbers: Iterable[int]) -> set[str]:
    return {f"e{i}" for i in numbers}


def test_restart_and_kill_lose_no_waiting_state_and_join_nothing_twice(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    settings = kafka_settings
    sender = Sender(settings)
    ts = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    env = settings_env(settings, **FAST_GROUP)

    # 1. Events 0..29 scored, 0..9 labeled; labels of 30..34 wait for events not yet sent.
    port = free_port()
    with streamml_child(join_args(port), env, tmp_path / "j1.log") as first:
        wait_ready(first, port)
        send_scored(sender, range(30), ts)
        send_labels(sender, [*range(10), *range(30, 35)], ts)
        wait_joined(settings, ids(range(10)))
        deadline = time.monotonic() + 10
        while health_of(port)["waiting_labels"] != 5 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert first.stop(signal.SIGTERM) == 0, first.output()[-3000:]

    # 2. Restarted: what the first worker read and committed is rebuilt from the tails.
    port = free_port()
    with streamml_child(join_args(port, *NO_COMMITS), env, tmp_path / "j2.log") as second:
        health = wait_ready(second, port)
        assert (health["pending_events"], health["waiting_labels"]) == (20, 5), health
        send_labels(sender, [*range(10, 25), *range(5)], ts)  # 0..4 are repeats
        send_scored(sender, range(30, 35), ts)  # the labels that waited across the restart
        wait_joined(settings, ids([*range(25), *range(30, 35)]))
        second.stop(signal.SIGKILL)  # nothing it did was committed

    # 3. After the kill, its records come again: the labeled-events tail stops repeats.
    port = free_port()
    with streamml_child(join_args(port), env, tmp_path / "j3.log") as third:
        health = wait_ready(third, port)
        assert health["waiting_labels"] == 0, health
        send_labels(sender, [*range(25, 30), *range(10, 15), *range(20, 25), 30, 31], ts)
        every = ids([*range(35)])
        wait_joined(settings, every)
        time.sleep(2.0)  # let any second join of a repeat show up
        counts = joined_ids(read_topic(settings, sender.topics.labeled_events, idle=1.0))
        dead = read_topic(settings, sender.topics.dead_letters, idle=1.0)
        _, body = http_get(f"http://127.0.0.1:{port}/metrics")

    assert set(counts) == every
    assert [i for i, n in counts.items() if n > 1] == [], counts
    assert dead == [], [r.value for r in dead]
    # The killed worker's labeled events had no outcomes yet: the third wrote them, once.
    labeled = {(r.partition, r.offset): LABELED.decode(r.value or b"").event_id
               for r in read_topic(settings, sender.topics.labeled_events, idle=1.0)}
    told: Counter[tuple[int, int, str]] = Counter()
    for record in read_topic(settings, sender.topics.labeled_outcomes, idle=1.0):
        o = OUTCOMES.decode(record.value or b"")
        assert o.consecutive, o
        told.update((o.partition, o.first_offset + i, e) for i, e in enumerate(o.event_ids))
    assert sorted(told) == sorted((p, at, e) for (p, at), e in labeled.items())
    assert max(told.values()) == 1
    text = body.decode()
    assert metric(text, "streamml_join_restored_total", kind="joined-ids") >= 30
    assert metric(text, "streamml_join_recoveries_total", outcome="complete") == 3
    assert metric(text, "streamml_labeled_events_total", model="m") == 5  # only 25..29 were new
