"""Shared pieces of the monitor's unit tests: a model trained on simulated history, its
registry records, and a feeder that plays simulated traffic into the pure pipeline."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import msgspec
import numpy as np
import pytest

from contracts.records import Alert, LabeledEvent, Prediction
from monitor.alerts import detail
from monitor.config import MonitorConfig, load_config
from monitor.pipeline import MonitorPipeline
from producers.simulator import Simulator
from scorer.artifact import sign_bundle
from scorer.bundle import ModelBundle
from scorer.datasets import TrainingRow
from scorer.publishing import deployment_key, deployment_record, model_version_record, version_key
from scorer.training import train
from tests.signing_keys import SIGNER

START = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="session")
def bundle() -> ModelBundle:
    history = Simulator(seed=1, start=START - timedelta(days=7)).events(3000)
    rows = [TrainingRow(dict(i.event.features), i.label, i.event.ts) for i in history]
    return train(rows, model="conversion", version=1)[0]


def registry_records(bundle: ModelBundle) -> list[tuple[bytes, bytes]]:
    record = model_version_record(sign_bundle(bundle, SIGNER))
    deployment = deployment_record("conversion", bundle.version, decided_by="t", reason="t")
    return [(version_key("conversion", bundle.version), msgspec.json.encode(record)),
            (deployment_key("conversion"), msgspec.json.encode(deployment))]


def make_pipeline(bundle: ModelBundle, config: MonitorConfig | None = None) -> MonitorPipeline:
    pipeline = MonitorPipeline(config or load_config(), model="conversion")
    for key, value in registry_records(bundle):
        pipeline.apply_registry(key, value)
    return pipeline


@dataclass
class Played:
    """What a simulated run produced: alert changes and where in the stream they came."""

    ts: np.ndarray
    alerts: list[Alert] = field(default_factory=list)

    def index(self, alert: Alert) -> int:
        """How many events had happened by the end of the window that decided ``alert``."""
        end = detail(alert, "window_end")
        assert isinstance(end, float)
        return int(np.searchsorted(self.ts, end, side="right"))

    def named(self, rule: str, status: str = "firing") -> list[Alert]:
        return [a for a in self.alerts if a.status == status
                and msgspec.json.decode(a.details["rule"])["name"] == rule]


def play(pipeline: MonitorPipeline, bundle: ModelBundle, simulator: Simulator, n: int, *,
         chunk: int = 2000, label_delay: int = 1500) -> Played:
    """Feed ``n`` events: each event and its prediction, and its labeled event
    ``label_delay`` events later, ``chunk`` events per call as a consumer would."""
    played = Played(np.empty(0))
    stamps: list[float] = []
    waiting: deque[LabeledEvent] = deque()
    batch: list = []
    for item in simulator.events(n):
        batch.append(item)
        stamps.append(item.event.ts.timestamp())
        if len(batch) == chunk:
            played.alerts += _feed(pipeline, bundle, batch, waiting, label_delay)
            batch = []
    if batch:
        played.alerts += _feed(pipeline, bundle, batch, waiting, label_delay)
    played.ts = np.asarray(stamps)
    return played


def _feed(pipeline: MonitorPipeline, bundle: ModelBundle, batch: list,
          waiting: deque[LabeledEvent], delay: int) -> list[Alert]:
    scores, decisions = bundle.score_batch([i.event.features for i in batch])
    predictions, due = [], []
    for item, score, decision in zip(batch, scores.tolist(), decisions.tolist(), strict=True):
        e = item.event
        predictions.append(Prediction(
            event_id=e.event_id, user_id=e.user_id, ts=e.ts, model="conversion",
            version=bundle.version, route="champion", score=score, decision=decision,
            scored_at=e.ts + timedelta(milliseconds=40)))
        waiting.append(LabeledEvent(event_id=e.event_id, user_id=e.user_id, features=e.features,
                                    label=item.label, score=score, version=bundle.version,
                                    ts=e.ts))
        if len(waiting) > delay:
            due.append(waiting.popleft())
    return pipeline.add(predictions=predictions, labeled=due,
                        events=[i.event for i in batch])


def simulator(scenario: str = "stable", **kwargs: object) -> Simulator:
    return Simulator(seed=11, scenario=scenario, start=START, **kwargs)  # type: ignore[arg-type]
