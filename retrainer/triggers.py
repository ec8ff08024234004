"""When to retrain: an alert, a count of new labels, a schedule. Each firing says why.

The policy only counts; the retrain loop asks :meth:`TriggerPolicy.poll` when it is
free to train, so triggers arriving during a training coalesce into the next one
instead of queueing up. Alerts are followed by :mod:`retrainer.episodes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from contracts.records import Alert

TriggerKind = Literal["alert", "labels", "schedule"]


@dataclass(frozen=True, slots=True)
class Trigger:
    """Why a training starts; ``str()`` is what ``ModelVersion.trigger`` records."""

    kind: TriggerKind
    reason: str
    at: datetime

    def __str__(self) -> str:
        return f"{self.kind}: {self.reason}"


def parse_alert_kinds(text: str) -> tuple[str, ...]:
    """The words of ``STREAMML_RETRAIN_ALERT_KINDS``; ``none`` turns alert triggers off.

    >>> parse_alert_kinds("drift, Performance"), parse_alert_kinds("none")
    (('drift', 'performance'), ())
    """
    words = tuple(w.strip().lower() for w in text.split(",") if w.strip())
    return () if words == ("none",) else words


def triggering(alert: Alert, *, model: str, kinds: tuple[str, ...]) -> bool:
    """Whether ``alert`` may call for retraining: not info, this model (named), a listed kind.

    An alert naming no model is about none: it never triggers.

    Firing or resolved: a resolved one ends what its firing began.
    """
    return (
        alert.severity != "info"
        and bool(alert.model)
        and alert.model == model
        and any(word in alert.kind.lower() for word in kinds)
    )


class TriggerPolicy:
    """Counts new labels and keeps the schedule.

    Parameters
    ----------
    every_labels : int
        Retrain after this many new labels; 0 turns it off.
    schedule : timedelta or None
        Retrain this long after the last training; None turns it off.
    last_run : datetime
        When the schedule counts from (the newest version's time, or the start).

    Examples
    --------
    >>> from datetime import UTC, datetime, timedelta
    >>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
    >>> policy = TriggerPolicy(every_labels=3, schedule=timedelta(hours=1), last_run=t0)
    >>> policy.observe_labels(2); policy.poll(t0) is None
    True
    >>> policy.observe_labels(1); str(policy.poll(t0))
    'labels: 3 new labeled events (every 3)'
    >>> policy.poll(t0 + timedelta(hours=2)).kind
    'schedule'
    """

    def __init__(self, *, every_labels: int, schedule: timedelta | None,
                 last_run: datetime) -> None:
        if every_labels < 0:
            raise ValueError(f"every_labels must be >= 0, got {every_labels}")
        if schedule is not None and schedule <= timedelta(0):
            raise ValueError(f"schedule must be positive or None, got {schedule}")
        self.every_labels = every_labels
        self.schedule = schedule
        self.last_run = last_run
        self.new_labels = 0

    def observe_labels(self, n: int = 1) -> None:
        self.new_labels += n

    def poll(self, now: datetime) -> Trigger | None:
        """The trigger due now, if any; taking it resets the counts and the schedule."""
        trigger = self._due(now)
        if trigger is not None:
            self.restart(now)
        return trigger

    def restart(self, now: datetime) -> None:
        """Count labels and time afresh (a round has just been run, whatever its trigger)."""
        self.new_labels = 0
        self.last_run = now

    def _due(self, now: datetime) -> Trigger | None:
        if self.every_labels and self.new_labels >= self.every_labels:
            return Trigger("labels", f"{self.new_labels} new labeled events "
                           f"(every {self.every_labels})", now)
        if self.schedule is not None and now - self.last_run >= self.schedule:
            return Trigger("schedule", f"every {int(self.schedule.total_seconds())}s, last at "
                           f"{self.last_run.isoformat(timespec='seconds')}", now)
        return None


__all__ = ["Trigger", "TriggerKind", "TriggerPolicy", "parse_alert_kinds", "triggering"]
