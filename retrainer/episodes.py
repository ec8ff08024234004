"""A drift episode: the triggering alerts firing about one champion, and the rounds they get.

The first triggering alert about the serving champion opens the episode; alerts
that fire beside it join it (one drift often trips several rules) and it ends when
all of them are resolved or another version becomes the champion. The episode
trains once ``min_labels`` labeled events at or after the alert's change point have
arrived (without a change point: once the window holds ``min_rows``), and while it
lasts it tries again each time ``retry_labels`` more have arrived, twice as many
after each round, up to ``max_rounds`` rounds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from contracts.change_point import ChangePoint, change_point_of
from contracts.records import Alert
from retrainer.triggers import triggering
from retrainer.window import WindowEntry


@dataclass
class Episode:
    """One drift and its rounds; ``labels`` counts labeled events after its change point."""

    alert: Alert
    change: ChangePoint | None
    needed: int
    labels: int = 0
    rounds: int = 0
    gave_up: bool = False
    firing: dict[str, Alert] = field(default_factory=dict)

    @property
    def name(self) -> str:
        where = f", change at {self.change.at.isoformat(timespec='seconds')} " \
                f"({self.change.source})" if self.change else ", change point unknown"
        return f"{self.alert.kind} alert {self.alert.fingerprint} about v{self.alert.version}" \
               f"{where}"

    def counts(self, entry: WindowEntry) -> bool:
        return self.change is None or entry.after(self.change)


class Episodes:
    """Opens, feeds and closes the drift episode; says when its next round is due.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
    >>> a = Alert(fingerprint="f1", kind="concept-drift", severity="warning",
    ...           status="firing", model="m", version=1, metric="adwin", value=1.0,
    ...           threshold=0.5, window="w", details={}, started_at=t0, runbook="")
    >>> episodes = Episodes(model="m", kinds=("drift",), min_labels=5, min_rows=2,
    ...                     retry_labels=3, max_rounds=2)
    >>> episodes.observe(a, champion=1, window=[])
    'concept-drift alert f1 about v1, change point unknown opens a drift episode'
    >>> episodes.due(champion=1) is None, episodes.waiting()
    (True, 2)
    """

    def __init__(self, *, model: str, kinds: tuple[str, ...], min_labels: int, min_rows: int,
                 retry_labels: int, max_rounds: int) -> None:
        self.model, self.kinds = model, kinds
        self.min_labels, self.min_rows = min_labels, min_rows
        self.retry_labels, self.max_rounds = retry_labels, max_rounds
        self.current: Episode | None = None

    def observe(self, alert: Alert, *, champion: int | None,
                window: Iterable[WindowEntry]) -> str | None:
        """Follow ``alert``; what it changed, in words, or None when it changed nothing."""
        if not triggering(alert, model=self.model, kinds=self.kinds):
            return None
        ep = self.current
        if alert.status == "resolved":
            if ep is None or ep.firing.pop(alert.fingerprint, None) is None:
                return None
            if ep.firing:
                return f"{alert.fingerprint} resolved; {ep.name} goes on"
            self.current = None
            return f"{ep.name} ended: resolved after {ep.rounds} rounds"
        if champion is not None and alert.version not in (None, champion):
            return f"{alert.kind} alert {alert.fingerprint} is about v{alert.version}, not " \
                   f"the champion v{champion}: nothing to retrain"
        if ep is not None:
            ep.firing[alert.fingerprint] = alert
            if ep.change is None and change_point_of(alert) is not None:
                ep.change = change_point_of(alert)
                ep.labels = sum(1 for e in window if ep.counts(e))
                ep.needed = max(ep.needed, self.min_labels)
            return f"{alert.fingerprint} joins {ep.name}"
        change = change_point_of(alert)
        ep = Episode(alert=alert, change=change,
                     needed=self.min_labels if change else self.min_rows,
                     firing={alert.fingerprint: alert})
        ep.labels = sum(1 for e in window if ep.counts(e))
        self.current = ep
        return f"{ep.name} opens a drift episode"

    def champion(self, version: int) -> str | None:
        """A new champion ends an episode about another version."""
        ep = self.current
        if ep is None or ep.alert.version in (None, version):
            return None
        self.current = None
        return f"{ep.name} ended: v{version} is the champion now"

    def count(self, entry: WindowEntry) -> None:
        """A new labeled event (not one re-read on a restart)."""
        if self.current is not None and self.current.counts(entry):
            self.current.labels += 1

    def due(self, *, champion: int | None) -> Episode | None:
        """The episode whose next round is due now, if any."""
        ep = self.current
        if ep is None or ep.gave_up or ep.labels < ep.needed:
            return None
        if champion is not None and ep.alert.version not in (None, champion):
            return None
        return ep

    def waiting(self) -> int:
        """Post-change labels the episode still waits for (0 when none)."""
        ep = self.current
        return 0 if ep is None or ep.gave_up else max(0, ep.needed - ep.labels)

    def finished(self, fingerprint: str, labels_used: int) -> None:
        """A round of the episode opened by ``fingerprint`` ended: back off, or give up."""
        ep = self.current
        if ep is None or ep.alert.fingerprint != fingerprint:
            return
        ep.rounds += 1
        if ep.rounds >= self.max_rounds or not self.retry_labels:
            ep.gave_up = True
            return
        ep.needed = labels_used + self.retry_labels * 2 ** (ep.rounds - 1)


__all__ = ["Episode", "Episodes"]
