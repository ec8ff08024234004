"""One retraining round, pure: split the window, build a challenger, judge it against the champion.

The newest part of the window (by event time) is the holdout both models are
scored on. The batch strategy trains on the part before it (its hyperparameters
chosen by time-ordered cross-validation there); the online strategy has learned
every event once, test-then-train, so its holdout scores are the ones it gave each
event before learning it. A champion imported from a skops file is fitted again as it
is (its own pipeline on the same part), not replaced by the batch recipe. Once the
gate has decided to publish, the batch model is
refitted with the chosen hyperparameters on the whole window, holdout included: the
holdout served its purpose and the newest rows are the most telling. The bundle
that comes out carries its lineage, the window, the trigger and both evaluations.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np
from sklearn.base import clone

from contracts.change_point import ChangePoint
from contracts.records import TopicRange
from retrainer.challenge import ChallengePolicy, Decision, PairedGain, Scored, judge
from retrainer.online import OnlineLearner
from retrainer.triggers import Trigger
from retrainer.window import WindowSnapshot
from scorer.artifact import IMPORTED, ONNX
from scorer.bundle import ModelBundle
from scorer.exceptions import ScorerError, TrainingDataError
from scorer.feature_schema import infer_schema
from scorer.preprocessing import vectorise
from scorer.reference import reference_stats
from scorer.training import TrainingConfig, train

logger = logging.getLogger(__name__)


class Strategy(Protocol):
    """How a challenger is made from the window."""

    @property
    def name(self) -> str: ...

    @property
    def learns_holdout(self) -> bool:
        """Whether it learned the holdout too (its holdout scores are then prequential)."""
        ...

    def candidate(self, train_part: WindowSnapshot, holdout: WindowSnapshot, *, model: str,
                  version: int, lineage: Sequence[TopicRange],
                  now: datetime) -> tuple[ModelBundle, np.ndarray]:
        """The challenger bundle and its scores on ``holdout``."""
        ...

    def refit(self, bundle: ModelBundle, rows: WindowSnapshot) -> ModelBundle:
        """The challenger as it is published, having learned every row of ``rows``."""
        ...


@dataclass(frozen=True)
class BatchStrategy:
    """``streamml train``'s recipe (cleaning, encoding, scaling, estimator, search)."""

    config: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    name: str = "batch"
    learns_holdout: bool = False

    def candidate(self, train_part: WindowSnapshot, holdout: WindowSnapshot, *, model: str,
                  version: int, lineage: Sequence[TopicRange],
                  now: datetime) -> tuple[ModelBundle, np.ndarray]:
        bundle, _ = train(train_part.rows(), model=model, version=version, config=self.config,
                          lineage=lineage, now=now)
        scores, _ = bundle.score_batch([e.event.features for e in holdout.entries])
        return bundle, scores

    def refit(self, bundle: ModelBundle, rows: WindowSnapshot) -> ModelBundle:
        return refit(bundle, rows)


def refit(bundle: ModelBundle, rows: WindowSnapshot) -> ModelBundle:
    """``bundle``'s pipeline, cloned and fitted on every row of ``rows``, with its reference."""
    features = [e.event.features for e in rows.entries]
    X = vectorise(bundle.schema, features)
    pipeline = clone(bundle.pipeline).fit(X, np.array([e.event.label for e in rows.entries]))
    scores = pipeline.predict_proba(X)[:, 1]
    return dataclasses.replace(bundle, pipeline=pipeline,
                               reference=reference_stats(bundle.schema, features, scores))


@dataclass(frozen=True)
class RefitStrategy:
    """The champion's own pipeline fitted again, for a model imported from a skops file:
    the retrainer's recipe would replace the user's model family with its own.

    The schema, the decision threshold and the confirmed types stay the champion's.
    """

    champion: ModelBundle
    name: str = "refit"
    learns_holdout: bool = False

    def candidate(self, train_part: WindowSnapshot, holdout: WindowSnapshot, *, model: str,
                  version: int, lineage: Sequence[TopicRange],
                  now: datetime) -> tuple[ModelBundle, np.ndarray]:
        fitted = refit(self.champion, train_part)
        bundle = dataclasses.replace(
            fitted, model=model, version=version, created_at=now, lineage=tuple(lineage),
            params={**self.champion.params, "refit_of": self.champion.version})
        scores, _ = bundle.score_batch([e.event.features for e in holdout.entries])
        return bundle, scores

    def refit(self, bundle: ModelBundle, rows: WindowSnapshot) -> ModelBundle:
        return refit(bundle, rows)


def strategy_for(champion: ModelBundle | None, configured: Strategy) -> Strategy | str:
    """The strategy a round runs with this champion, or why no round can run: an imported
    pipeline is refitted as it is; an imported ONNX model cannot be fitted at all."""
    estimator = champion.params.get("estimator") if champion is not None else None
    if champion is None or estimator not in (IMPORTED, ONNX):
        return configured
    if estimator == ONNX:
        return (f"not trained: version {champion.version} is an imported ONNX model, which "
                "the retrainer cannot fit again; it is only monitored. Import a new one with "
                "`streamml models import`")
    return RefitStrategy(champion)


@dataclass(frozen=True)
class OnlineStrategy:
    """A frozen copy of the online learner, written into a scikit-learn pipeline."""

    learner: OnlineLearner
    name: str = "online"
    learns_holdout: bool = True

    def candidate(self, train_part: WindowSnapshot, holdout: WindowSnapshot, *, model: str,
                  version: int, lineage: Sequence[TopicRange],
                  now: datetime) -> tuple[ModelBundle, np.ndarray]:
        features = [e.event.features for e in (*train_part.entries, *holdout.entries)]
        schema = infer_schema(features)
        pipeline = self.learner.to_pipeline(schema)
        prequential = self.learner.prequential
        scores = np.array([
            prequential[e.event.event_id] if e.event.event_id in prequential
            else self.learner.predict_one(e.event.features) for e in holdout.entries
        ])
        bundle = ModelBundle(
            pipeline=pipeline, schema=schema,
            reference=reference_stats(schema, features, scores), metrics={},
            lineage=tuple(lineage), model=model, version=version, created_at=now,
            params={"estimator": "river-logistic", "learned": self.learner.learned,
                    "learning_rate": self.learner.learning_rate},
        )
        return bundle, scores

    def refit(self, bundle: ModelBundle, rows: WindowSnapshot) -> ModelBundle:
        return bundle  # it has learned every row already


@dataclass(frozen=True)
class Round:
    """A round due: why, the rows to learn from, how, and the error rate it may spend.

    ``number`` counts the rounds of one alert (1 for the other triggers);
    ``fingerprint`` names the alert, ``change`` where its change began.
    """

    trigger: Trigger
    snapshot: WindowSnapshot
    strategy: Strategy
    alpha: float
    number: int = 1
    fingerprint: str | None = None
    change: ChangePoint | None = None
    post_change_labels: int = 0


@dataclass(frozen=True)
class RoundResult:
    """What a round decided; ``bundle`` is set only when it is to be published."""

    decision: Decision
    bundle: ModelBundle | None
    challenger: dict[str, float]
    champion: dict[str, float] | None
    trigger: Trigger
    lineage: tuple[TopicRange, ...]
    window_rows: int
    gain: PairedGain | None = None  # the challenger's over the champion, row by row


def run_round(snapshot: WindowSnapshot, strategy: Strategy, champion: ModelBundle | None, *,
              policy: ChallengePolicy, holdout_fraction: float, model: str, version: int,
              trigger: Trigger, now: datetime, alpha: float | None = None) -> RoundResult:
    """Train (or freeze) a challenger, evaluate both on the newest slice, decide.

    ``alpha`` is the error rate this round's paired test may spend (default: that of
    a first round, ``policy.spent(1)``).
    """
    train_part, holdout = snapshot.split(holdout_fraction)
    lineage = tuple(snapshot.lineage())
    y_holdout = np.array([e.event.label for e in holdout.entries])
    try:
        bundle, scores = strategy.candidate(train_part, holdout, model=model, version=version,
                                            lineage=lineage, now=now)
    except TrainingDataError as exc:
        return RoundResult(Decision(False, f"not published: cannot train on the window: {exc}"),
                           None, {}, None, trigger, lineage, len(snapshot))
    champion_scores = _champion_scores(champion, holdout)
    train_labels = np.array([e.event.label for e in train_part.entries])
    verdict = judge(
        y_holdout, Scored(scores, bundle.threshold),
        None if champion is None or champion_scores is None
        else Scored(champion_scores, champion.threshold),
        base_rate=float(np.mean(train_labels)) if len(train_labels) else 0.5,
        policy=policy, alpha=policy.spent(1) if alpha is None else alpha)
    decision, challenger, champion_metrics = verdict.decision, verdict.challenger, verdict.champion
    baseline, versus_champion = verdict.baseline_log_loss, verdict.versus_champion
    logger.info("round version=%d trigger=%r decision=%r", version, str(trigger),
                decision.reason)
    if not decision.publish:
        return RoundResult(decision, None, challenger, champion_metrics, trigger, lineage,
                           len(snapshot), versus_champion)
    published = _annotated(strategy.refit(bundle, snapshot), decision, challenger,
                           champion_metrics, champion, baseline, versus_champion, trigger,
                           snapshot, len(holdout), strategy.name)
    return RoundResult(decision, published, challenger, champion_metrics, trigger, lineage,
                       len(snapshot), versus_champion)


def _champion_scores(champion: ModelBundle | None,
                     holdout: WindowSnapshot) -> np.ndarray | None:
    if champion is None:
        return None
    try:
        scores, _ = champion.score_batch([e.event.features for e in holdout.entries])
    except ScorerError as exc:
        logger.warning("the champion cannot score the holdout: %s", exc)
        return None
    return scores


def _annotated(bundle: ModelBundle, decision: Decision, challenger: dict[str, float],
               champion_metrics: dict[str, float] | None, champion: ModelBundle | None,
               baseline: float, versus: PairedGain | None, trigger: Trigger,
               snapshot: WindowSnapshot, holdout_rows: int, strategy: str) -> ModelBundle:
    span = snapshot.span
    window: dict[str, Any] = {
        "rows": len(snapshot), "holdout_rows": holdout_rows,
        "from": span[0].isoformat() if span else None,
        "to": span[1].isoformat() if span else None,
    }
    metrics = {**challenger, "baseline_log_loss": baseline, "window_rows": float(len(snapshot)),
               "holdout_rows": float(holdout_rows)}
    if span:
        metrics |= {"window_from": span[0].timestamp(), "window_to": span[1].timestamp()}
    if champion is not None and champion_metrics is not None:
        metrics |= {f"champion_{k}": v for k, v in champion_metrics.items()}
        metrics["champion_version"] = float(champion.version)
    gate = None
    if versus is not None:
        gate = {"mean_gain": versus.mean, "lower_bound": versus.lower, "alpha": versus.alpha,
                "rows": versus.n}
        metrics |= {"gain_mean": versus.mean, "gain_lower_bound": versus.lower}
    params = {**bundle.params, "strategy": strategy, "trigger": str(trigger),
              "decision": decision.reason, "window": window, "fitted_rows": len(snapshot),
              "gate": gate,
              "evaluations": {"challenger": challenger, "champion": champion_metrics,
                              "champion_version": champion.version if champion else None}}
    return dataclasses.replace(bundle, metrics=metrics, params=params)


__all__ = ["BatchStrategy", "OnlineStrategy", "RefitStrategy", "Round", "RoundResult", "Strategy",
           "refit", "run_round", "strategy_for"]
