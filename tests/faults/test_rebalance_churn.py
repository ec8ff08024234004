"""Rebalance churn: three workers, one stopped (SIGTERM) and started again every 1-20 s.

A steady stream runs through three scoring workers (the default kafka runner) for two
minutes. Every 1 to 20 s (seeded) one worker, picked at random, is stopped by the pid
the test started and started again at once: each cycle is two rebalances, one as it
leaves and one as it joins. Nothing may be lost; duplicates are counted and must stay
within what the README allows for a rebalance, the events the workers scored since
their last commit; and once the stream ends the scoring group's lag must come back
to 0. Printed besides: the largest lag (uncommitted events) sampled during the churn,
and how long after the last event was sent the lag reached 0.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

from confluent_kafka import KafkaException

from contracts.settings import Settings
from contracts.topics import Topics
from scorer.bundle import ModelBundle
from stream_processors.kafka_scoring import COMMIT_EVENTS, MAX_BATCH
from tests.faults.checker import Checker
from tests.faults.workers import GroupOffsets, Worker, paced_stream, wait_until
from tests.integration.scoring_fixtures import publish_champion, signed

RATE = 500
STREAM_S = 120
EVENTS = RATE * STREAM_S
WORKERS = 3
SEED = 20
PAUSE_S = (1.0, 20.0)
# A worker's start (imports, first model) on a busy machine.
STARTUP_S = 180.0


def test_workers_leaving_and_joining_lose_nothing_and_the_lag_returns_to_zero(
    settings: Settings, champion: ModelBundle, tmp_path: Path
) -> None:
    topics = Topics(settings.topic_prefix)
    publish_champion(settings, signed(champion))
    workers = [Worker(settings, tmp_path, name) for name in "abc"[:WORKERS]]
    offsets = GroupOffsets(settings, f"{settings.group_prefix}.scoring", topics.user_events)
    chance = random.Random(SEED)
    failures: list[BaseException] = []
    stops: list[str] = []
    lags: list[int] = []
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.wait_healthy(STARTUP_S)
        wait_until(lambda: sum(len(w.partitions()) for w in workers) == settings.partitions,
                   90, "the group holds every partition")
        stream = paced_stream(settings, EVENTS, RATE, failures)
        began = time.monotonic()
        while True:
            pause = chance.uniform(*PAUSE_S)
            if time.monotonic() - began + pause > STREAM_S - 2:
                break
            until = time.monotonic() + pause
            while time.monotonic() < until:
                if (sample := lag(offsets)) is not None:
                    lags.append(sample)
                time.sleep(min(0.5, max(0.0, until - time.monotonic())))
            victim = chance.choice(workers)
            returncode = victim.stop()
            # SIGTERM before the worker installed its handler (still starting) ends it
            # by the signal; -9 would mean it did not stop within 30 s and was killed.
            assert returncode in (0, -signal.SIGTERM), \
                f"exit status {returncode}:\n{victim.output()[-3000:]}"
            victim.start()
            starting = " (starting)" if returncode else ""
            stops.append(f"{time.monotonic() - began:.0f}s:{victim.data_dir.name}{starting}")
        stream.join(timeout=120)
        assert not stream.is_alive() and not failures, failures

        # The stream has flushed: every event is in, so no lag means all are committed.
        lag_zero_s = wait_until(lambda: lag(offsets) == 0, 120,
                                "the scoring group's lag back to 0", step=0.5)
        with Checker(settings) as checker:
            figures = checker.settle(sent=EVENTS, timeout=120)
    finally:
        offsets.close()
        for worker in workers:
            worker.stop()

    # Every cycle is two rebalances; in each, every worker may hand over what it scored
    # since its last commit.
    bound = 2 * len(stops) * WORKERS * (COMMIT_EVENTS + MAX_BATCH)
    print(f"\n[rebalance churn, {WORKERS} workers, {STREAM_S} s] " + figures.line(
        stops=len(stops), max_lag=max(lags, default="-"), lag_zero_s=f"{lag_zero_s:.1f}",
        duplicate_predictions=figures.duplicate_predictions, bound=bound,
        reasons=dict(figures.reasons) or "-", schedule="/".join(stops)))
    assert len(stops) >= 5
    assert figures.sent == EVENTS
    assert figures.lost == 0, figures.lost_examples
    assert figures.predicted == EVENTS and figures.dead_lettered == 0
    assert figures.unknown_predictions == 0
    assert figures.duplicates <= bound


def lag(offsets: GroupOffsets) -> int | None:
    """Events of ``user-events`` the scoring group has not committed yet; None when the
    broker does not answer in time (it is a probe, not part of the run)."""
    try:
        committed, ends = offsets.committed(), offsets.ends()
    except KafkaException:
        return None
    return sum(ends[p] - committed[p] for p in ends)
