"""Why every faust agent of streamml runs with concurrency 1 (faust-streaming #606).

One partition holds ``slow`` at offset 0 and four fast events after
it. With two actors, the second acknowledges the fast ones while the first still
holds offset 0, and faust commits offset 5: the commit passes an event in flight,
so a crash now would lose it for good (a restarted group resumes at 5). With one
actor nothing behind the slow event is acknowledged, and the commit stays put until
it is done. If a faust release fixes #606, the first case fails here: then the rule
can be revisited.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer

from contracts.kafka_clients import common_config, make_admin
from contracts.settings import Settings
from contracts.topic_admin import ensure_topics
from contracts.topics import TopicSpec
from streamml.broker.single_node import free_port
from tests.faults.inflight_app import COMMIT_INTERVAL_S
from tests.faults.workers import GroupOffsets, wait_until
from tests.integration.processes import Child, settings_env

APP = Path(__file__).with_name("inflight_app.py")
FAST = 4


def one_partition_topic(settings: Settings) -> str:
    name = f"{settings.topic_prefix}inflight"
    ensure_topics(make_admin(settings), [TopicSpec(name, partitions=1, replication_factor=1)])
    producer = Producer(common_config(settings))
    for value in [b"slow"] + [b"fast"] * FAST:
        producer.produce(name, value=value, partition=0)
    assert producer.flush(30) == 0
    return name


def lines(trail: Path) -> list[str]:
    return trail.read_text().splitlines() if trail.exists() else []


@pytest.mark.parametrize("concurrency", [2, 1])
def test_a_commit_passes_an_event_in_flight_only_with_concurrency_above_1(
    settings: Settings, tmp_path: Path, concurrency: int
) -> None:
    topic = one_partition_topic(settings)
    trail, release = tmp_path / "trail", tmp_path / "release"
    env = settings_env(settings, INFLIGHT_TOPIC=topic, INFLIGHT_DIR=str(tmp_path),
                       INFLIGHT_PORT=str(free_port()), INFLIGHT_CONCURRENCY=str(concurrency),
                       PYTHONPATH=str(Path.cwd()))
    offsets = GroupOffsets(settings, f"{settings.group_prefix}.inflight", topic)
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, str(APP)], env=env,  # noqa: S603
                                   stdout=out, stderr=subprocess.STDOUT)
    worker = Child(process, log)
    try:
        wait_until(lambda: "start 0" in lines(trail), 60, "the slow event reached the agent")
        if concurrency > 1:
            wait_until(lambda: f"done {FAST}" in lines(trail), 30, "the fast events were done")
            wait_until(lambda: offsets.committed()[0] > 0, 30, "a commit")
            committed_in_flight = offsets.committed()[0]
        else:
            # Twenty commit intervals with the slow event held: nothing may be committed.
            committed_in_flight = _held_for(offsets, trail, 20 * COMMIT_INTERVAL_S)
        still_in_flight = "done 0" not in lines(trail)
        release.touch()
        wait_until(lambda: offsets.committed()[0] == 1 + FAST, 30, "everything committed")
    finally:
        worker.stop()
        offsets.close()
    print(f"\n[faust #606, concurrency={concurrency}] offset 0 in flight; "
          f"committed={committed_in_flight} log-end={1 + FAST} "
          f"lost-on-crash={1 if committed_in_flight > 0 else 0}")
    assert still_in_flight, worker.output()[-3000:]
    if concurrency > 1:
        assert committed_in_flight == 1 + FAST, "faust #606: the commit passed offset 0"
    else:
        assert committed_in_flight == 0
        assert lines(trail)[:2] == ["start 0", "done 0"], "one actor holds the rest back"


def _held_for(offsets: GroupOffsets, trail: Path, seconds: float) -> int:
    """The highest offset committed while the slow event was held for ``seconds``."""
    highest = 0
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        highest = max(highest, offsets.committed()[0])
        assert "done 1" not in lines(trail)
        time.sleep(COMMIT_INTERVAL_S / 2)
    return highest
