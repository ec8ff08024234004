"""The release controller's hands: models to re-score with, and verdicts as records.

It keeps the newest version records it read on ``model-versions`` (bounded), loads
the champion and the candidate when a trial starts (signature checked, as a
processor does), re-scores each labeled event with the model that did not serve
it, and turns verdicts into the deployment and the alert the service writes in one
transaction. A candidate that cannot be loaded ends its trial at once and leaves
its route; a champion that cannot be loaded leaves the trial to its deadline.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import msgspec
import numpy as np

from contracts.records import Alert, Deployment, LabeledEvent, ModelVersion
from retrainer.jobs import DECIDED_BY
from retrainer.lifecycle import promote, withdraw
from retrainer.notices import decision_alert
from retrainer.release import ReleaseController, ReleaseDecision, ReleasePolicy
from scorer.artifact import load_version
from scorer.bundle import ModelBundle
from scorer.exceptions import ScorerError
from scorer.signing import TrustedKeys

logger = logging.getLogger(__name__)

KEPT_RECORDS: Final = 8
_VERSION = msgspec.json.Decoder(ModelVersion)


@dataclass(frozen=True)
class ReleaseChange:
    """A verdict and the records that carry it out: the next deployment and its alert."""

    decision: ReleaseDecision
    deployment: Deployment
    alert: Alert


class Releaser:
    """Feeds the :class:`ReleaseController` and carries out its verdicts."""

    def __init__(self, policy: ReleasePolicy, *, model: str, key: TrustedKeys) -> None:
        self.controller = ReleaseController(policy)
        self.model, self.key = model, key
        self.deployment: Deployment | None = None
        self._records: OrderedDict[int, bytes] = OrderedDict()
        self._given: OrderedDict[int, ModelBundle] = OrderedDict()
        self._bundles: dict[int, ModelBundle] = {}

    def on_version(self, version: int, value: bytes) -> None:
        self._records[version] = value
        self._records.move_to_end(version)
        while len(self._records) > KEPT_RECORDS:
            self._records.popitem(last=False)

    def on_bundle(self, version: int, bundle: ModelBundle) -> None:
        """A version already loaded (in-process callers), kept like a record."""
        self._given[version] = bundle
        self._given.move_to_end(version)
        while len(self._given) > KEPT_RECORDS:
            self._given.popitem(last=False)

    def on_deployment(self, deployment: Deployment | None) -> None:
        self.deployment = deployment
        before = self.controller.candidate
        self.controller.watch(deployment)
        c = self.controller.candidate
        if c is None or c is before:
            return
        self._bundles = {}
        for version in (c.champion, c.version):
            bundle, problem = self._load(version)
            if bundle is not None:
                self._bundles[version] = bundle
            elif version == c.version:
                self.controller.end(f"cannot load {c.route} version {version}: {problem}")
            else:
                logger.warning("the champion v%d cannot be loaded (%s): the trial of v%d "
                               "gets no paired labels and ends at its deadline", version,
                               problem, c.version)
        logger.info("release trial %s v%d against champion v%d", c.route, c.version,
                    c.champion)

    def on_alert(self, alert: Alert) -> None:
        """Guard the trial with alerts about this model; version numbers are per model."""
        if alert.model == self.model:
            self.controller.observe_alert(alert)

    def on_labeled(self, events: Sequence[LabeledEvent]) -> None:
        """Pair each event's served score with the other model's score, in one batch each."""
        c = self.controller.candidate
        for event in events:
            self.controller.count(event)
        wanted = [e for e in events if self.controller.wants(e)]
        if c is None or not wanted:
            return
        scores: dict[int, np.ndarray] = {}
        for version in (c.champion, c.version):
            bundle = self._bundles.get(version)
            if bundle is None:
                return
            others = [e.features for e in wanted if e.version != version]
            try:
                scores[version] = bundle.score_batch(others)[0]
            except ScorerError as exc:
                logger.warning("cannot re-score with version %d: %s", version, exc)
                return
        position = {c.champion: 0, c.version: 0}
        for event in wanted:
            pair = {}
            for version in (c.champion, c.version):
                if event.version == version:
                    pair[version] = event.score
                else:
                    pair[version] = float(scores[version][position[version]])
                    position[version] += 1
            self.controller.observe(event, champion_score=pair[c.champion],
                                    candidate_score=pair[c.version])

    def decide(self, now: datetime) -> ReleaseChange | None:
        """The verdict due at ``now`` as records to write, once; see :meth:`failed`."""
        verdict = self.controller.verdict(now)
        current = self.deployment
        if verdict is None or current is None:
            return None
        change = self._change(current, verdict, now)
        policy = self.controller.policy
        expired = verdict.action == "expire"
        alert = decision_alert(model=self.model, version=verdict.version,
                               kind="trial-expired" if expired else f"release-{verdict.action}",
                               reason=verdict.reason, metric=policy.metric, value=None,
                               threshold=policy.margin,
                               details={"champion": current.champion,
                                        "candidate": verdict.version,
                                        "labels": self.controller.seen},
                               now=now, severity="warning" if expired else "info")
        logger.log(logging.WARNING if expired else logging.INFO, "release %s version=%d "
                   "reason=%r", verdict.action, verdict.version, verdict.reason)
        return ReleaseChange(verdict, change, alert)

    def failed(self) -> None:
        """The last change was not written: decide again."""
        self.controller.reopen()

    def _change(self, current: Deployment, verdict: ReleaseDecision,
                now: datetime) -> Deployment:
        by = f"{DECIDED_BY} (release controller)"
        if verdict.action == "promote":
            return promote(current, {verdict.version}, verdict.version, model=self.model,
                           decided_by=by, reason=verdict.reason, now=now)
        return withdraw(current, verdict.version, decided_by=by, reason=verdict.reason,
                        now=now)

    def _load(self, version: int) -> tuple[ModelBundle | None, str]:
        if version in self._given:
            return self._given[version], ""
        value = self._records.get(version)
        if value is None:
            return None, f"not among the {KEPT_RECORDS} newest versions read"
        try:
            record = _VERSION.decode(value)
            return load_version(record, self.key), ""
        except (msgspec.DecodeError, ScorerError) as exc:
            logger.warning("version %d cannot be loaded for the release trial: %s", version, exc)
            return None, str(exc)


__all__ = ["KEPT_RECORDS", "ReleaseChange", "Releaser"]
