"""kill -9 of a scoring worker in the middle of hot-swaps, 20 versions published under load.

Two workers (the default kafka runner; ``STREAMML_FAULT_RUNNERS``, as in
tests/faults/runners.py, picks others) score a steady stream while versions 2..21 are
published one after another, each as its artifact and then its deployment. Four
times a worker is killed right after a publication, half the time between the
artifact and its deployment. Twice it is started again at once, so it reads
``model-versions`` from its start while further versions keep arriving and joins
the group once the group has noticed the crash; twice it is started once the
survivor has taken all partitions (a replacement after a back-off), when joining is
quick and the new worker gets partitions while it may still be replaying old
versions.

What "the served version never goes backwards" means here: a reader of
``predictions`` sees one partition in offset order (all of one user's predictions,
for instance); once it has seen an answer from version N it must never see a later
answer from an older version, since no deployment pointed back. That holds across
worker runs, duplicates included: the events a crashed worker had scored but not
committed are scored again by whoever takes its partitions, and those second answers
come from the version serving at that later moment. A worker taking partitions first
applies every version published so far, so that version is never older than the
one the previous owner served. The test asserts it over every champion prediction
of every partition, which needs each predictions partition to have one writer at a
time: a prediction goes to the partition number its event came from (same key, same
hash), checked as well.

Then the newest version, 21, serves everywhere: on both workers' ``/health`` and
``/metrics`` and on events sent after the last publication. And lost = 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import msgspec
import pytest
from confluent_kafka import Producer

from contracts.kafka_clients import producer_config
from contracts.records import Prediction
from contracts.settings import Settings
from contracts.topics import MODEL_ARTIFACT_MAX_BYTES, Topics
from scorer.artifact import SignedArtifact
from scorer.bundle import ModelBundle
from scorer.publishing import (
    deployment_key,
    deployment_record,
    model_version_record,
    publish,
    send_and_wait,
)
from tests.faults.checker import Checker, event_id_of
from tests.faults.runners import RUNNER_ENV, RUNNERS, duplicates_bound
from tests.faults.workers import Worker, paced_stream, wait_until
from tests.integration.processes import http_get
from tests.integration.scoring_fixtures import publish_champion, send_events, signed
from tests.signing_keys import SIGNER

RATE = 500
NEWEST = 21
PUBLISH_EVERY_S = 3.5
EVENTS = int(RATE * (PUBLISH_EVERY_S * (NEWEST - 1) + 10))
# version -> (where its publication is interrupted by a kill -9, when the worker restarts)
KILLS = {4: ("after-artifact", "at-once"), 9: ("after-deployment", "at-once"),
         14: ("after-artifact", "after-takeover"), 19: ("after-deployment", "after-takeover")}
# Events sent once every version is out; they spread over every partition.
AFTER = 30
# A worker's start (imports, first model) on a busy machine.
STARTUP_S = 180.0
_PREDICTION = msgspec.json.Decoder(Prediction)
CHAMPION_LINE = 'streamml_model_version{model="conversion",route="champion"}'


def served(worker: Worker) -> tuple[object, str]:
    """The champion ``/health`` names, and the champion line of ``/metrics``."""
    _, health = http_get(f"http://127.0.0.1:{worker.port}/health", timeout=2.0)
    _, metrics = http_get(f"http://127.0.0.1:{worker.port}/metrics", timeout=2.0)
    line = next(line for line in metrics.decode().splitlines()
                if line.startswith(CHAMPION_LINE))
    return msgspec.json.decode(health)["champion"], line


def backward_steps(versions: list[int]) -> list[tuple[int, int, int]]:
    """(index, newest seen before, version) wherever a version is older than one before it."""
    steps, newest = [], 0
    for i, version in enumerate(versions):
        if version < newest:
            steps.append((i, newest, version))
        newest = max(newest, version)
    return steps


@pytest.mark.parametrize("runner", RUNNERS)
def test_kill_9s_during_twenty_hot_swaps_never_serve_an_older_version(
    settings: Settings, champion: ModelBundle, tmp_path: Path, runner: str
) -> None:
    scoring_runner, env = RUNNER_ENV[runner]
    settings = settings.with_overrides(scoring_runner=scoring_runner)
    topic = Topics(settings.topic_prefix).model_versions
    publish_champion(settings, signed(champion))
    artifacts = {v: signed(champion.with_version(v)) for v in range(2, NEWEST + 1)}
    producer = Producer(producer_config(settings, **{"message.max.bytes":
                                                     MODEL_ARTIFACT_MAX_BYTES}))
    workers = [Worker(settings, tmp_path, name, **env) for name in ("a", "b")]
    failures: list[BaseException] = []
    kills: list[str] = []
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.wait_healthy(STARTUP_S)
        wait_until(lambda: all(w.partitions() for w in workers), 90, "both workers hold work")
        stream = paced_stream(settings, EVENTS, RATE, failures)
        began = time.monotonic()
        for version, artifact in artifacts.items():
            time.sleep(max(0.0, began + PUBLISH_EVERY_S * (version - 1) - time.monotonic()))
            victim, survivor = workers[len(kills) % 2], workers[1 - len(kills) % 2]
            kills += publish_and_maybe_kill(producer, topic, artifact, KILLS.get(version),
                                            partial(restart, victim, survivor, settings))
        stream.join(timeout=240)
        assert not stream.is_alive() and not failures, failures
        for worker in workers:
            worker.wait_healthy(STARTUP_S)
        with Checker(settings) as checker:
            figures = checker.settle(sent=EVENTS, timeout=180)
            after = {i.event.event_id for i in send_events(settings, AFTER, prefix="after")}

            def answered() -> bool:
                checker.figures()
                return after <= {event_id_of(p.value) for p in checker.predictions.records}

            wait_until(answered, 60, "predictions for the events sent after the swaps")
            inputs = list(checker.input.records)
            predictions = list(checker.predictions.records)
        serving = [served(w) for w in workers]
    finally:
        for worker in workers:
            worker.stop()

    source = {event_id_of(r.value): r.partition for r in inputs}
    by_partition: dict[int, list[int]] = {}
    misplaced = 0
    for record in sorted(predictions, key=lambda r: (r.partition, r.offset)):
        prediction = _PREDICTION.decode(record.value or b"")
        misplaced += source[prediction.event_id] != record.partition
        if prediction.route == "champion":
            by_partition.setdefault(record.partition, []).append(prediction.version)
    backwards = {p: backward_steps(v) for p, v in by_partition.items() if backward_steps(v)}
    after_versions = sorted({_PREDICTION.decode(r.value or b"").version for r in predictions
                             if event_id_of(r.value) in after})
    bound = duplicates_bound(len(kills), runner, RATE)
    print(f"\n[hot-swap x{NEWEST - 1} under load, kill -9 x{len(kills)}] " + figures.line(
        kills="/".join(kills), duplicate_predictions=figures.duplicate_predictions,
        bound=bound, misplaced=misplaced,
        version_changes="/".join(f"p{p}:{len(set(v))}" for p, v in sorted(by_partition.items())),
        backward_steps=sum(len(s) for s in backwards.values()),
        after_events_versions=after_versions, served=serving))
    assert misplaced == 0
    assert not backwards, {p: s[:5] for p, s in backwards.items()}
    assert after_versions == [NEWEST]
    assert serving == [(NEWEST, f"{CHAMPION_LINE} {NEWEST}.0")] * 2
    assert figures.sent == EVENTS and figures.lost == 0, figures.lost_examples
    assert figures.predicted == EVENTS and figures.dead_lettered == 0
    assert figures.duplicates <= bound
    assert len(kills) == len(KILLS)


def publish_and_maybe_kill(producer: Producer, topic: str, artifact: SignedArtifact,
                           kill: tuple[str, str] | None,
                           crash: Callable[[str], None]) -> list[str]:
    """Publish one version and its deployment; ``crash`` a worker where ``kill`` says."""
    record = model_version_record(artifact)
    publish(producer, topic, record, None, SIGNER)
    if kill and kill[0] == "after-artifact":
        crash(kill[1])
    deployment = deployment_record(record.model, record.version, decided_by="test",
                                   reason="hot-swap under load")
    send_and_wait(producer, topic, deployment_key(record.model),
                  msgspec.json.encode(SIGNER.sign(deployment)))
    if kill and kill[0] == "after-deployment":
        crash(kill[1])
    return [f"v{record.version}:{kill[0]}:{kill[1]}"] if kill else []


def restart(victim: Worker, survivor: Worker, settings: Settings, when: str) -> None:
    """kill -9 ``victim``, then start it again at once or once ``survivor`` holds every
    partition; either way the new run replays ``model-versions`` from its start."""
    for worker in (victim, survivor):  # a run started by the previous kill may still be starting
        worker.wait_healthy(STARTUP_S)
    victim.kill()
    if when == "after-takeover":
        wait_until(lambda: len(survivor.partitions()) == settings.partitions, 120,
                   "the survivor takes every partition")
    victim.start()
