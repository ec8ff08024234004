"""kill -9 of a scoring worker, five times, while events stream through two workers.

100,000 events paced at 1,000/s through the default runner, kafka (a plain
confluent-kafka consumer). To keep CI short, the workers' consumer group session
timeout is cut from 45 s to 8 s with ``STREAMML_SESSION_TIMEOUT_S``, so the group
notices a dead worker in seconds instead of most of a minute. Every kill must land on
a worker holding partitions while part of the stream is still uncommitted.

``STREAMML_FAULT_RUNNERS`` picks the runners (comma-separated; default ``kafka``):
``faust`` runs the faust-streaming runner with the same short session, and
``faust-exactly-once`` runs it with faust's ``PROCESSING_GUARANTEE=exactly_once``.
That cannot make the outputs exactly-once: the processor sends them with its own
confluent-kafka producer (``contracts/batch_output.py``), outside faust's
transactions.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from contracts.settings import Settings
from contracts.topics import Topics
from monitor.config import WindowConfig
from monitor.core import Monitor
from scorer.bundle import ModelBundle
from tests.faults.checker import Checker, prediction_summaries_of, summaries_of
from tests.faults.runners import RUNNER_ENV, RUNNERS, duplicates_bound
from tests.faults.workers import GroupOffsets, Worker, paced_stream, wait_until
from tests.integration.scoring_fixtures import publish_champion, signed
from tests.unit.monitor.conftest import registry_records

EVENTS = 100_000
KILLS = 5
# Kill k once this share of the stream is committed: 20 points more each time.
PROGRESS_MARKS = [0.1 + 0.2 * k for k in range(KILLS)]
RATE = 1000


@pytest.mark.parametrize("runner", RUNNERS)
def test_five_kill_9s_of_a_worker_lose_no_event_and_duplicates_stay_bounded(
    settings: Settings, champion: ModelBundle, tmp_path: Path, runner: str
) -> None:
    scoring_runner, env = RUNNER_ENV[runner]
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
        stream = paced_stream(settings, EVENTS, RATE, failures)
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
        summaries = summaries_of(settings)
        predicted = prediction_summaries_of(settings)
    finally:
        offsets.close()
        for worker in workers:
            worker.stop()

    monitor = Monitor(model=champion.model, windows=WindowConfig(), topics=topics)
    for key, value in registry_records(champion):
        monitor.apply_registry(key, value)
    monitor.ingest(predictions)
    monitor.add_summaries(summaries)
    counted = monitor.counts[("predictions", "counted")]
    # The same predictions, as the processor summarised them: repeats taken back too.
    from_summaries = Monitor(model=champion.model, windows=WindowConfig(), topics=topics)
    from_summaries.add_prediction_summaries(predicted)
    predictions_summarised = from_summaries.counts[("predictions", "counted")] \
        - from_summaries.counts[("predictions", "duplicate")]
    # Feature summaries scored again are taken back: each event is counted once.
    events_counted = monitor.counts[("events", "counted")] - monitor.counts[
        ("events", "duplicate")]
    print(f"\n[kill -9 x{KILLS}, runner={runner}] " + figures.line(
        recovery_s="/".join(f"{r:.1f}" for r in recoveries),
        duplicate_predictions=figures.duplicate_predictions,
        bound=duplicates_bound(KILLS, runner, RATE),
        monitor_counted=counted, monitor_dropped_duplicates=monitor.counts[
            ("predictions", "duplicate")], summarised_events=events_counted,
        summaries_straddled=monitor.counts[("summaries", "straddled")],
        summarised_predictions=predictions_summarised))
    assert figures.sent == EVENTS
    assert figures.lost == 0, figures.lost_examples
    assert figures.predicted == EVENTS and figures.dead_lettered == 0
    assert figures.unknown_predictions == 0
    assert figures.duplicates <= duplicates_bound(KILLS, runner, RATE)
    # Downstream, the monitor counts each event once however often it was scored.
    assert counted == EVENTS
    assert monitor.counts[("predictions", "duplicate")] == figures.duplicate_predictions
    assert monitor.counts[("summaries", "added")] == len(summaries)
    assert from_summaries.counts[("prediction-summaries", "added")] == len(predicted)
    if runner == "kafka":  # commits at batch ends: a repeat starts where a summary did
        assert events_counted == predictions_summarised == EVENTS
        assert monitor.counts[("summaries", "straddled")] == 0
    else:  # faust commits where it does: an overlap is counted twice, never lost
        assert events_counted >= EVENTS and predictions_summarised >= EVENTS
    assert all(w.starts == 1 + sum(1 for k in range(KILLS) if k % 2 == i)
               for i, w in enumerate(workers))

