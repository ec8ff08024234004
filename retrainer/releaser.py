"""The release controller's hands: models to re-score with, and verdicts written out.

It keeps the newest version records it read on ``model-versions`` (bounded), loads
the champion and the candidate when a trial starts (signature checked, as a
processor does), re-scores each labeled event with the model that did not serve
it, and writes verdicts (deployment, audit record, info alert) in one transaction.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

import msgspec
import numpy as np

from contracts.records import Alert, Deployment, LabeledEvent, ModelVersion
from retrainer.jobs import DECIDED_BY
from retrainer.lifecycle import promote, withdraw
from retrainer.notices import decision_alert
from retrainer.registry_io import RegistryWriter
from retrainer.release import ReleaseController, ReleaseDecision, ReleasePolicy
from scorer.artifact import load_artifact
from scorer.bundle import ModelBundle
from scorer.exceptions import RegistryError, ScorerError

logger = logging.getLogger(__name__)

KEPT_RECORDS: Final = 8
_VERSION = msgspec.json.Decoder(ModelVersion)


class Releaser:
    """Feeds the :class:`ReleaseController` and carries out its verdicts."""

    def __init__(self, policy: ReleasePolicy, *, model: str, key: bytes) -> None:
        self.controller = ReleaseController(policy)
        self.model, self.key = model, key
        self.deployment: Deployment | None = None
        self._records: OrderedDict[int, bytes] = OrderedDict()
        self._bundles: dict[int, ModelBundle] = {}

    def on_version(self, version: int, value: bytes) -> None:
        self._records[version] = value
        self._records.move_to_end(version)
        while len(self._records) > KEPT_RECORDS:
            self._records.popitem(last=False)

    def on_deployment(self, deployment: Deployment | None) -> None:
        self.deployment = deployment
        self.controller.watch(deployment)
        c = self.controller.candidate
        self._bundles = {}
        if c is None:
            return
        for version in (c.champion, c.version):
            bundle = self._load(version)
            if bundle is None:  # cannot compare: leave the trial to an operator
                self.controller.watch(None)
                return
            self._bundles[version] = bundle
        logger.info("release trial %s v%d against champion v%d", c.route, c.version,
                    c.champion)

    def on_alert(self, alert: Alert) -> None:
        self.controller.observe_alert(alert)

    def on_labeled(self, events: Sequence[LabeledEvent]) -> None:
        """Pair each event's served score with the other model's score, in one batch each."""
        c = self.controller.candidate
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

    def tick(self, writer: RegistryWriter, metric: str, margin: float) -> None:
        verdict = self.controller.verdict()
        current = self.deployment
        if verdict is None or current is None:
            return
        now = datetime.now(UTC)
        change = self._change(current, verdict, now)
        alert = decision_alert(model=self.model, version=verdict.version,
                               kind=f"release-{verdict.action}", reason=verdict.reason,
                               metric=metric, value=None, threshold=margin,
                               details={"champion": current.champion,
                                        "candidate": verdict.version}, now=now)
        try:
            writer.write(deployment=change, alerts=[alert])
        except RegistryError:
            logger.exception("the release decision was not written; it will be retried")
            self.controller.reopen()
            return
        logger.info("release %s version=%d reason=%r", verdict.action, verdict.version,
                    verdict.reason)

    def _change(self, current: Deployment, verdict: ReleaseDecision,
                now: datetime) -> Deployment:
        by = f"{DECIDED_BY} (release controller)"
        if verdict.action == "promote":
            return promote(current, {verdict.version}, verdict.version, model=self.model,
                           decided_by=by, reason=verdict.reason, now=now)
        return withdraw(current, verdict.version, decided_by=by, reason=verdict.reason,
                        now=now)

    def _load(self, version: int) -> ModelBundle | None:
        value = self._records.get(version)
        if value is None:
            logger.warning("version %d is not among the %d newest read; its release is not "
                           "controlled", version, KEPT_RECORDS)
            return None
        try:
            record = _VERSION.decode(value)
            return load_artifact(record.artifact, record.sha256, record.signature, self.key)
        except (msgspec.DecodeError, ScorerError) as exc:
            logger.warning("version %d cannot be loaded for the release trial: %s", version, exc)
            return None


__all__ = ["KEPT_RECORDS", "Releaser"]
