"""The retrainer service: Kafka in, training off the loop, registry changes out.

One consumer, on :class:`contracts.batch_runtime.BatchRuntime`, reads
``labeled-events``, ``alerts`` and ``model-versions`` by assignment (one retrainer
runs per model; no group rebalancing is wanted), starting where
:mod:`retrainer.positions` says. Offsets of
``labeled-events`` and ``alerts`` are committed when a training job has decided, up
to where its snapshot was taken: a crash mid-training leaves them uncommitted, so
the restarted retrainer rebuilds the window, counts those labels again and retrains.
A window already published is not published twice (see :mod:`retrainer.jobs`).

Every decision is :class:`retrainer.loop.RetrainLoop`'s; this module only feeds it
and writes what it decides, with the wall clock as its ``now``. Triggers and release
verdicts wait until every partition has been read to its end once, so a restart
acts on the whole picture. Training runs in a daemon thread: the loop keeps polling
whatever a fit costs.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

from contracts.batch_runtime import Assignment, BatchRuntime
from contracts.http_server import Heartbeat
from contracts.records import Alert, Deployment, LabeledEvent
from contracts.settings import RetrainerSettings
from contracts.topics import Topics
from retrainer.config import RetrainerConfig
from retrainer.jobs import JobOutcome, run_job
from retrainer.loop import RetrainLoop
from retrainer.positions import start_plan
from retrainer.registry_io import RegistryWriter
from retrainer.retraining import Round
from scorer.alert_signing import AlertGate
from scorer.exceptions import ArtifactRejected, RegistryError
from scorer.registry_guard import DeploymentGuard
from scorer.signing import TrustedKeys

logger = logging.getLogger(__name__)

GROUP: Final = "retrainer"
BATCH: Final = 500

_LABELED = msgspec.json.Decoder(LabeledEvent)
_ALERT = msgspec.json.Decoder(Alert)
_DEPLOYMENT = msgspec.json.Decoder(Deployment)


class _Stamp(msgspec.Struct):
    created_at: datetime


_STAMP = msgspec.json.Decoder(_Stamp)


def run_in_background(fn: Callable[[], JobOutcome]) -> Future[JobOutcome]:
    """Run ``fn`` in a daemon thread: a stop never waits for a fit to finish."""
    future: Future[JobOutcome] = Future()

    def target() -> None:
        try:
            future.set_result(fn())
        except BaseException as exc:  # noqa: BLE001 - handed to the loop, which logs it
            future.set_exception(exc)

    threading.Thread(target=target, name="retrain-job", daemon=True).start()
    return future


class RetrainerService:
    """Consumes, triggers, trains off the loop, releases. See the module docstring."""

    def __init__(self, settings: RetrainerSettings, config: RetrainerConfig, keys: TrustedKeys, *,
                 alert_keys: TrustedKeys) -> None:
        self.settings, self.config, self.key = settings, config, keys
        self.alert_gate = AlertGate(alert_keys)
        self.deployments = DeploymentGuard(keys)
        self.topics = Topics(settings.topic_prefix)
        self.loop = RetrainLoop(config, key=keys, now=datetime.now(UTC))
        self.next_offsets: dict[tuple[str, int], int] = {}
        self.unread: set[tuple[str, int]] = set()
        self.newest_version_at: datetime | None = None
        self.job: Future[JobOutcome] | None = None
        self.job_offsets: dict[tuple[str, int], int] = {}
        self.job_round: Round | None = None
        self.ready = False
        self._said = ""
        self.consumer: Any = None
        self.writer: RegistryWriter | None = None
        self.runtime = BatchRuntime(
            settings, group=GROUP, source=Assignment(self._plan, at_end=self.reached_end),
            step=self, output=None, heartbeat=Heartbeat(), policy=None, max_batch=BATCH,
            poll_seconds=0.2)

    def run(self) -> None:
        self.writer = RegistryWriter(self.settings,
                                     transactional_id=f"{self.settings.group_prefix}.retrainer")
        try:
            self.runtime.run()
        finally:
            self.writer.close()

    def stop(self) -> None:
        self.runtime.stop()

    def _plan(self, consumer: Any) -> list[Any]:
        self.consumer = consumer
        plan = start_plan(consumer, self.topics, window_size=self.config.window_size,
                          window_age=self.config.window_age)
        self.loop.count_from = dict(plan.count_from)
        self.unread = {(tp.topic, tp.partition) for tp in plan.assignment}
        logger.info("assigned %s", " ".join(f"{tp.topic}[{tp.partition}]@{tp.offset}"
                                            for tp in plan.assignment))
        return plan.assignment

    def process(self, batch: list[Any]) -> tuple[()]:
        for message in batch:
            self._handle(message)
        return ()

    def tick(self) -> tuple[()]:
        assert self.writer is not None  # noqa: S101 - run() makes it first
        self._tick(self.consumer, self.writer)
        return ()

    def reached_end(self, topic: str, partition: int, _offset: int) -> None:
        self.unread.discard((topic, partition))

    def _handle(self, message: Any) -> bool:
        """Apply one message; True when it was a labeled event new to the window."""
        where = (message.topic(), message.partition())
        self.next_offsets[where] = message.offset() + 1
        try:
            if where[0] == self.topics.labeled_events:
                return self.loop.observe_labeled(_LABELED.decode(message.value()), *where,
                                                 message.offset())
            if where[0] == self.topics.alerts:
                alert = _ALERT.decode(message.value())
                if self.alert_gate.admit(alert):  # the gate counts and logs the others
                    self.loop.observe_alert(alert)
            else:
                self._registry(message.key() or b"", message.value())
        except msgspec.DecodeError as exc:
            logger.warning("skipped a record of %s at offset %d: %s", where, message.offset(),
                           exc)
        return False

    def _registry(self, key: bytes, value: bytes | None) -> None:
        model = self.config.model.encode()
        name, _, suffix = key.rpartition(b"/")
        if name != model:
            return  # another model, or an audit record
        if suffix == b"deployment" and value:
            try:
                deployment = self.deployments.check(_DEPLOYMENT.decode(value))
            except ArtifactRejected as exc:
                logger.error("deployment refused reason=%s: %s", exc.code, exc)
                return
            self.loop.observe_deployment(self.deployments.applied(deployment))
        elif suffix == b"deployment":
            self.loop.observe_deployment(None)
        elif value and suffix.isdigit():
            self.loop.observe_version(int(suffix), value)
            stamp = _STAMP.decode(value).created_at
            self.newest_version_at = max(stamp, self.newest_version_at or stamp)

    def _tick(self, consumer: Any, writer: RegistryWriter) -> None:
        loop = self.loop
        if not self.ready:
            if self.unread:
                return
            self.ready = True
            loop.triggers.last_run = self.newest_version_at or loop.triggers.last_run
            d = loop.releaser.deployment
            logger.info("retrainer ready window=%d new_labels=%d champion=%s canary=%s "
                        "shadow=%s", len(loop.window), loop.triggers.new_labels,
                        d and d.champion, d and d.canary, d and d.shadow)
        now = datetime.now(UTC)
        self._release(writer, now)
        if self.job is not None and self.job.done():
            self._finish(consumer, self.job, now)
            self.job = None
        if self.job is None:
            self._maybe_train(writer, now)
        self._notify(writer)

    def _release(self, writer: RegistryWriter, now: datetime) -> None:
        change = self.loop.release_change(now)
        if change is None:
            return
        try:
            writer.write(deployment=change.deployment, alerts=[change.alert])
        except RegistryError:
            logger.exception("the release decision was not written; it will be retried")
            self.loop.release_failed()
            return
        self.loop.observe_deployment(change.deployment)

    def _maybe_train(self, writer: RegistryWriter, now: datetime) -> None:
        due = self.loop.due(now)
        # Counts in the status change with every batch; the log says when its kind changes.
        kind = re.sub(r"\d+", "N", self.loop.status)
        if kind != self._said:
            self._said = kind
            logger.info("status: %s", self.loop.status)
        if due is None:
            return
        self.job_offsets, self.job_round = dict(self.next_offsets), due
        logger.info("trigger %s: training on %d labeled events", due.trigger, len(due.snapshot))
        self.job = run_in_background(lambda: run_job(
            self.settings, self.config, writer, self.key, due))

    def _notify(self, writer: RegistryWriter) -> None:
        notices = self.loop.take_notices()
        if not notices:
            return
        try:
            writer.write(alerts=notices)
        except RegistryError:
            logger.exception("%d notices were not written", len(notices))

    def _finish(self, consumer: Any, job: Future[JobOutcome], now: datetime) -> None:
        from confluent_kafka import TopicPartition

        due = self.job_round
        assert due is not None  # noqa: S101 - set with the job
        try:
            outcome = job.result()
        except Exception:
            # Labels stay uncommitted (a restart retrains); this process retries later.
            logger.exception("the training job failed; retrying it later")
            self.loop.failed(due, now)
            return
        logger.info("job done published=%s seconds=%.1f reason=%r", outcome.published,
                    outcome.seconds, outcome.reason)
        self.loop.finished(due, now, published=outcome.published, reason=outcome.reason,
                          gain=outcome.gain)
        kept = (self.topics.labeled_events, self.topics.alerts)
        offsets = [TopicPartition(t, p, o) for (t, p), o in self.job_offsets.items()
                   if t in kept]
        if offsets:
            consumer.commit(offsets=offsets, asynchronous=False)


__all__ = ["GROUP", "RetrainerService", "run_in_background"]
