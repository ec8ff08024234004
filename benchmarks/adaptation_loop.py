"""One run of the adaptation benchmark: a seeded stream through a policy, in event time.

The loop plays the parts Kafka plays in production: it hands batches of events to
the policy to be scored (as the processor does, 250 at a time), and after each batch
delivers the labels then due (as the joiner does, in batches, with the event, its
score and the version that served it) and keeps the clock: ``now`` is always the
event time of the newest event, so timeouts and deadlines run on the stream's own
time. Training takes no stream time here; in production the stream moves on while a
round fits (a few seconds), which this benchmark does not charge.

What it measures for each run: whether the champion at the end of each regime is
within the tolerance of the oracle on fresh events of that regime, how many
post-change labels had arrived at the first alert, the first published version and
the first promotion, the regret (excess log loss over the oracle, summed over every
event from the change on) and how many rounds and promotions the policy made.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Protocol

import numpy as np

from benchmarks.adaptation_streams import Stream, evaluation_set, oracle
from contracts.records import Features, LabeledEvent, UserEvent
from producers.simulator import SimulatedEvent
from retrainer.release import log_losses

BATCH: Final = 250
TOLERANCE: Final = 0.01  # nats of log loss above the oracle that still count as recovered


@dataclass
class Journal:
    """What a policy did, stamped with how many post-change labels had arrived by then."""

    post_change_labels: int = 0
    changed: bool = False
    first: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def note(self, kind: str) -> None:
        """Record one ``alert``, ``round``, ``publish`` or ``promote``."""
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if self.changed and kind not in self.first:
            self.first[kind] = self.post_change_labels


class Policy(Protocol):
    """A way of keeping the served model fresh: never, on a schedule, online, streamml."""

    name: str

    def serve(self, events: Sequence[UserEvent], now: datetime) -> tuple[np.ndarray, np.ndarray]:
        """Scores shown for ``events`` and the versions that gave them."""
        ...

    def learn(self, labeled: Sequence[LabeledEvent], now: datetime) -> None:
        """Labels that just arrived, each with the score and version that served it."""
        ...

    def champion_scores(self, features: Sequence[Features]) -> np.ndarray:
        """What the champion of the moment answers for ``features``."""
        ...


@dataclass(frozen=True)
class RunFigures:
    """One stream, one seed, one policy."""

    stream: str
    seed: int
    policy: str
    recovered: bool
    gaps: tuple[float, ...]  # champion minus oracle log loss at the end of each regime
    regret: float
    labels_to: dict[str, int | None]
    counts: dict[str, int]
    events: int
    seconds: float


@dataclass
class _Pending:
    item: SimulatedEvent
    score: float
    version: int


def run(stream: Stream, seed: int, make_policy: Callable[[Journal], Policy], *,
        events: int | None = None, clock: Callable[[], float] | None = None) -> RunFigures:
    """Play ``stream`` (first ``events`` of it) through the policy ``make_policy`` builds."""
    import time

    started = (clock or time.perf_counter)()
    n = events or stream.events
    journal = Journal()
    policy = make_policy(journal)
    phases = [(a, min(b, n), drifted) for a, b, drifted in stream.phases if a < n]
    gaps: list[float] = []
    regret = 0.0
    pending: deque[_Pending] = deque()
    batch: list[SimulatedEvent] = []
    now: datetime | None = None

    def flush() -> None:
        nonlocal regret
        scores, versions = policy.serve([i.event for i in batch], batch[-1].event.ts)
        regret += _excess(stream, batch, scores)
        pending.extend(_Pending(i, float(s), int(v))
                       for i, s, v in zip(batch, scores, versions, strict=True))
        batch.clear()

    def deliver(now: datetime) -> None:
        due = []
        while pending and pending[0].item.label_due <= now:
            due.append(pending.popleft())
        if due:
            journal.post_change_labels += sum(
                1 for p in due if stream.drifts and p.item.index >= stream.drift_at)
            policy.learn([_labeled(p) for p in due], now)

    phase = 0
    for item in stream.simulator(seed).events(n):
        now = item.event.ts
        journal.changed = stream.drifts and item.index >= stream.drift_at
        while phase < len(phases) and item.index >= phases[phase][1]:
            gaps.append(_gap(stream, policy, phases[phase][2]))
            phase += 1
        batch.append(item)
        if len(batch) == BATCH:
            flush()
            deliver(now)
    if batch:
        flush()
    while phase < len(phases):
        gaps.append(_gap(stream, policy, phases[phase][2]))
        phase += 1
    return RunFigures(
        stream=stream.name, seed=seed, policy=policy.name,
        recovered=all(g <= TOLERANCE for g in gaps), gaps=tuple(gaps), regret=regret,
        labels_to={k: journal.first.get(k) for k in ("alert", "publish", "promote")},
        counts=dict(journal.counts), events=n,
        seconds=(clock or time.perf_counter)() - started)


def _labeled(p: _Pending) -> LabeledEvent:
    e = p.item.event
    return LabeledEvent(event_id=e.event_id, user_id=e.user_id, features=e.features,
                        label=p.item.label, score=p.score, version=p.version, ts=e.ts)


def _excess(stream: Stream, batch: Sequence[SimulatedEvent], scores: np.ndarray) -> float:
    """Summed log loss above the oracle's, on the events of ``batch`` from the change on."""
    if not stream.drifts:
        mask = np.ones(len(batch), dtype=bool)
    else:
        mask = np.array([i.index >= stream.drift_at for i in batch])
    if not mask.any():
        return 0.0
    kept = [i for i, m in zip(batch, mask, strict=True) if m]
    labels = np.array([i.label for i in kept])
    total = 0.0
    for drifted in (False, True):
        # The regime in force decides which oracle an event is held to.
        chosen = np.array([_drifted_at(stream, i.index) == drifted for i in kept])
        if not chosen.any():
            continue
        reference, _ = oracle(stream.scenario, drifted).score_batch(
            [dict(i.event.features) for i, c in zip(kept, chosen, strict=True) if c])
        total += float(np.sum(log_losses(labels[chosen], scores[mask][chosen])
                              - log_losses(labels[chosen], reference)))
    return total


def _drifted_at(stream: Stream, index: int) -> bool:
    return any(a <= index < b and d for a, b, d in stream.phases)


def _gap(stream: Stream, policy: Policy, drifted: bool) -> float:
    features, labels = evaluation_set(stream.scenario, drifted)
    mine = float(np.mean(log_losses(labels, policy.champion_scores(features))))
    best, _ = oracle(stream.scenario, drifted).score_batch(features)
    return mine - float(np.mean(log_losses(labels, best)))


__all__ = ["BATCH", "TOLERANCE", "Journal", "Policy", "RunFigures", "run"]
