"""Labeled events for the retrainer's tests: hand-made ones, and the simulator's concept drift."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from contracts.records import Alert, Deployment, LabeledEvent
from producers.simulator import SimulatedEvent, Simulator
from retrainer.window import TrainingWindow, WindowSnapshot
from scorer.bundle import ModelBundle
from scorer.datasets import TrainingRow
from scorer.training import train

T0 = datetime(2026, 3, 1, tzinfo=UTC)
TOPIC = "labeled-events"
DRIFT_AT = 3000


def labeled(i: int, *, label: int = 0, score: float = 0.5, version: int = 1,
            ts: datetime | None = None, features: dict[str, float | str | None] | None = None,
            event_id: str | None = None) -> LabeledEvent:
    return LabeledEvent(event_id=event_id or f"e{i}", user_id=f"u{i % 7}",
                        features=features if features is not None else {"x": float(i)},
                        label=label, score=score, version=version,
                        ts=ts or T0 + timedelta(seconds=i))


def alert(*, kind: str = "concept-drift", severity: str = "warning", status: str = "firing",
          model: str = "conversion", version: int | None = 1) -> Alert:
    return Alert(fingerprint=f"fp-{kind}-{version}", kind=kind, severity=severity,  # type: ignore[arg-type]
                 status=status, model=model, version=version, metric="adwin", value=1.0,  # type: ignore[arg-type]
                 threshold=0.5, window="5000 labels", details={}, started_at=T0,
                 runbook="README.md")


def deployment(champion: int = 1, canary: int | None = None, fraction: float = 0.0,
               shadow: int | None = None, *, at: datetime = T0,
               reason: str = "test") -> Deployment:
    return Deployment(model="conversion", champion=champion, canary=canary,
                      canary_fraction=fraction, shadow=shadow, decided_by="test", reason=reason,
                      decided_at=at)


def simulated(n: int, *, seed: int = 11) -> list[SimulatedEvent]:
    return list(Simulator(seed=seed, scenario="concept-drift", drift_at=DRIFT_AT,
                          start=T0).events(n))


def as_labeled(items: Sequence[SimulatedEvent], *, labels: Sequence[int] | None = None,
               version: int = 1) -> list[LabeledEvent]:
    return [LabeledEvent(event_id=i.event.event_id, user_id=i.event.user_id,
                         features=i.event.features,
                         label=i.label if labels is None else labels[n], score=0.5,
                         version=version, ts=i.event.ts)
            for n, i in enumerate(items)]


def snapshot_of(events: Sequence[LabeledEvent], *, partitions: int = 3) -> WindowSnapshot:
    window = TrainingWindow(max_events=100_000, max_age=timedelta(days=365))
    for offset, event in enumerate(events):
        window.add(event, TOPIC, offset % partitions, offset // partitions)
    return window.snapshot()


@pytest.fixture(scope="session", autouse=True)
def one_thread_per_pool() -> Iterator[None]:
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="session")
def drift_items() -> list[SimulatedEvent]:
    """6,000 events; the conversion rule changes at event 3,000."""
    return simulated(6000)


@pytest.fixture(scope="session")
def pre_drift_champion(drift_items: list[SimulatedEvent]) -> ModelBundle:
    rows = [TrainingRow(i.event.features, i.label, i.event.ts) for i in drift_items[:DRIFT_AT]]
    bundle, _ = train(rows, model="conversion", version=1)
    return bundle


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
