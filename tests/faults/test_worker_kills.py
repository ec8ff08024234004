"""kill -9 of a scoring worker, five times, while events stream through two workers.

Issue 8, item 1: 100,000 events paced at 1,000/s. To keep CI short, the faust
consumer's session timeout is cut to 8 s through faust's own
``BROKER_SESSION_TIMEOUT`` variable (default 60 s), so the group notices a dead
worker in seconds instead of a minute. Every kill must land on a worker holding
partitions while part of the stream is still uncommitted. The kafka runner's
librdkafka consumer keeps its fixed 45 s session timeout (no setting exposes it), so
its stream is paced at 350/s to outlast five such recoveries, about six minutes: it
runs when ``STREAMML_FAULT_RUNNERS`` names it (``STREAMML_FAULT_RUNNERS=faust,kafka``);
CI runs the default runner, faust.

``STREAMML_FAULT_RUNNERS=faust-exactly-once`` runs the faust workers with faust's
``PROCESSING_GUARANTEE=exactly_once``. It cannot make the outputs exactly-once: the
processor sends them with its own confluent-kafka producer
(``stream_processors/batch_output.py``), outside faust's transactions.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts.settings import Settings
from contracts.topics import Topics
from monitor.config import WindowConfig
from monitor.core import Monitor
from producers.sdk import EventProducer
from producers.simulator import Simulator
from scorer.bundle import ModelBundle
from tests.faults.checker import Checker
from tests.faults.workers import GroupOffsets, Worker, wait_until
from tests.integration.scoring_fixtures import publish_champion, signed

EVENTS = 100_000
KILLS = 5
# Kill k once this share of the stream is committed: 20 points more each time.
PROGRESS_MARKS = [0.1 + 0.2 * k for k in range(KILLS)]
FAUST_COMMIT_EVERY = 1000  # contracts.kafka_clients.faust_config
FAUST_COMMIT_INTERVAL_S = 2.8  # faust's default broker_commit_interval
MAX_BATCH = 2000  # stream_processors.scoring_app / kafka_scoring

FAST_FAUST_SESSION = {"BROKER_SESSION_TIMEOUT": "8", "BROKER_HEARTBEAT_INTERVAL": "1"}
# name -> (STREAMML_SCORING_RUNNER, extra environment of the workers, events per second)
RUNNER_ENV = {
    "faust": ("faust", FAST_FAUST_SESSION, 1000),
    "kafka": ("kafka", {}, 350),
    "faust-exactly-once": ("faust", {**FAST_FAUST_SESSION,
                                     "PROCESSING_GUARANTEE": "exactly_once"}, 1000),
}
RUNNERS = os.environ.get("STREAMML_FAULT_RUNNERS", "faust").split(",")


def paced_stream(settings: Settings, n: int, rate: int, failures: list[BaseException]) \
        -> threading.Thread:
    """Send ``n`` simulated events at ``rate`` per second from a background thread."""
    items = Simulator(seed=11, start=datetime.now(UTC), id_prefix="k", n_users=5000,
                      events_per_second=rate).events(n)

    def run() -> None:
        try:
            began = time.monotonic()
            with EventProducer(settings) as producer:
                for i, item in enumerate(items):
                    producer.send_record(item.event)
                    if i % 200 == 199:
                        ahead = (i + 1) / rate - (time.monotonic() - began)
                        if ahead > 0:
                            time.sleep(ahead)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            failures.append(exc)

    thread = threading.Thread(target=run, name="paced-stream", daemon=True)
    thread.start()
    return thread


def duplicates_bound(kills: int, rate: int) -> int:
    """What a killed worker can have scored but not committed, per kill, times the kills.

    A worker commits after ``FAUST_COMMIT_EVERY`` acknowledged events or every
    ``FAUST_COMMIT_INTERVAL_S`` (the kafka runner after every batch), and one batch
    of at most ``MAX_BATCH`` may be out when it dies. A survivor re-reading what it
    scored itself before a rebalance dead-letters it as ``duplicate-event-id``; the
    same bound covers those answers too.
    """
    per_kill = FAUST_COMMIT_EVERY + int(rate * FAUST_COMMIT_INTERVAL_S) + MAX_BATCH
    return kills * per_kill


@pytest.mark.parametrize("runner", RUNNERS)
def test_five_kill_9s_of_a_worker_lose_no_event_and_duplicates_stay_bounded(
    settings: Settings, champion: ModelBundle, tmp_path: Path, runner: str
) -> None:
    scoring_runner, env, rate = RUNNER_ENV[runner]
    settings = settings.with_overrides(scoring_runner=scoring_runner)
    topics = Topics(settings.topic_prefix)
    publish_champion(settings, signed(champion))
    workers = [Worker(settings, tmp_path, name, **env) for name in ("a", "b")]
    offsets = GroupOffsets(settings, f"{settings.group_prefix}.scoring", topics.user_events)
    failures: list[BaseException] = []
    recoveries: list[float] = []
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.wait_healthy()
        wait_until(lambda: all(w.partitions() for w in workers), 90, "both workers hold work")
        stream = paced_stream(settings, EVENTS, rate, failures)
        began = time.monotonic()
        for k, mark in enumerate(PROGRESS_MARKS):
            def reached(mark: float = mark) -> bool:
                return sum(offsets.committed().values()) >= mark * EVENTS

            wait_until(reached, 240, f"{mark:.0%} of the stream committed")
            victim = workers[k % 2]
            held = victim.partitions()
            at_kill = offsets.committed()
            assert held and sum(at_kill.values()) < EVENTS, f"kill {k + 1} would hit no work"
            killed_at = time.monotonic()
            victim.kill()
            victim.start()
            victim.wait_healthy()

            def every_partition_moved(at_kill: dict[int, int] = at_kill) -> bool:
                now, ends = offsets.committed(), offsets.ends()
                return all(now[p] > at_kill[p] or now[p] >= ends[p] for p in at_kill)

            wait_until(every_partition_moved, 240, f"progress on every partition after kill {k}")
            recoveries.append(time.monotonic() - killed_at)
            print(f"kill {k + 1} (worker {'ab'[k % 2]}, partitions {held}) at {mark:.0%}: "
                  f"{killed_at - began:.1f} s in, recovered in {recoveries[-1]:.1f} s")
        stream.join(timeout=240)
        assert not failures, failures
        with Checker(settings) as checker:
            figures = checker.settle(sent=EVENTS, timeout=240)
            predictions = checker.predictions.records
    finally:
        offsets.close()
        for worker in workers:
            worker.stop()

    monitor = Monitor(model=champion.model, windows=WindowConfig(), topics=topics)
    monitor.ingest(predictions)
    counted = monitor.counts[("predictions", "counted")]
    print(f"\n[kill -9 x{KILLS}, runner={runner}] " + figures.line(
        recovery_s="/".join(f"{r:.1f}" for r in recoveries),
        duplicate_predictions=figures.duplicate_predictions,
        bound=duplicates_bound(KILLS, rate),
        monitor_counted=counted, monitor_dropped_duplicates=monitor.counts[
            ("predictions", "duplicate")]))
    assert figures.sent == EVENTS
    assert figures.lost == 0, figures.lost_examples
    assert figures.predicted == EVENTS and figures.dead_lettered == 0
    assert figures.unknown_predictions == 0
    assert figures.duplicates <= duplicates_bound(KILLS, rate)
    # Downstream, the monitor counts each event once however often it was scored.
    assert counted == EVENTS
    assert monitor.counts[("predictions", "duplicate")] == figures.duplicate_predictions
    assert all(w.starts == 1 + sum(1 for k in range(KILLS) if k % 2 == i)
               for i, w in enumerate(workers))
