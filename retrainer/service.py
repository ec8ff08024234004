"""The retrainer service: Kafka in, training off the loop, registry changes out.

One confluent-kafka consumer reads ``labeled-events``, ``alerts`` and
``model-versions`` by assignment (one retrainer runs per model; no group
rebalancing is wanted), starting where :mod:`retrainer.positions` says. Offsets of
``labeled-events`` and ``alerts`` are committed when a training job has decided, up
to where its snapshot was taken: a crash mid-training leaves them uncommitted, so
the restarted retrainer rebuilds the window, counts those labels again and retrains.
A window already published is not published twice (see :mod:`retrainer.jobs`).

Triggers and release verdicts wait until every partition has been read to its end
once, so a restart acts on the whole picture; triggers also wait while a version is
on trial. Training runs in a daemon thread: the loop keeps polling whatever a fit
costs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import msgspec

from contracts.kafka_clients import make_consumer
from contracts.records import Alert, Deployment, LabeledEvent
from contracts.settings import Settings
from contracts.topics import Topics
from retrainer.config import RetrainerConfig
from retrainer.jobs import JobOutcome, run_job
from retrainer.online import OnlineLearner
from retrainer.positions import start_plan
from retrainer.registry_io import RegistryWriter
from retrainer.releaser import Releaser
from retrainer.retraining import BatchStrategy, OnlineStrategy, Strategy
from retrainer.triggers import Trigger, TriggerPolicy
from retrainer.window import TrainingWindow

logger = logging.getLogger(__name__)

GROUP: Final = "retrainer"
RETRY_AFTER: Final = timedelta(seconds=30)

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

    def __init__(self, settings: Settings, config: RetrainerConfig, key: bytes) -> None:
        self.settings, self.config, self.key = settings, config, key
        self.topics = Topics(settings.topic_prefix)
        self.window = TrainingWindow(max_events=config.window_size, max_age=config.window_age)
        self.policy = TriggerPolicy(model=config.model, every_labels=config.every_labels,
                                    schedule=config.schedule, alert_kinds=config.alert_kinds,
                                    last_run=datetime.now(UTC))
        self.releaser = Releaser(config.release, model=config.model, key=key)
        self.learner = OnlineLearner(remember=config.window_size) \
            if config.strategy == "online" else None
        self.count_from: dict[int, int] = {}
        self.next_offsets: dict[tuple[str, int], int] = {}
        self.unread: set[tuple[str, int]] = set()
        self.newest_version_at: datetime | None = None
        self.job: Future[JobOutcome] | None = None
        self.job_offsets: dict[tuple[str, int], int] = {}
        self.job_trigger: Trigger | None = None
        self.retry: Trigger | None = None
        self.ready = False

    def run(self, stop: threading.Event) -> None:
        consumer = make_consumer(self.settings, GROUP, **{"enable.partition.eof": True})
        writer = RegistryWriter(self.settings,
                                transactional_id=f"{self.settings.group_prefix}.retrainer")
        try:
            plan = start_plan(consumer, self.topics, window_size=self.config.window_size,
                              window_age=self.config.window_age)
            self.count_from = plan.count_from
            self.unread = {(tp.topic, tp.partition) for tp in plan.assignment}
            consumer.assign(plan.assignment)
            logger.info("assigned %s", " ".join(f"{tp.topic}[{tp.partition}]@{tp.offset}"
                                                for tp in plan.assignment))
            while not stop.is_set():
                fresh = [e for m in consumer.consume(500, 0.2) if (e := self._handle(m))]
                self.releaser.on_labeled(fresh)
                self._tick(consumer, writer)
        finally:
            consumer.close()
            writer.close()

    def _handle(self, message: Any) -> LabeledEvent | None:
        """Apply one message; return a labeled event new to the window."""
        from confluent_kafka import KafkaError

        error = message.error()
        where = (message.topic(), message.partition())
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                self.unread.discard(where)
            else:
                logger.warning("consumer error on %s: %s", where, error)
            return None
        self.next_offsets[where] = message.offset() + 1
        try:
            if where[0] == self.topics.labeled_events:
                return self._labeled(_LABELED.decode(message.value()), *where, message.offset())
            if where[0] == self.topics.alerts:
                self._alert(_ALERT.decode(message.value()))
            else:
                self._registry(message.key() or b"", message.value())
        except msgspec.DecodeError as exc:
            logger.warning("skipped a record of %s at offset %d: %s", where, message.offset(),
                           exc)
        return None

    def _labeled(self, event: LabeledEvent, topic: str, partition: int,
                 offset: int) -> LabeledEvent | None:
        if not self.window.add(event, topic, partition, offset):
            return None
        if offset >= self.count_from.get(partition, 0):
            self.policy.observe_labels(1)
        if self.learner is not None:
            self.learner.learn_one(event.event_id, event.features, event.label)
        return event

    def _alert(self, alert: Alert) -> None:
        if self.policy.observe_alert(alert):
            logger.info("alert %s (%s) will trigger retraining", alert.fingerprint, alert.kind)
        self.releaser.on_alert(alert)

    def _registry(self, key: bytes, value: bytes | None) -> None:
        model = self.config.model.encode()
        name, _, suffix = key.rpartition(b"/")
        if name != model:
            return  # another model, or an audit record
        if suffix == b"deployment":
            self.releaser.on_deployment(_DEPLOYMENT.decode(value) if value else None)
        elif value and suffix.isdigit():
            self.releaser.on_version(int(suffix), value)
            stamp = _STAMP.decode(value).created_at
            self.newest_version_at = max(stamp, self.newest_version_at or stamp)

    def _tick(self, consumer: Any, writer: RegistryWriter) -> None:
        if not self.ready:
            if self.unread:
                return
            self.ready = True
            self.policy.last_run = self.newest_version_at or self.policy.last_run
            d = self.releaser.deployment
            logger.info("retrainer ready window=%d new_labels=%d champion=%s canary=%s "
                        "shadow=%s", len(self.window), self.policy.new_labels,
                        d and d.champion, d and d.canary, d and d.shadow)
        self.releaser.tick(writer, self.config.release.metric, self.config.release.margin)
        if self.job is not None and self.job.done():
            self._finish(consumer, self.job)
            self.job = None
        # A version on trial is judged before the next one is trained: triggers wait
        # (and coalesce) rather than replace a canary before its verdict.
        on_trial = self.releaser.controller.candidate is not None
        if self.job is None and not on_trial and len(self.window) >= self.config.min_rows:
            self._maybe_train(writer)

    def _maybe_train(self, writer: RegistryWriter) -> None:
        now = datetime.now(UTC)
        trigger = self.policy.poll(now)
        if trigger is None and self.retry is not None and now >= self.retry.at:
            trigger, self.retry = self.retry, None
        if trigger is None:
            return
        snapshot = self.window.snapshot()
        strategy: Strategy = OnlineStrategy(self.learner.frozen()) if self.learner \
            else BatchStrategy(self.config.training)
        self.job_offsets, self.job_trigger = dict(self.next_offsets), trigger
        logger.info("trigger %s: training on %d labeled events", trigger, len(snapshot))
        self.job = run_in_background(lambda: run_job(
            self.settings, self.config, writer, self.key, snapshot, strategy, trigger))

    def _finish(self, consumer: Any, job: Future[JobOutcome]) -> None:
        from confluent_kafka import TopicPartition

        try:
            outcome = job.result()
        except Exception:
            # Labels stay uncommitted (a restart retrains); this process retries later.
            logger.exception("the training job failed; retrying in %s", RETRY_AFTER)
            if self.job_trigger is not None:
                self.retry = Trigger(self.job_trigger.kind, f"retry of {self.job_trigger.reason}",
                                     datetime.now(UTC) + RETRY_AFTER)
            return
        logger.info("job done published=%s seconds=%.1f reason=%r", outcome.published,
                    outcome.seconds, outcome.reason)
        kept = (self.topics.labeled_events, self.topics.alerts)
        offsets = [TopicPartition(t, p, o) for (t, p), o in self.job_offsets.items()
                   if t in kept]
        if offsets:
            consumer.commit(offsets=offsets, asynchronous=False)


__all__ = ["GROUP", "RetrainerService", "run_in_background"]
