"""Helpers for the retrainer's integration tests (no tests here): feed, read, wait."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final, TypeVar

import msgspec

from contracts.kafka_clients import make_producer
from contracts.records import Alert, LabeledEvent
from contracts.settings import Secret, Settings
from contracts.topics import Topics
from producers.simulator import SimulatedEvent, Simulator
from retrainer.registry_io import RegistryView, read_view
from scorer.bundle import ModelBundle
from scorer.datasets import TrainingRow
from scorer.training import train
from tests.integration.processes import Child, settings_env
from tests.integration.scoring_fixtures import SIGNING_KEY
from tests.integration.topic_reader import read_topic
from tests.signing_keys import ALERT_SIGNER

T = TypeVar("T")
ALERT = msgspec.json.Decoder(Alert)

# Small windows and counts keep each test to seconds; each test overrides what it needs.
FAST = {
    "STREAMML_RETRAIN_WINDOW_SIZE": "1500",
    "STREAMML_RETRAIN_MIN_ROWS": "1500",
    "STREAMML_RETRAIN_EVERY_LABELS": "0",
    "STREAMML_RETRAIN_ALERT_KINDS": "drift,performance",
    "STREAMML_RELEASE_CANARY_FRACTION": "0.5",
    "STREAMML_RELEASE_MIN_LABELS": "100",
    "STREAMML_LOG_LEVEL": "INFO",
}


DRIFT_AT: Final = 2000


def drifting_history(events: int) -> list[SimulatedEvent]:
    """Traffic from an hour ago (seed 31); the conversion rule changes at event 2,000."""
    start = datetime.now(UTC) - timedelta(hours=1)
    return list(Simulator(seed=31, scenario="concept-drift", drift_at=DRIFT_AT,
                          start=start).events(events))


def trained_before_drift(history: Sequence[SimulatedEvent]) -> ModelBundle:
    """Version 1, fitted on the events before the change."""
    rows = [TrainingRow(i.event.features, i.label, i.event.ts) for i in history[:DRIFT_AT]]
    bundle, _ = train(rows, model="conversion", version=1)
    return bundle


def signed_settings(settings: Settings) -> Settings:
    return settings.with_overrides(model_private_key=Secret(SIGNING_KEY))


def retrain_env(settings: Settings, **overrides: str) -> dict[str, str]:
    return settings_env(settings, **{**FAST, **overrides})


def labeled_events(items: Sequence[SimulatedEvent], bundle: ModelBundle, *, version: int,
                   labels: Sequence[int] | None = None) -> list[LabeledEvent]:
    """The events as the joiner would write them had ``bundle`` scored them."""
    scores, _ = bundle.score_batch([i.event.features for i in items])
    return [LabeledEvent(event_id=i.event.event_id, user_id=i.event.user_id,
                         features=i.event.features,
                         label=i.label if labels is None else labels[n],
                         score=float(scores[n]), version=version, ts=i.event.ts)
            for n, i in enumerate(items)]


def produce(settings: Settings, topic: str, records: Sequence[LabeledEvent | Alert]) -> None:
    producer = make_producer(settings)
    for record in records:
        if isinstance(record, LabeledEvent):
            key, value = record.user_id, msgspec.json.encode(record)
        else:  # as the monitor would: the retrainer acts only on signed alerts
            key, value = record.fingerprint, msgspec.json.encode(ALERT_SIGNER.sign(record))
        producer.produce(topic, key=key.encode(), value=value)
        producer.poll(0)
    assert producer.flush(30) == 0


def drift_alert(*, kind: str = "concept-drift", version: int = 1) -> Alert:
    now = datetime.now(UTC)
    return Alert(fingerprint=f"{kind}-{now.timestamp()}", kind=kind, severity="warning",
                 status="firing", model="conversion", version=version, metric="adwin_error",
                 value=0.31, threshold=0.2, window="1000 labels", details={}, started_at=now,
                 runbook="README.md#concept-drift")


def wait_for(check: Callable[[], T | None], *, timeout: float, what: str,
             child: Child | None = None, every: float = 0.3) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        if child is not None and child.process.poll() is not None:
            raise AssertionError(f"the child exited while waiting for {what}:\n"
                                 f"{child.output()[-4000:]}")
        time.sleep(every)
    tail = f":\n{child.output()[-4000:]}" if child is not None else ""
    raise AssertionError(f"no {what} within {timeout}s{tail}")


def wait_for_log(child: Child, text: str, *, timeout: float = 120.0) -> None:
    # Returns as soon as the line shows or the child exits; the bound only catches a
    # hang. Importing scikit-learn, skops and river alone took 30-60 s of wall time
    # here while other work kept the disk busy.
    wait_for(lambda: text in child.output(), timeout=timeout, what=f"log line {text!r}",
             child=child, every=0.05)


def registry(settings: Settings) -> RegistryView:
    return read_view(settings)


def decision_alerts(settings: Settings, kind: str, n: int = 1,
                    timeout: float = 30.0) -> list[Alert]:
    topic = Topics(settings.topic_prefix).alerts

    def mine(records: list) -> list[Alert]:
        return [a for a in (ALERT.decode(r.value) for r in records) if a.kind == kind]

    records = read_topic(settings, topic, until=lambda r: len(mine(r)) >= n, timeout=timeout)
    return mine(records)


def reason_of(alert: Alert) -> str:
    return str(msgspec.json.decode(bytes(alert.details["reason"])))
