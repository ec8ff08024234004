"""The scoring runners a fault test runs, and what a killed worker may score twice.

``STREAMML_FAULT_RUNNERS`` picks them (comma-separated; default ``kafka``): ``faust``
runs the faust-streaming runner, and ``faust-exactly-once`` runs it with faust's
``PROCESSING_GUARANTEE=exactly_once``. Each gets the short session the fault tests use.
"""

from __future__ import annotations

import os

from stream_processors.kafka_scoring import COMMIT_EVENTS, MAX_BATCH

FAUST_COMMIT_EVERY = 1000  # stream_processors.faust_runner.faust_config
FAUST_COMMIT_INTERVAL_S = 2.8  # faust's default broker_commit_interval

SHORT_SESSION = {"STREAMML_SESSION_TIMEOUT_S": "8"}
# name -> (STREAMML_SCORING_RUNNER, extra environment of the workers)
RUNNER_ENV = {
    "kafka": ("kafka", SHORT_SESSION),
    "faust": ("faust", SHORT_SESSION),
    "faust-exactly-once": ("faust", {**SHORT_SESSION, "PROCESSING_GUARANTEE": "exactly_once"}),
}
RUNNERS = os.environ.get("STREAMML_FAULT_RUNNERS", "kafka").split(",")


def duplicates_bound(kills: int, runner: str, rate: int) -> int:
    """What a killed worker can have scored but not committed, per kill, times the kills.

    The kafka runner commits after ``COMMIT_EVENTS`` events or ``COMMIT_SECONDS``,
    whichever comes first; a worker catching up on a backlog reaches the count first,
    so the count bounds it. The faust runner commits after ``FAUST_COMMIT_EVERY``
    acknowledged events or every ``FAUST_COMMIT_INTERVAL_S``. Either way one batch of
    at most ``MAX_BATCH`` may be out when it dies. A survivor re-reading what it scored
    itself before a rebalance dead-letters it as ``duplicate-event-id``; the same
    bound covers those answers too.
    """
    if runner == "kafka":
        return kills * (COMMIT_EVENTS + MAX_BATCH)
    return kills * (FAUST_COMMIT_EVERY + int(rate * FAUST_COMMIT_INTERVAL_S) + MAX_BATCH)
