"""Two scoring workers share the partitions; one leaving mid-stream loses nothing."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest

from contracts.settings import Secret, Settings
from contracts.topics import Topics
from stream_processors import faust_runner, kafka_scoring
from streamml.broker.single_node import free_port
from tests.integration.processes import http_get, settings_env, streamml_child, wait_for_health
from tests.integration.scoring_fixtures import (
    SIGNING_KEY,
    publish_champion,
    send_events,
    signed,
    trained_bundle,
)
from tests.integration.test_scoring import PREDICTION, metric
from tests.integration.topic_reader import read_topic


def wait_until_partitions_are_shared(ports: list[int], partitions: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        held = [json.loads(http_get(f"http://127.0.0.1:{p}/health")[1])["partitions"]
                for p in ports]
        if all(held) and sum(len(h) for h in held) == partitions:
            return
        time.sleep(0.5)
    raise AssertionError(f"the workers never shared the partitions: {held}")


@pytest.mark.parametrize("runner", ["faust", "kafka"])
def test_two_workers_split_the_work_and_a_leaving_worker_loses_nothing(
    kafka_settings: Settings, tmp_path: Path, runner: str
):
    settings = kafka_settings.with_overrides(model_private_key=Secret(SIGNING_KEY),
                                             scoring_runner=runner)
    publish_champion(settings, signed(trained_bundle(1)))
    ports = [free_port(), free_port()]
    with (
        streamml_child(["process", "--data-dir", str(tmp_path / "a")],
                       settings_env(settings, STREAMML_SCORING_PORT=str(ports[0])),
                       tmp_path / "a.log") as first,
        streamml_child(["process", "--data-dir", str(tmp_path / "b")],
                       settings_env(settings, STREAMML_SCORING_PORT=str(ports[1])),
                       tmp_path / "b.log") as second,
    ):
        wait_for_health(first, ports[0])
        wait_for_health(second, ports[1])
        wait_until_partitions_are_shared(ports, kafka_settings.partitions)
        sent = send_events(settings, 10_000, prefix="r1")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = [metric(p, "streamml_events_in_total") for p in ports]
            if sum(done) >= 10_000:
                break
            time.sleep(0.5)
        assert all(d > 0 for d in done), f"both workers take a share: {done}"

        sent += send_events(settings, 10_000, seed=9, prefix="r2")
        second.stop()
        assert second.process.returncode == 0, second.output()[-2000:]
        sent += send_events(settings, 10_000, seed=10, prefix="r3")

        wanted = {i.event.event_id for i in sent}
        records = read_topic(settings, Topics(settings.topic_prefix).predictions,
                             until=lambda r: len(r) >= len(wanted) and wanted <= {
                                 PREDICTION.decode(x.value).event_id for x in r},
                             timeout=180)
        status, _ = http_get(f"http://127.0.0.1:{ports[0]}/health")
        assert status == 200
    counts = Counter(PREDICTION.decode(r.value).event_id for r in records)
    lost = {i.event.event_id for i in sent} - set(counts)
    duplicates = sum(c - 1 for c in counts.values())
    # Which round (r1 before the hand-over, r2 during it, r3 after) and which partition
    # the repeats came from says which worker scored them twice.
    repeated = Counter((r.partition, PREDICTION.decode(r.value).event_id.split("-")[0])
                       for r in records if counts[PREDICTION.decode(r.value).event_id] > 1)
    print(f"sent={len(sent)} predicted={len(counts)} lost={len(lost)} duplicates={duplicates}"
          f" repeated={sorted(repeated.items())}")
    assert not lost
    # Both workers commit what they scored when partitions change hands; what may be
    # scored again is a batch either of them took before the hand-over and scored after.
    batch = {"faust": faust_runner.MAX_BATCH, "kafka": kafka_scoring.MAX_BATCH}[runner]
    assert duplicates <= 2 * batch, "redelivery is bounded by the batches in flight"
