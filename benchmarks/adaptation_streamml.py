"""The streamml loop as the adaptation benchmark plays it: the services' own pure parts.

Scoring routes each user as the processor does (:func:`scorer.routing.group_by_assignment`)
and scores with the served bundles; the monitor is :class:`monitor.pipeline.MonitorPipeline`
with the shipped rules, fed the registry records, predictions, events and labeled
events the service would read; the retrainer is :class:`retrainer.loop.RetrainLoop`
(triggers, window, and the canary's release controller with its paired test), the
object the retrainer service runs, with the round the service runs
(:func:`retrainer.retraining.run_round`) and its release (:func:`retrainer.jobs.release_of`).
Settings are the demo's (:data:`streamml.demo.run.DEMO_TUNING`), so the benchmark's
``demo`` stream is the demo's loop in event time.

That these parts make the services' decisions is shown on a real broker by two tests.
``tests/integration/test_monitor.py`` feeds the records a running ``streamml monitor``
read (a covariate shift across a restart, a concept drift) to ``MonitorPipeline`` and
finds the same alert changes, values, windows and change points, for every shipped rule
but the two that depend on how the topics interleave (``labels-missing``,
``estimated-performance-drop``).
``tests/integration/test_retrainer.py`` runs a published round again with ``run_round``
on the window its lineage names and finds the same decision, gate and holdout figures.
Not covered: the release controller's trial, and timing between the services: when the
retrainer reads an alert relative to the labeled events (here each ``learn`` call
delivers both in event time), when a round starts and how long it takes (no stream time
here), and the interleaving of topics the monitor's consumer fetched.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime

import msgspec
import numpy as np

from benchmarks.adaptation_loop import Journal
from benchmarks.adaptation_streams import MODEL, START, first_version
from contracts.records import Alert, Deployment, Features, LabeledEvent, Prediction, UserEvent
from contracts.settings import Settings
from contracts.topics import Topics
from monitor.config import load_config
from monitor.pipeline import MonitorPipeline
from retrainer.config import RetrainerConfig
from retrainer.jobs import release_of
from retrainer.lifecycle import promote
from retrainer.loop import RetrainLoop
from retrainer.retraining import Round, run_round
from retrainer.triggers import triggering
from scorer.artifact import sign_bundle
from scorer.bundle import ModelBundle
from scorer.publishing import deployment_key, model_version_record, version_key
from scorer.routing import group_by_assignment
from scorer.signing import Signer
from streamml.demo.run import DEMO_TUNING

# A fixed test key pair, never a deployment's.
SIGNER = Signer.from_raw(base64.b64decode("j0ZyO5mEpa7VkXcfmXRc1yQ3Ymc1Jpt3DDS4zlzfLKM="))
BY = "benchmark"


class StreamML:
    name = "streamml"

    def __init__(self, journal: Journal, seed: int) -> None:
        self.journal = journal
        self.settings = Settings.from_mapping(DEMO_TUNING)
        self.config = RetrainerConfig.from_settings(self.settings)
        self.topics = Topics(self.settings.topic_prefix)
        self.now = START
        self.bundles: dict[int, ModelBundle] = {}
        self.monitor = MonitorPipeline(load_config(), model=MODEL, topics=self.topics,
                                       now=lambda: self.now)
        self.loop = RetrainLoop(self.config, key=SIGNER.trusted(), now=START)
        self.offset = 0
        self.deployment: Deployment | None = None
        self._publish(first_version(seed))
        self._deploy(promote(None, {1}, 1, model=MODEL, decided_by=BY, reason="first",
                             now=START))

    # -- the processor ----------------------------------------------------------------
    def serve(self, events: Sequence[UserEvent], now: datetime) -> tuple[np.ndarray, np.ndarray]:
        self.now = now
        assert self.deployment is not None  # noqa: S101 - deployed in __init__
        scores = np.zeros(len(events))
        versions = np.zeros(len(events), dtype=int)
        predictions = []
        groups = group_by_assignment(self.deployment, [e.user_id for e in events])
        for assignment, positions in groups.items():
            bundle = self.bundles[assignment.version]
            given, decided = bundle.score_batch([events[i].features for i in positions])
            if assignment.shown:
                scores[positions], versions[positions] = given, assignment.version
            predictions += [Prediction(
                event_id=events[i].event_id, user_id=events[i].user_id, ts=events[i].ts,
                model=MODEL, version=assignment.version, route=assignment.route,
                score=float(s), decision=int(d), scored_at=now)
                for i, s, d in zip(positions, given, decided, strict=True)]
        self._alerts(self.monitor.add(predictions=predictions, events=events))
        return scores, versions

    def champion_scores(self, features: Sequence[Features]) -> np.ndarray:
        assert self.deployment is not None  # noqa: S101 - deployed in __init__
        scores, _ = self.bundles[self.deployment.champion].score_batch(features)
        return scores

    # -- the joiner's output: monitor and retrainer ----------------------------------------
    def learn(self, labeled: Sequence[LabeledEvent], now: datetime) -> None:
        self.now = now
        self._alerts(self.monitor.add(labeled=labeled))
        for event in labeled:
            self.loop.observe_labeled(event, self.topics.labeled_events, 0, self.offset)
            self.offset += 1
        change = self.loop.release_change(now)
        if change is not None:
            if change.decision.action == "promote":
                self.journal.note("promote")
            self._deploy(change.deployment)
            self._alerts([change.alert])
        self._alerts(self.loop.take_notices())
        due = self.loop.due(now)
        if due is not None:
            self._train(due, now)

    def _train(self, due: Round, now: datetime) -> None:
        assert self.deployment is not None  # noqa: S101 - deployed in __init__
        self.journal.note("round")
        version = max(self.bundles) + 1
        result = run_round(due.snapshot, due.strategy, self.bundles[self.deployment.champion],
                           policy=self.config.challenge,
                           holdout_fraction=self.config.holdout_fraction, model=MODEL,
                           version=version, trigger=due.trigger, now=now, alpha=due.alpha)
        if result.bundle is None:
            self.loop.finished(due, now, published=None, reason=result.decision.reason,
                              gain=result.gain.mean if result.gain else None)
            return
        self.journal.note("publish")
        self._publish(result.bundle)
        self.loop.finished(due, now, published=version, reason=result.decision.reason)
        self._deploy(release_of(self.config, self.deployment, set(self.bundles), version,
                                result, now))

    def _alerts(self, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            champion = self.deployment.champion if self.deployment else None
            if alert.status == "firing" and alert.severity != "info" \
                    and alert.version == champion and triggering(
                        alert, model=MODEL, kinds=self.config.alert_kinds):
                self.journal.note("alert")
            self.loop.observe_alert(alert)

    # -- the registry ---------------------------------------------------------------------
    def _publish(self, bundle: ModelBundle) -> None:
        self.bundles[bundle.version] = bundle
        record = SIGNER.sign(model_version_record(sign_bundle(bundle, SIGNER)))
        self.monitor.apply_registry(version_key(MODEL, bundle.version),
                                    msgspec.json.encode(record))
        self.loop.observe_bundle(bundle.version, bundle)

    def _deploy(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self._alerts(self.monitor.apply_registry(deployment_key(MODEL),
                                                 msgspec.json.encode(deployment)))
        self.loop.observe_deployment(deployment)


__all__ = ["StreamML"]
