"""A drift episode: the triggering alerts firing about one champion, and the rounds they get.

The first triggering alert about the serving champion opens the episode; alerts
that fire beside it join it (one drift often trips several rules) and it ends when
all of them are resolved or another version becomes the champion. The episode
trains once ``min_labels`` labeled events at or after the alert's change point have
arrived (without a change point: once the window holds ``min_rows``), and while it
lasts it tries again each time ``retry_labels`` more have arrived, twice as many
after each round, up to ``max_rounds`` rounds.

A version trained this soon after a change learnt from about a thousand post-change
rows; a model fitted on that few sits about 0.01 nats of log loss above what the same
recipe reaches on the new concept. So when a version the episode published becomes
the champion, the episode stays open for one more round, once ``refine_factor`` times
the post-change labels it learnt from have arrived: the same gate then publishes a
successor only if it is better on held-out rows. Alerts about the old version
resolving do not end it; a drift alert about the new champion replaces it.

A round after the first runs only while the drift lasts (:mod:`retrainer.lasting`):
the episode keeps the champion's served log loss on the labels that arrive after
each round, and gives up when it is no longer above what it was before the change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from contracts.change_point import ChangePoint, change_point_of
from contracts.records import Alert
from retrainer.lasting import Losses
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
    published: int | None = None  # the newest version a round of this episode published
    used: int = 0  # post-change labels that version learnt from
    refining: int | None = None  # that version, now the champion, awaiting its last round
    quiet: bool = False  # its alerts resolved while its version was being released
    since_round: Losses = field(default_factory=Losses)  # the champion's, since the last round
    why: str = ""  # why it gave up, when it did before its last round
    last_gain: float | None = None  # its last refused challenger's mean gain over the champion

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
                 retry_labels: int, max_rounds: int, refine_factor: int = 0,
                 most_labels: int | None = None) -> None:
        self.model, self.kinds = model, kinds
        self.min_labels, self.min_rows = min_labels, min_rows
        self.retry_labels, self.max_rounds = retry_labels, max_rounds
        self.refine_factor = refine_factor
        self.most_labels = most_labels  # the window's size: no round can use more
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
            if ep.firing or ep.refining is not None:
                return f"{alert.fingerprint} resolved; {ep.name} goes on"
            if ep.published is not None:
                # The monitor resolves alerts about a version it stops watching, which is
                # what a promotion does: wait for the deployment to say which it was.
                ep.quiet = True
                return f"{alert.fingerprint} resolved; {ep.name} waits for the release of " \
                       f"v{ep.published}"
            self.current = None
            return f"{ep.name} ended: resolved after {ep.rounds} rounds"
        if champion is not None and alert.version not in (None, champion):
            return f"{alert.kind} alert {alert.fingerprint} is about v{alert.version}, not " \
                   f"the champion v{champion}: nothing to retrain"
        if ep is not None and ep.refining is not None and alert.version == ep.refining:
            ep = None  # the refined champion drifts: a new episode about it
        if ep is not None:
            ep.firing[alert.fingerprint] = alert
            ep.quiet = False
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

    def deployed(self, champion: int, trial: tuple[int | None, ...]) -> str | None:
        """A deployment was applied: ``champion`` serves, ``trial`` (canary, shadow) are
        on trial. A new champion ends an episode about another version, unless the
        episode published it: then one more round will refine it. A trial of the
        episode's version that ended without promoting it lets resolved alerts end it."""
        ep = self.current
        if ep is None:
            return None
        # The deployments after a round publishes name its version until its trial ends
        # (the one that put it on trial may be read before the round reports).
        if ep.published is not None and ep.refining is None \
                and ep.published != champion and ep.published not in trial:
            ep.published = None
            if ep.quiet:
                self.current = None
                return f"{ep.name} ended: resolved after {ep.rounds} rounds"
        if ep.alert.version in (None, champion) or ep.refining == champion:
            return None
        if ep.refining is None and ep.published == champion and self.refine_factor:
            ep.refining, ep.gave_up = champion, False
            wanted = ep.used * self.refine_factor
            ep.needed = max(ep.needed, min(wanted, self.most_labels or wanted))
            return (f"v{champion} from {ep.name} is the champion; one more round refines it "
                    f"at {ep.needed} post-change labels")
        self.current = None
        return f"{ep.name} ended: v{champion} is the champion now"

    def count(self, entry: WindowEntry) -> None:
        """A new labeled event (not one re-read on a restart)."""
        ep = self.current
        if ep is not None and ep.counts(entry):
            ep.labels += 1
            if ep.rounds and ep.refining is None and entry.event.version == ep.alert.version:
                ep.since_round.add(entry.event.label, entry.event.score)

    def give_up(self, why: str) -> None:
        """The current episode gets no more rounds: ``why``, in words."""
        if self.current is not None:
            self.current.gave_up, self.current.why = True, why

    def due(self, *, champion: int | None) -> Episode | None:
        """The episode whose next round is due now, if any."""
        ep = self.current
        if ep is None or ep.gave_up or ep.labels < ep.needed \
                or (ep.quiet and ep.refining is None):
            return None
        serving = ep.alert.version if ep.refining is None else ep.refining
        if champion is not None and serving not in (None, champion):
            return None
        return ep

    def waiting(self) -> int:
        """Post-change labels the episode still waits for (0 when none)."""
        ep = self.current
        return 0 if ep is None or ep.gave_up else max(0, ep.needed - ep.labels)

    def finished(self, fingerprint: str, labels_used: int, published: int | None = None,
                 gain: float | None = None) -> None:
        """A round of the episode opened by ``fingerprint`` ended: back off, or give up
        (after the refining round, the episode is over)."""
        ep = self.current
        if ep is None or ep.alert.fingerprint != fingerprint:
            return
        if ep.refining is not None:
            self.current = None
            return
        if published is not None:
            ep.published, ep.used = published, labels_used
        ep.rounds += 1
        ep.since_round, ep.last_gain = Losses(), gain
        if ep.rounds >= self.max_rounds or not self.retry_labels:
            ep.gave_up = True
            return
        ep.needed = labels_used + self.retry_labels * 2 ** (ep.rounds - 1)


__all__ = ["Episode", "Episodes"]
