"""Events scored again, on purpose: the scoring group's offsets are moved back (as
``kafka-consumer-groups --reset-offsets`` does) and the processor scores part of
``user-events`` a second time. The monitor counts each event once in its feature
windows, and each prediction once in its prediction windows, when the replay starts
where a summary started, and says how much it counted twice when it starts inside one.

A crash repeats in the same way, from the last commit, but when is not up to a test:
a kill watching the commits lands right after one, and the kill tests repeat from
0 to thousands of events from run to run. Moving the offsets repeats a known stretch.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from contracts.kafka_clients import common_config
from contracts.records import FeatureSummary, PredictionSummary
from contracts.settings import Settings
from contracts.topics import Topics
from monitor.config import WindowConfig
from monitor.core import Monitor
from scorer.bundle import ModelBundle
from tests.faults.checker import Checker, prediction_summaries_of, summaries_of
from tests.faults.runners import RUNNER_ENV
from tests.faults.workers import GroupOffsets, Worker, paced_stream, wait_until
from tests.integration.scoring_fixtures import publish_champion, signed
from tests.unit.monitor.conftest import registry_records

EVENTS = 20_000


def move_offsets(settings: Settings, group: str, topic: str, to: dict[int, int]) -> None:
    """Commit ``to`` for ``group``, which has no member: the next member starts there."""
    consumer = Consumer({**common_config(settings), "group.id": group,
                         "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in to.items()],
                        asynchronous=False)
    finally:
        consumer.close()


def counted_once(champion: ModelBundle, topics: Topics, summaries: list[FeatureSummary],
                 predicted: list[PredictionSummary]) -> Monitor:
    monitor = Monitor(model=champion.model, windows=WindowConfig(), topics=topics)
    for key, value in registry_records(champion):
        monitor.apply_registry(key, value)
    monitor.add_summaries(summaries)
    monitor.add_prediction_summaries(predicted)
    return monitor


@pytest.mark.parametrize("runner", ["kafka", "faust"])
@pytest.mark.parametrize("inside", [False, True], ids=["at-a-summary", "inside-a-summary"])
def test_events_scored_again_are_counted_once_or_said_so(
        settings: Settings, champion: ModelBundle, tmp_path: Path, runner: str,
        inside: bool) -> None:
    scoring_runner, env = RUNNER_ENV[runner]
    settings = settings.with_overrides(scoring_runner=scoring_runner)
    topics = Topics(settings.topic_prefix)
    group = f"{settings.group_prefix}.scoring"
    publish_champion(settings, signed(champion))
    failures: list[BaseException] = []
    paced_stream(settings, EVENTS, 10 * EVENTS, failures).join(timeout=120)
    assert not failures, failures
    worker = Worker(settings, tmp_path, "a", **env)
    offsets = GroupOffsets(settings, group, topics.user_events)
    try:
        worker.start()
        wait_until(lambda: offsets.committed() == offsets.ends(), 120, "the backlog committed")
        worker.stop()
        first = summaries_of(settings)
        # Back to the middle summary of each partition, or one event past its start.
        starts = {}
        for p in {s.partition for s in first}:
            mine = [s for s in first if s.partition == p]
            starts[p] = mine[len(mine) // 2].first_offset + inside
        move_offsets(settings, group, topics.user_events, starts)
        worker.start()
        wait_until(lambda: offsets.committed() == offsets.ends(), 120, "the replay committed")
        with Checker(settings) as checker:
            figures = checker.settle(sent=EVENTS, timeout=120)
        summaries = summaries_of(settings)
        predicted = prediction_summaries_of(settings)
    finally:
        offsets.close()
        worker.stop()

    ends = {p: max(s.last_offset for s in first if s.partition == p) + 1 for p in starts}
    replayed = sum(ends[p] - starts[p] for p in starts)
    monitor = counted_once(champion, topics, summaries, predicted)
    counts = monitor.counts
    counted, taken = counts[("events", "counted")], counts[("events", "duplicate")]
    straddled = counts[("summaries", "straddled")]
    predictions = counts[("predictions", "counted")] - counts[("predictions", "duplicate")]
    print(f"\n[replay, runner={runner}, {'inside' if inside else 'at'} a summary] "
          + figures.line(replayed=replayed, summarised=counted, taken_back=taken,
                         straddled=straddled, predictions_counted=predictions,
                         predictions_straddled=counts[("prediction-summaries", "straddled")]))
    assert figures.lost == 0 and figures.duplicate_predictions == replayed == counted - EVENTS
    assert counts[("predictions", "counted")] == counted
    if not inside:
        assert counted - taken == predictions == EVENTS and straddled == 0
        assert counts[("prediction-summaries", "straddled")] == 0
    else:
        # The summary the replay starts inside stays counted: its events from the
        # replay's start on are counted twice, and only those.
        overlap = sum(s.last_offset - starts[s.partition] + 1 for s in first
                      if s.first_offset < starts[s.partition] <= s.last_offset)
        assert straddled == counts[("prediction-summaries", "straddled")] == len(starts)
        assert counted - taken == predictions == EVENTS + overlap
