"""Events and labels from any Kafka client at its defaults: every label joins exactly once.

Clients disagree on how a key picks a partition: kcat, like every librdkafka-based
client, hashes it with CRC32 by default (``consistent_random``); the Java client and
the project's SDK with murmur2. Each case sends events by one client and their labels
by another (or the same), keyed by user_id as the contract says, through the real
scoring processor and joiner; each case has users of its own.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from contracts.records import DeadLetter, Label, LabeledEvent, Prediction, UserEvent
from contracts.settings import Secret, Settings
from contracts.topics import Topics
from producers.sdk import EventProducer, LabelProducer
from producers.simulator import SimulatedEvent, Simulator
from streamml.broker.single_node import free_port
from tests.integration.processes import http_get, settings_env, streamml_child, wait_for_health
from tests.integration.scoring_fixtures import SIGNING_KEY, publish_champion, signed, trained_bundle
from tests.integration.topic_reader import read_topic

EVENTS_PER_CASE = 150
LABEL_WAIT = 30.0

Send = Callable[[Settings, str, list[tuple[bytes, bytes]]], None]


def kcat(*options: str) -> Send:
    """The real kcat binary, producing ``key<TAB>value`` lines."""
    def send(settings: Settings, topic: str, records: list[tuple[bytes, bytes]]) -> None:
        lines = b"\n".join(key + b"\t" + value for key, value in records) + b"\n"
        subprocess.run(["kcat", "-P", "-b", settings.bootstrap_servers, "-t", topic,  # noqa: S603, S607
                        "-K", "\t", *options], input=lines, check=True, timeout=60)
    return send


def sdk(settings: Settings, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    """The project's SDK, checking each record and keying it by its user_id."""
    topics = Topics(settings.topic_prefix)
    if topic == topics.user_events:
        with EventProducer(settings) as events:
            for _, value in records:
                events.send_record(msgspec.json.decode(value, type=UserEvent))
    else:
        with LabelProducer(settings) as labels:
            for _, value in records:
                labels.send_record(msgspec.json.decode(value, type=Label))


KCAT_DEFAULT = kcat()
KCAT_MURMUR2 = kcat("-X", "topic.partitioner=murmur2_random")
CASES: dict[str, tuple[Send, Send]] = {  # events by, labels by
    "kcat-default": (KCAT_DEFAULT, KCAT_DEFAULT),
    "kcat-murmur2": (KCAT_MURMUR2, KCAT_MURMUR2),
    "sdk": (sdk, sdk),
    "kcat-events-sdk-labels": (KCAT_DEFAULT, sdk),
    "sdk-events-kcat-labels": (sdk, KCAT_DEFAULT),
}


def case_traffic(case: str, seed: int) -> list[SimulatedEvent]:
    start = datetime.now(UTC)
    items = Simulator(seed=seed, start=start, id_prefix=case, n_users=40).events(EVENTS_PER_CASE)
    return [replace(i, event=msgspec.structs.replace(i.event, user_id=f"{case}-{i.event.user_id}"))
            for i in items]


def encoded(items: list[SimulatedEvent], *, labels: bool) -> list[tuple[bytes, bytes]]:
    return [(i.event.user_id.encode(), msgspec.json.encode(i.label_record() if labels
                                                          else i.event)) for i in items]


@pytest.fixture(params=["kafka", "faust"])
def pipeline(request: pytest.FixtureRequest, kafka_settings: Settings, tmp_path: Path):
    """A scoring worker on each runner, and the joiner, serving a published model."""
    settings = kafka_settings.with_overrides(model_private_key=Secret(SIGNING_KEY))
    scoring_port, join_port = free_port(), free_port()
    env = settings_env(settings, STREAMML_SCORING_PORT=str(scoring_port),
                       STREAMML_SCORING_RUNNER=request.param)
    join_args = ["join", "--web-port", str(join_port), "--label-wait", str(LABEL_WAIT)]
    publish_champion(settings, signed(trained_bundle()))
    with streamml_child(["process", "--data-dir", str(tmp_path / "w")], env,
                        tmp_path / "process.log") as processor:
        wait_for_health(processor, scoring_port)
        with streamml_child(join_args, env, tmp_path / "join.log") as joiner:
            wait_for_health(joiner, join_port)
            joiner.port = join_port  # type: ignore[attr-defined]
            yield settings, processor, joiner


def test_labels_from_every_client_and_partitioner_join_exactly_once(pipeline) -> None:
    settings, processor, joiner = pipeline
    topics = Topics(settings.topic_prefix)
    traffic = {case: case_traffic(case, seed) for seed, case in enumerate(CASES, start=11)}
    total = len(CASES) * EVENTS_PER_CASE

    for case, (send_events, _) in CASES.items():
        send_events(settings, topics.user_events, encoded(traffic[case], labels=False))
    predictions = read_topic(settings, topics.predictions, timeout=120,
                             until=lambda r: len(r) >= total)
    for case, (_, send_labels) in CASES.items():
        send_labels(settings, topics.labels, encoded(traffic[case], labels=True))
    labeled = read_topic(settings, topics.labeled_events, timeout=120,
                         until=lambda r: len(r) >= total)
    time.sleep(3)  # room for a second copy of any label to show up (none must)
    labeled = read_topic(settings, topics.labeled_events, idle=2)
    events = read_topic(settings, topics.user_events, idle=1)
    letters = read_topic(settings, topics.dead_letters, idle=1)
    _, metrics = http_get(f"http://127.0.0.1:{joiner.port}/metrics")

    joined = Counter(msgspec.json.decode(r.value or b"", type=LabeledEvent).event_id
                     for r in labeled)
    logs = f"{processor.output()[-2000:]}\n{joiner.output()[-3000:]}"
    for case, items in traffic.items():
        wanted = {i.event.event_id for i in items}
        got = {event_id: n for event_id, n in joined.items() if event_id in wanted}
        assert len(got) == len(wanted) and set(got.values()) == {1}, (
            f"{case}: {len(got)} of {len(wanted)} labels joined, "
            f"{sum(n > 1 for n in got.values())} more than once\n{logs}")
    assert sum(joined.values()) == total
    assert [msgspec.json.decode(r.value or b"", type=DeadLetter).error for r in letters] == []

    # Each prediction is in its event's partition, whichever partitioner placed the event.
    where = {msgspec.json.decode(r.value or b"", type=UserEvent).event_id: r.partition
             for r in events}
    scored = {(msgspec.json.decode(r.value or b"", type=Prediction).event_id, r.partition)
              for r in predictions}
    assert scored == set(where.items())
    # kcat's CRC32 put some labels (and their events) away from murmur2's partition.
    moved = re.findall(rb'streamml_join_repartitioned_total\{topic="labels"\} ([0-9.]+)',
                       metrics)
    assert moved and float(moved[0]) > 0
