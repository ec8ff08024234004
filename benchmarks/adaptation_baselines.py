"""The baselines the loop is compared with, on the same streams.

- ``never``: version 1 serves forever.
- ``every-n``: retrain every ``N`` labels on the newest window, with a point-estimate
  gate (the challenger's holdout log loss must beat the champion's by a margin, and
  show skill over the base rate), and promote at once: what a scheduled retrainer
  without drift awareness does. It gets no canary, which only flatters it.
- ``online``: river's online logistic regression (the retrainer's ``online``
  strategy) serving its current state and learning each label as it arrives, warmed
  up on the same history as version 1.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from datetime import datetime
from typing import Final

import numpy as np

from benchmarks.adaptation_loop import Journal
from benchmarks.adaptation_streams import MODEL, first_version, history_rows
from contracts.records import Features, LabeledEvent, UserEvent
from retrainer.online import OnlineLearner
from retrainer.release import log_losses
from scorer.bundle import ModelBundle
from scorer.datasets import TrainingRow
from scorer.exceptions import TrainingDataError
from scorer.training import train

EVERY_LABELS: Final = 2_000
WINDOW: Final = 4_000  # the demo's retraining window
HOLDOUT: Final = 0.2
MARGIN: Final = 0.005
MIN_SKILL: Final = 0.02


class Never:
    name = "never"

    def __init__(self, journal: Journal, seed: int) -> None:
        self.bundle = first_version(seed)

    def serve(self, events: Sequence[UserEvent], now: datetime) -> tuple[np.ndarray, np.ndarray]:
        scores, _ = self.bundle.score_batch([e.features for e in events])
        return scores, np.full(len(events), self.bundle.version)

    def learn(self, labeled: Sequence[LabeledEvent], now: datetime) -> None:
        return None

    def champion_scores(self, features: Sequence[Features]) -> np.ndarray:
        scores, _ = self.bundle.score_batch(features)
        return scores


class EveryN(Never):
    name = "every-n"

    def __init__(self, journal: Journal, seed: int) -> None:
        super().__init__(journal, seed)
        self.journal = journal
        self.window: deque[LabeledEvent] = deque(maxlen=WINDOW)
        self.new = 0

    def learn(self, labeled: Sequence[LabeledEvent], now: datetime) -> None:
        self.window.extend(labeled)
        self.new += len(labeled)
        if self.new < EVERY_LABELS:
            return
        self.new = 0
        self.journal.note("round")
        challenger = self._challenger(now)
        if challenger is not None:
            self.bundle = challenger
            self.journal.note("publish")
            self.journal.note("promote")

    def _challenger(self, now: datetime) -> ModelBundle | None:
        rows = sorted(self.window, key=lambda e: e.ts)
        cut = len(rows) - max(1, round(len(rows) * HOLDOUT))
        fit, holdout = rows[:cut], rows[cut:]
        try:
            bundle, _ = train([TrainingRow(e.features, e.label, e.ts) for e in fit], model=MODEL,
                              version=self.bundle.version + 1, now=now)
        except TrainingDataError:
            return None
        y = np.array([e.label for e in holdout])
        features = [e.features for e in holdout]
        mine = float(np.mean(log_losses(y, bundle.score_batch(features)[0])))
        theirs = float(np.mean(log_losses(y, self.bundle.score_batch(features)[0])))
        rate = float(np.clip(np.mean([e.label for e in fit]), 1e-6, 1 - 1e-6))
        base = float(np.mean(log_losses(y, np.full(len(y), rate))))
        skilled = base > 0 and 1.0 - mine / base >= MIN_SKILL
        return bundle if skilled and theirs - mine >= MARGIN else None


class Online:
    name = "online"

    def __init__(self, journal: Journal, seed: int) -> None:
        self.learner = OnlineLearner()
        for i, row in enumerate(history_rows(seed)):
            self.learner.learn_one(f"h{i}", row.features, row.label)

    def serve(self, events: Sequence[UserEvent], now: datetime) -> tuple[np.ndarray, np.ndarray]:
        scores = np.array([self.learner.predict_one(e.features) for e in events])
        return scores, np.ones(len(events), dtype=int)

    def learn(self, labeled: Sequence[LabeledEvent], now: datetime) -> None:
        for e in labeled:
            self.learner.learn_one(e.event_id, e.features, e.label)

    def champion_scores(self, features: Sequence[Features]) -> np.ndarray:
        return np.array([self.learner.predict_one(f) for f in features])


__all__ = ["EveryN", "Never", "Online"]
