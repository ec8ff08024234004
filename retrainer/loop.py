"""The retrainer's decisions without Kafka: what to train on, when, and how trials end.

:class:`RetrainLoop` holds the training window, the triggers (the drift episode of
:mod:`retrainer.episodes`, the label count, the schedule), the deployment and the
release trial. It never reads a clock: every call that depends on time takes
``now`` (wall-clock time in the service, event time in a simulation), so a
benchmark drives the same decisions as the service in simulated time. Calls that
do not depend on time take no ``now``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Final

from contracts.records import Alert, Deployment, LabeledEvent
from retrainer.config import RetrainerConfig
from retrainer.episodes import Episode, Episodes
from retrainer.lasting import Losses, lasting
from retrainer.notices import decision_alert
from retrainer.online import OnlineLearner
from retrainer.releaser import ReleaseChange, Releaser
from retrainer.retraining import BatchStrategy, OnlineStrategy, Round, Strategy
from retrainer.triggers import Trigger, TriggerPolicy
from retrainer.window import TrainingWindow, WindowEntry
from scorer.bundle import ModelBundle
from scorer.signing import TrustedKeys

logger = logging.getLogger(__name__)

RETRY_AFTER: Final = timedelta(seconds=30)


class RetrainLoop:
    """Feed it what arrives; ask it what to do. Pure: no Kafka, no clock.

    Inputs: :meth:`observe_labeled`, :meth:`observe_alert`, :meth:`observe_deployment`,
    :meth:`observe_version` (a record as on ``model-versions``) or :meth:`observe_bundle`.
    Decisions: :meth:`due` gives the :class:`~retrainer.retraining.Round` to run (or
    None, and :attr:`status` says why not); :meth:`finished` or :meth:`failed` reports
    how it went; :meth:`release_change` gives a trial's verdict as records to write,
    to be fed back through :meth:`observe_deployment` once written.
    :meth:`take_notices` hands over the info alerts saying what it waits for.

    Examples
    --------
    >>> from datetime import UTC, datetime, timedelta
    >>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
    >>> loop = RetrainLoop(RetrainerConfig(min_rows=20, window_size=100, every_labels=0,
    ...                                    min_post_change=20), key=b"k", now=t0)
    >>> loop.observe_deployment(Deployment(model="conversion", champion=1, decided_by="me",
    ...                                    reason="first", decided_at=t0))
    >>> loop.observe_alert(Alert(fingerprint="f1", kind="concept-drift", severity="warning",
    ...     status="firing", model="conversion", version=1, metric="adwin", value=1.0,
    ...     threshold=0.5, window="w", details={}, started_at=t0, runbook=""))
    >>> for i in range(30):
    ...     _ = loop.observe_labeled(LabeledEvent(event_id=f"e{i}", user_id="u",
    ...         features={"x": float(i)}, label=i % 2, score=0.5, version=1,
    ...         ts=t0 + timedelta(seconds=i)), "labeled-events", 0, i)
    >>> due = loop.due(t0)
    >>> due.number, len(due.snapshot), due.alpha, loop.status[:21]
    (1, 30, 0.05, 'round 1 of 4 for conc')
    >>> loop.finished(due, t0, published=None, reason="not published: test")
    >>> loop.due(t0) is None, loop.status[:40]
    (True, 'waiting for 500 more post-change labels ')
    """

    def __init__(self, config: RetrainerConfig, *, key: TrustedKeys, now: datetime) -> None:
        self.config = config
        self.window = TrainingWindow(max_events=config.window_size, max_age=config.window_age,
                                     max_bytes=config.window_max_bytes)
        self.triggers = TriggerPolicy(every_labels=config.every_labels,
                                      schedule=config.schedule, last_run=now)
        self.episodes = Episodes(model=config.model, kinds=config.alert_kinds,
                                 min_labels=min(config.min_post_change, config.window_size),
                                 min_rows=config.min_rows,
                                 retry_labels=config.retry_labels,
                                 max_rounds=config.max_rounds,
                                 refine_factor=config.refine_factor,
                                 most_labels=config.window_size)
        self.releaser = Releaser(config.release, model=config.model, key=key)
        self.learner = OnlineLearner(remember=config.window_size) \
            if config.strategy == "online" else None
        self.count_from: dict[int, int] = {}
        self.running: Round | None = None
        self.status = "starting: reading the topics"
        self._retry: tuple[Round, datetime] | None = None
        self._released: int | None = None
        self._newest_deployed = 0
        self._fresh: list[LabeledEvent] = []
        self._notices: list[Alert] = []
        self._noticed: tuple[str, int, bool] | None = None

    @property
    def champion(self) -> int | None:
        d = self.releaser.deployment
        return d.champion if d is not None else None

    def observe_labeled(self, event: LabeledEvent, topic: str, partition: int,
                        offset: int) -> bool:
        """Hold a labeled event; False when it was already held or is too old.

        Events below ``count_from[partition]`` (read again after a restart) fill the
        window without counting as new.
        """
        if not self.window.add(event, topic, partition, offset):
            return False
        if offset >= self.count_from.get(partition, 0):
            self.triggers.observe_labels(1)
            self.episodes.count(WindowEntry(event, topic, partition, offset))
        if self.learner is not None:
            self.learner.learn_one(event.event_id, event.features, event.label)
        self._fresh.append(event)
        return True

    def observe_alert(self, alert: Alert) -> None:
        self.releaser.on_alert(alert)
        said = self.episodes.observe(alert, champion=self.champion, window=self.window)
        if said:
            logger.info("%s", said)

    def observe_deployment(self, deployment: Deployment | None) -> None:
        self._flush()
        self.releaser.on_deployment(deployment)
        if deployment is not None:
            named = (deployment.champion, deployment.canary or 0, deployment.shadow or 0)
            self._newest_deployed = max(self._newest_deployed, *named)
            if self._released is not None and self._released <= self._newest_deployed:
                self._released = None
        said = self.episodes.deployed(deployment.champion, (deployment.canary, deployment.shadow)) \
            if deployment else None
        if said:
            logger.info("%s", said)

    def observe_version(self, version: int, value: bytes) -> None:
        self.releaser.on_version(version, value)

    def observe_bundle(self, version: int, bundle: ModelBundle) -> None:
        self.releaser.on_bundle(version, bundle)

    def due(self, now: datetime) -> Round | None:
        """The round to run now, marked as running; None (and :attr:`status`) otherwise."""
        self._flush()
        due = self._next(now)
        if due is not None:
            self.running = due
            self.triggers.restart(now)
            self.status = (f"round {due.number} of {self.config.max_rounds} for "
                           f"{self._episode_name(due)} running on {len(due.snapshot)} labeled "
                           "events" if due.fingerprint else
                           f"round running on {len(due.snapshot)} labeled events ({due.trigger})")
            logger.info("%s", self.status)
        return due

    def finished(self, due: Round, now: datetime, *, published: int | None,
                 reason: str, gain: float | None = None) -> None:
        """The round ended: ``published`` is the new version, or None when refused;
        ``gain`` is a refused challenger's mean gain over the champion, when measured."""
        self.running = None
        # The service may read the releasing deployment back before the job reports.
        if published is not None and published > self._newest_deployed:
            self._released = published
        if due.fingerprint is not None:
            self.episodes.finished(due.fingerprint, due.post_change_labels, published, gain)
        self._next(now)

    def failed(self, due: Round, now: datetime) -> None:
        """The round broke before deciding; it runs again after :data:`RETRY_AFTER`."""
        self.running = None
        self._retry = (due, now + RETRY_AFTER)

    def release_change(self, now: datetime) -> ReleaseChange | None:
        """A trial's verdict due at ``now``; call :meth:`release_failed` if not written."""
        self._flush()
        return self.releaser.decide(now)

    def release_failed(self) -> None:
        self.releaser.failed()

    def take_notices(self) -> list[Alert]:
        """Info alerts to publish on ``alerts`` (once each)."""
        notices, self._notices = self._notices, []
        return notices

    def _flush(self) -> None:
        if self._fresh:
            self.releaser.on_labeled(self._fresh)
            self._fresh = []

    def _next(self, now: datetime) -> Round | None:
        if self.running is not None:
            return None
        if self._retry is not None:
            due, at = self._retry
            if now < at:
                self.status = f"retrying the failed round at {at.isoformat(timespec='seconds')}"
                return None
            self._retry = None
            return due
        if self._released is not None:
            self.status = f"waiting for the deployment that releases v{self._released}"
            return None
        trial = self.releaser.controller.candidate
        if trial is not None:
            self.status = (f"waiting for the {trial.route} trial of v{trial.version} to end "
                           f"({self.releaser.controller.seen} labeled events of at most "
                           f"{self.config.release.deadline_labels})")
            return None
        episode = self.episodes.due(champion=self.champion)
        if episode is not None and episode.rounds and episode.refining is None:
            verdict = lasting(self._before_change(episode), episode.since_round,
                              episode.last_gain)
            logger.info("before round %d of %s: %s", episode.rounds + 1, episode.name,
                        verdict.reason)
            if not verdict.lasts:
                self.episodes.give_up(verdict.reason)
                episode = None
        if episode is not None:
            return self._episode_round(episode, now)
        if self.episodes.current is not None:
            self._wait_status(self.episodes.current, now)
            return None
        if len(self.window) < self.config.min_rows:
            self.status = (f"waiting for {self.config.min_rows - len(self.window)} more labeled "
                           "events before any training")
            return None
        trigger = self.triggers.poll(now)
        if trigger is None:
            self.status = (f"idle: no drift alert about v{self.champion} firing; "
                           f"{len(self.window)} labeled events in the window")
            return None
        return Round(trigger, self.window.snapshot(), self._strategy(),
                     self.config.challenge.spent(1))

    def _episode_round(self, episode: Episode, now: datetime) -> Round:
        number = episode.rounds + 1
        alert = episode.alert
        trigger = Trigger("alert", f"{alert.kind} alert {alert.fingerprint} ({alert.severity}, "
                          f"{alert.metric}={alert.value}, threshold {alert.threshold}, window "
                          f"{alert.window}), round {number}", now)
        snapshot = self.window.snapshot().since(episode.change)
        return Round(trigger, snapshot, self._strategy(), self.config.challenge.spent(number),
                     number, alert.fingerprint, episode.change, episode.labels)

    def _before_change(self, episode: Episode) -> Losses:
        """The champion's served losses on the window's labels from before the change."""
        return Losses.of((e.event.label, e.event.score) for e in self.window
                         if e.event.version == episode.alert.version and not episode.counts(e))

    def _wait_status(self, episode: Episode, now: datetime) -> None:
        rounds = f"{episode.rounds} of {self.config.max_rounds} rounds tried"
        if episode.gave_up:
            why = f" ({episode.why})" if episode.why else ""
            self.status = (f"gave up on {episode.name} after {rounds}{why}; waiting for it "
                           "to resolve or for a new champion")
        else:
            self.status = (f"waiting for {self.episodes.waiting()} more post-change labels "
                           f"for {episode.name}; {rounds}, next at {episode.needed} "
                           "post-change labels")
        key = (episode.alert.fingerprint, episode.rounds, episode.gave_up)
        if key != self._noticed:
            self._noticed = key
            logger.info("%s", self.status)
            self._notices.append(decision_alert(
                model=self.config.model, version=episode.alert.version,
                kind="retrain-gave-up" if episode.gave_up else "retrain-waiting",
                reason=self.status, metric="post_change_labels", value=float(episode.labels),
                threshold=float(episode.needed),
                details={"alert": episode.alert.fingerprint, "rounds": episode.rounds,
                         "max_rounds": self.config.max_rounds,
                         "waiting_for": self.episodes.waiting(),
                         "change_at": episode.change.at.isoformat() if episode.change
                         else None}, now=now))

    def _episode_name(self, due: Round) -> str:
        episode = self.episodes.current
        return episode.name if episode is not None else f"alert {due.fingerprint}"

    def _strategy(self) -> Strategy:
        if self.learner is not None:
            return OnlineStrategy(self.learner.frozen())
        return BatchStrategy(self.config.training)


__all__ = ["RETRY_AFTER", "RetrainLoop"]
