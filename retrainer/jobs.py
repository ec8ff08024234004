"""The training job the service runs off its consuming loop: round, sign, publish.

Nothing reaches the registry before the round has decided; what is published (the
version, the deployment that releases it, its audit record and the info alert) goes
in one transaction. A window already published (same lineage) is not published
again, so a job repeated after a crash cannot make a duplicate version.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from contracts.records import Alert, Deployment, ModelVersion
from contracts.settings import RetrainerSettings
from retrainer.config import RetrainerConfig
from retrainer.lifecycle import promote, start_canary, start_shadow
from retrainer.notices import decision_alert
from retrainer.registry_io import RegistryWriter, read_view
from retrainer.retraining import Round, RoundResult, run_round, strategy_for
from scorer.artifact import load_version, sign_bundle
from scorer.bundle import ModelBundle
from scorer.exceptions import ArtifactRejected
from scorer.publishing import model_version_record
from scorer.registry import RegistryState
from scorer.signing import TrustedKeys

logger = logging.getLogger(__name__)

DECIDED_BY = "retrainer"


@dataclass(frozen=True)
class JobOutcome:
    """What a job did: the version it published (if any) and why."""

    published: int | None
    reason: str
    seconds: float
    gain: float | None = None  # a refused challenger's mean gain over the champion


def run_job(settings: RetrainerSettings, config: RetrainerConfig, writer: RegistryWriter,
            key: TrustedKeys, due: Round) -> JobOutcome:
    """One round from the registry's current state to a written decision."""
    started = datetime.now(UTC)
    view = read_view(settings, keep_artifacts=True)
    state = view.state
    champion = _champion(state, key)
    strategy = strategy_for(champion, due.strategy)
    if isinstance(strategy, str):
        logger.info("%s", strategy)
        return JobOutcome(None, strategy, (datetime.now(UTC) - started).total_seconds())
    version = state.next_version
    trigger = due.trigger
    logger.info("training challenger version=%d strategy=%s rows=%d round=%d alpha=%.4g "
                "trigger=%r", version, strategy.name, len(due.snapshot), due.number,
                due.alpha, str(trigger))
    result = run_round(due.snapshot, strategy, champion, policy=config.challenge,
                       holdout_fraction=config.holdout_fraction, model=config.model,
                       version=version, trigger=trigger, now=started, alpha=due.alpha)
    seconds = (datetime.now(UTC) - started).total_seconds()
    duplicate = _already_published(state.versions.values(), result)
    if duplicate is not None:
        reason = f"not published again: version {duplicate} was trained on this same window"
        logger.warning("%s", reason)
        return JobOutcome(None, reason, seconds)
    if result.bundle is None:
        writer.write(alerts=[_alert(config, None, "retrain-rejected", result, due, started)])
        logger.info("challenger rejected reason=%r", result.decision.reason)
        return JobOutcome(None, result.decision.reason, seconds,
                          result.gain.mean if result.gain else None)
    record = model_version_record(sign_bundle(result.bundle, writer.signer), trigger=str(trigger))
    # A trial's deadline counts from its deployment: stamp it when written, not when the
    # round began.
    released_at = datetime.now(UTC)
    deployment = release_of(config, state.deployment, set(state.versions) | {version}, version,
                            result, released_at)
    writer.write(version=record, deployment=deployment,
                 alerts=[_alert(config, version, "retrain-published", result, due,
                                released_at)])
    logger.info("published version=%d release=%s seconds=%.1f reason=%r", version,
                config.release_mode, seconds, result.decision.reason)
    return JobOutcome(version, result.decision.reason, seconds)


def _champion(state: RegistryState, key: TrustedKeys) -> ModelBundle | None:
    deployment = state.deployment
    if deployment is None:
        return None
    record = state.versions.get(deployment.champion)
    if record is None:
        return None
    try:
        return load_version(record, key)
    except ArtifactRejected as exc:
        logger.warning("the champion version %d cannot be loaded (%s); the challenger is "
                       "judged on its own", deployment.champion, exc)
        return None


def _already_published(versions: Iterable[ModelVersion], result: RoundResult) -> int | None:
    lineage = list(result.lineage)
    for record in versions:
        if lineage and record.lineage == lineage:
            return record.version
    return None


def release_of(config: RetrainerConfig, current: Deployment | None, versions: set[int],
               version: int, result: RoundResult, now: datetime) -> Deployment:
    """The deployment that releases a published ``version`` the configured way."""
    reason = f"{result.decision.reason}; trigger {result.trigger}"
    if current is None or config.release_mode == "champion":
        return promote(current, versions, version, model=config.model, decided_by=DECIDED_BY,
                       reason=reason, now=now)
    if config.release_mode == "shadow":
        return start_shadow(current, versions, version, decided_by=DECIDED_BY,
                            reason=reason, now=now)
    return start_canary(current, versions, version, config.canary_fraction,
                        decided_by=DECIDED_BY, reason=reason, now=now)


def _alert(config: RetrainerConfig, version: int | None, kind: str, result: RoundResult,
           due: Round, now: datetime) -> Alert:
    metric = config.challenge.metric
    return decision_alert(
        model=config.model, version=version, kind=kind, reason=result.decision.reason,
        metric=metric, value=result.challenger.get(metric), threshold=config.challenge.margin,
        details={"trigger": str(result.trigger), "challenger": result.challenger,
                 "champion": result.champion, "window_rows": result.window_rows,
                 "round": due.number, "alpha": due.alpha, "alert": due.fingerprint,
                 "lineage": [[r.topic, r.partition, r.first, r.last] for r in result.lineage]},
        now=now)


__all__ = ["DECIDED_BY", "JobOutcome", "release_of", "run_job"]
