"""The release controller: a canary (or shadow) against the champion on live labeled events.

Labeled events carry the version that served them. Arms are counted by that
version, but the comparison is paired: the service re-scores each event with the
other model (the event's features are in it), so both models are judged on the
very same live events. Pairing removes the difference between the two arms' users,
which with a few hundred labels per arm swamps the difference between the models.

Verdict, once every arm has its labels (log loss): the per-event loss difference
``canary - champion`` has mean ``d`` and standard error ``se``; promote when
``d + 1.645 se <= margin`` (non-inferior at 95 %), roll back when
``d - 1.645 se > margin``, and otherwise wait, deciding on ``d`` alone once the
arms hold ten times their minimum. ROC AUC is compared on the point estimate.
Guards roll back at once: an alert naming the candidate version, or an error rate
above the champion's by more than the guard.

Every trial ends: once its deadline passes (labeled events seen since it began, or
time since it began, whichever comes first) a trial whose arms are still short of
their labels expires, the champion stays and the candidate is withdrawn; one with
enough labels but no clear verdict is decided on the mean.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Literal

import numpy as np

from contracts.records import Alert, Deployment, LabeledEvent, Route
from retrainer.challenge import MetricName, gain, holdout_metrics, log_losses

MAX_PAIRS: Final = 20_000  # bounds memory; verdicts need hundreds of labels, not millions
Z_95: Final = 1.645
WAIT_FACTOR: Final = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleasePolicy:
    """When the controller decides: labels per arm, margin, and the guards."""

    metric: MetricName = "log_loss"
    min_labels: int = 200
    margin: float = 0.01
    guard_min_labels: int = 50
    guard_error_rate: float = 0.1
    deadline_labels: int = 10_000
    deadline: timedelta = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Candidate:
    """The version on trial, the champion it is compared with, and since when."""

    champion: int
    version: int
    route: Route
    since: datetime


@dataclass(frozen=True, slots=True)
class ReleaseDecision:
    """Promote the candidate or withdraw it (rolled back, or its trial expired), and why."""

    action: Literal["promote", "rollback", "expire"]
    version: int
    reason: str


@dataclass
class Pairs:
    """Labels with both models' scores on the same events, newest kept."""

    labels: deque[int] = field(default_factory=lambda: deque(maxlen=MAX_PAIRS))
    candidate: deque[float] = field(default_factory=lambda: deque(maxlen=MAX_PAIRS))
    champion: deque[float] = field(default_factory=lambda: deque(maxlen=MAX_PAIRS))

    def __len__(self) -> int:
        return len(self.labels)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.array(self.labels), np.array(self.candidate), np.array(self.champion)


def candidate_of(deployment: Deployment | None) -> Candidate | None:
    """The canary on trial, else the shadow, else None."""
    if deployment is None:
        return None
    canary, shadow = deployment.canary, deployment.shadow
    if canary is not None and canary != deployment.champion and deployment.canary_fraction > 0:
        return Candidate(deployment.champion, canary, "canary", deployment.decided_at)
    if shadow is not None and shadow != deployment.champion:
        return Candidate(deployment.champion, shadow, "shadow", deployment.decided_at)
    return None


class ReleaseController:
    """Watches one deployment's candidate and returns a verdict when one is due.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> now = datetime(2026, 1, 1, tzinfo=UTC)
    >>> d = Deployment(model="m", champion=1, canary=2, canary_fraction=0.5,
    ...                decided_by="retrainer", reason="new", decided_at=now)
    >>> controller = ReleaseController(ReleasePolicy(min_labels=2, margin=0.05))
    >>> controller.watch(d)
    >>> for i, (served, label, new, old) in enumerate([(1, 1, .9, .6), (2, 1, .8, .7),
    ...                                                 (1, 0, .1, .4), (2, 0, .2, .3)]):
    ...     event = LabeledEvent(event_id=f"e{i}", user_id="u", features={}, label=label,
    ...                          score=new if served == 2 else old, version=served, ts=now)
    ...     controller.observe(event, champion_score=old, candidate_score=new)
    >>> controller.verdict().action
    'promote'
    """

    def __init__(self, policy: ReleasePolicy) -> None:
        self.policy = policy
        self.candidate: Candidate | None = None
        self.served: Counter[int] = Counter()
        self.pairs = Pairs()
        self.seen = 0
        self._guard: str | None = None
        self._ended: str | None = None
        self._decided = False

    def watch(self, deployment: Deployment | None) -> None:
        """Follow ``deployment``; a new candidate or champion starts from nothing."""
        found = candidate_of(deployment)
        same = (found is not None and self.candidate is not None
                and (found.champion, found.version, found.route)
                == (self.candidate.champion, self.candidate.version, self.candidate.route))
        if not same:
            self.candidate, self.served, self.pairs = found, Counter(), Pairs()
            self.seen, self._guard, self._ended, self._decided = 0, None, None, False

    def wants(self, event: LabeledEvent) -> bool:
        """Whether ``event`` counts: served by a compared version since the trial began."""
        c = self.candidate
        if c is None or event.ts < c.since:
            return False
        served_by = (c.champion, c.version) if c.route == "canary" else (c.champion,)
        return event.version in served_by

    def count(self, event: LabeledEvent) -> None:
        """Count any labeled event since the trial began towards its deadline."""
        if self.candidate is not None and event.ts >= self.candidate.since:
            self.seen += 1

    def end(self, reason: str) -> None:
        """Withdraw the candidate at the next verdict (it cannot be compared)."""
        if self.candidate is not None:
            self._ended = reason

    def observe(self, event: LabeledEvent, *, champion_score: float,
                candidate_score: float) -> None:
        if not self.wants(event):
            return
        self.served[event.version] += 1
        self.pairs.labels.append(event.label)
        self.pairs.candidate.append(candidate_score)
        self.pairs.champion.append(champion_score)

    def observe_alert(self, alert: Alert) -> None:
        """A firing, non-info alert naming the candidate version trips the guard."""
        c = self.candidate
        if c is None or self._guard is not None:
            return
        if alert.status == "firing" and alert.severity != "info" and alert.version == c.version:
            self._guard = (f"guard: {alert.kind} alert {alert.fingerprint} names {c.route} "
                           f"version {c.version} ({alert.metric}={alert.value})")

    def verdict(self, now: datetime | None = None) -> ReleaseDecision | None:
        """The decision due at ``now``, once per candidate; None while it is too early.

        Without ``now`` only the label deadline applies.
        """
        if self.candidate is None or self._decided:
            return None
        decision = self._judge(self.candidate)
        if decision is None and self._expired(self.candidate, now):
            decision = self._expire(self.candidate)
        self._decided = decision is not None
        return decision

    def _expired(self, c: Candidate, now: datetime | None) -> bool:
        late = now is not None and now - c.since >= self.policy.deadline
        return late or self.seen >= self.policy.deadline_labels

    def _expire(self, c: Candidate) -> ReleaseDecision:
        arms, p = self._arms(c), self.policy
        if arms >= p.min_labels and p.metric == "log_loss":
            y, new, old = self.pairs.arrays()
            diff = float(np.mean(log_losses(y, new) - log_losses(y, old)))
            return self._decide(c, diff <= p.margin, f"log loss {c.route} - champion "
                                f"{diff:+.4f} on {len(y)} paired labels, decided on the mean "
                                "at the trial's deadline")
        return ReleaseDecision("expire", c.version, (
            f"trial expired: {arms} labels of {p.min_labels} per arm for {c.route} version "
            f"{c.version} after {self.seen} labeled events (deadline {p.deadline_labels} "
            f"labeled events or {int(p.deadline.total_seconds())}s); the champion "
            f"version {c.champion} stays"))

    def reopen(self) -> None:
        """Decide again (the last verdict could not be written)."""
        self._decided = False

    def _arms(self, c: Candidate) -> int:
        """Labels of the thinnest arm (a shadow has no arm of its own: pairs count)."""
        if c.route == "shadow":
            return len(self.pairs)
        return min(self.served[c.champion], self.served[c.version])

    def _judge(self, c: Candidate) -> ReleaseDecision | None:
        if self._ended is not None:
            return ReleaseDecision("expire", c.version, f"trial ended: {self._ended}")
        if self._guard is not None:
            return ReleaseDecision("rollback", c.version, f"rolled back at once: {self._guard}")
        p, arms = self.policy, self._arms(c)
        y, new, old = self.pairs.arrays()
        if arms >= p.guard_min_labels:
            mine = float(np.mean((new >= 0.5) != y))
            theirs = float(np.mean((old >= 0.5) != y))
            if mine - theirs > p.guard_error_rate:
                return ReleaseDecision("rollback", c.version, (
                    f"rolled back at once: guard: error rate {mine:.3f} exceeds the "
                    f"champion's {theirs:.3f} by more than {p.guard_error_rate}"))
        if arms < p.min_labels:
            return None
        if p.metric == "log_loss":
            return self._log_loss_verdict(c, y, new, old, arms)
        m, t = holdout_metrics(y, new), holdout_metrics(y, old)
        if "roc_auc" not in m:
            return None  # one class so far: wait for more labels
        better = gain("roc_auc", m["roc_auc"], t["roc_auc"])
        versus = f"roc_auc {m['roc_auc']:.4f} vs champion {t['roc_auc']:.4f} on {len(y)} labels"
        return self._decide(c, better >= -p.margin, versus)

    def _log_loss_verdict(self, c: Candidate, y: np.ndarray, new: np.ndarray, old: np.ndarray,
                          arms: int) -> ReleaseDecision | None:
        diff = log_losses(y, new) - log_losses(y, old)
        mean = float(np.mean(diff))
        se = float(np.std(diff, ddof=1) / math.sqrt(len(diff))) if len(diff) > 1 else math.inf
        margin = self.policy.margin
        versus = (f"log loss {c.route} - champion {mean:+.4f} (95% bound "
                  f"{mean + Z_95 * se:+.4f}) on {len(diff)} paired labels")
        if mean + Z_95 * se <= margin:
            return self._decide(c, True, versus)
        if mean - Z_95 * se > margin:
            return self._decide(c, False, versus)
        if arms >= WAIT_FACTOR * self.policy.min_labels:
            return self._decide(c, mean <= margin, versus + ", decided on the mean")
        return None

    def _decide(self, c: Candidate, good: bool, versus: str) -> ReleaseDecision:
        margin = self.policy.margin
        if good:
            return ReleaseDecision("promote", c.version, f"promoted: {c.route} not worse than "
                                   f"the champion by more than {margin} ({versus})")
        return ReleaseDecision("rollback", c.version, f"rolled back: {c.route} worse than the "
                               f"champion by more than {margin} ({versus})")


__all__ = ["Candidate", "ReleaseController", "ReleaseDecision", "ReleasePolicy",
           "candidate_of", "log_losses"]
