"""The streams the adaptation benchmark runs on, and the references it judges against.

Every stream runs at the demo's rates (300 events/s of event time, each label 2 s
after its event, every event labeled) so "labels from the change to a promoted
champion" means what it means in ``streamml demo``. Version 1 is trained on 20,000
events of history, as the demo does. An oracle is the same recipe fitted on 20,000
events drawn from one regime alone: the best the recipe can do once it knows the
new concept, which is what a recovered loop is compared with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Final

import numpy as np

from contracts.records import Features
from producers.simulator import Simulator
from scorer.bundle import ModelBundle
from scorer.datasets import TrainingRow
from scorer.training import train

RATE: Final = 300.0  # events per second, as ``streamml demo``
LABEL_DELAY_S: Final = 2.0
HISTORY_EVENTS: Final = 20_000
ORACLE_EVENTS: Final = 20_000
EVALUATION_EVENTS: Final = 10_000
START: Final = datetime(2026, 1, 1, tzinfo=UTC)
MODEL: Final = "conversion"


@dataclass(frozen=True)
class Stream:
    """One benchmark scenario: a simulator scenario, its length and its change points."""

    name: str
    scenario: str
    events: int
    drift_at: int
    gradual: int = 0
    return_at: int | None = None

    @property
    def drifts(self) -> bool:
        return self.scenario != "stable"

    @property
    def phases(self) -> list[tuple[int, int, bool]]:
        """(first event, end, drifted regime?) of each regime after the first change."""
        if not self.drifts:
            return [(0, self.events, False)]
        if self.return_at is None:
            return [(self.drift_at, self.events, True)]
        return [(self.drift_at, self.return_at, True), (self.return_at, self.events, False)]

    def simulator(self, seed: int) -> Simulator:
        return Simulator(seed=seed, scenario=self.scenario, drift_at=self.drift_at,
                         gradual=self.gradual, return_at=self.return_at,
                         label_delay_s=LABEL_DELAY_S, events_per_second=RATE, start=START,
                         id_prefix=f"{self.name}-{seed}")


STREAMS: Final[dict[str, Stream]] = {s.name: s for s in (
    Stream("demo", "concept-drift", 30_000, 15_000),
    Stream("sudden-concept", "concept-drift", 40_000, 10_000),
    Stream("gradual-concept", "concept-drift", 40_000, 10_000, gradual=5_000),
    Stream("covariate-shift", "covariate-shift", 40_000, 10_000),
    Stream("covariate-and-concept", "covariate-concept-shift", 40_000, 10_000),
    Stream("label-shift", "label-shift", 40_000, 10_000),
    Stream("recurring-concept", "concept-drift-return", 60_000, 10_000, return_at=35_000),
    Stream("stable", "stable", 200_000, 0),
)}
QUICK_EVENTS: Final = {"stable": 50_000}


def regime_rows(scenario: str, drifted: bool, n: int, seed: int) -> list[TrainingRow]:
    """``n`` events of one regime alone (the changed one when ``drifted``), as training rows."""
    # A scenario that returns would come back at once without an explicit return_at.
    sim = Simulator(seed=seed, scenario=scenario, drift_at=0 if drifted else n,
                    return_at=n + 1 if drifted else None, events_per_second=RATE,
                    start=START - timedelta(days=2), id_prefix=f"regime-{seed}")
    return [TrainingRow(i.event.features, i.label, i.event.ts) for i in sim.events(n)]


@cache
def history_rows(seed: int) -> list[TrainingRow]:
    """The history version 1 learns from (the same for every scenario of a seed)."""
    sim = Simulator(seed=10_000 + seed, start=START - timedelta(days=1),
                    events_per_second=RATE, id_prefix=f"history-{seed}")
    return [TrainingRow(i.event.features, i.label, i.event.ts)
            for i in sim.events(HISTORY_EVENTS)]


@cache
def first_version(seed: int) -> ModelBundle:
    """Version 1, trained on the history before the stream."""
    bundle, _ = train(history_rows(seed), model=MODEL, version=1, now=START)
    return bundle


def oracle(scenario: str, drifted: bool) -> ModelBundle:
    """The recipe fitted on one regime: the reference a recovered champion is held to."""
    # Every scenario starts from the same regime: one oracle serves them all.
    return _oracle(scenario if drifted else "stable", drifted)


@cache
def _oracle(scenario: str, drifted: bool) -> ModelBundle:
    bundle, _ = train(regime_rows(scenario, drifted, ORACLE_EVENTS, seed=90_001),
                      model=MODEL, version=1, now=START)
    return bundle


def evaluation_set(scenario: str, drifted: bool) -> tuple[list[Features], np.ndarray]:
    """Fresh events of one regime (neither the oracle nor any run saw them)."""
    return _evaluation_set(scenario if drifted else "stable", drifted)


@cache
def _evaluation_set(scenario: str, drifted: bool) -> tuple[list[Features], np.ndarray]:
    rows = regime_rows(scenario, drifted, EVALUATION_EVENTS, seed=90_002)
    return [dict(r.features) for r in rows], np.array([r.label for r in rows])


__all__ = ["MODEL", "QUICK_EVENTS", "RATE", "STREAMS", "Stream", "first_version", "history_rows",
           "oracle"]
