"""The retrainer's settings, read once from :class:`contracts.settings.RetrainerSettings`
and checked."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal, cast

from contracts.settings import RetrainerSettings
from retrainer.challenge import ChallengePolicy, MetricName
from retrainer.release import ReleasePolicy
from retrainer.triggers import parse_alert_kinds
from scorer.preprocessing import EstimatorName
from scorer.threshold import ThresholdRule
from scorer.training import TrainingConfig

StrategyName = Literal["batch", "online"]
ReleaseMode = Literal["canary", "shadow", "champion"]


@dataclass(frozen=True, kw_only=True)
class RetrainerConfig:
    """Window, triggers, challenge and release policies of one retrainer.

    >>> config = RetrainerConfig.from_settings(RetrainerSettings(retrain_metric="ROC_AUC"))
    >>> config.strategy, config.challenge.metric, config.release.metric, config.alert_kinds
    ('batch', 'roc_auc', 'roc_auc', ('drift', 'performance'))
    """

    model: str = "conversion"
    strategy: StrategyName = "batch"
    training: TrainingConfig = field(default_factory=TrainingConfig)
    window_size: int = 20_000
    window_max_bytes: int | None = 256 * 1024 * 1024
    window_age: timedelta = timedelta(days=7)
    min_rows: int = 200
    every_labels: int = 5_000
    schedule: timedelta | None = None
    alert_kinds: tuple[str, ...] = ("drift", "performance")
    retry_labels: int = 500
    max_rounds: int = 4
    min_post_change: int = 1000
    refine_factor: int = 8
    holdout_fraction: float = 0.4
    challenge: ChallengePolicy = field(default_factory=ChallengePolicy)
    release_mode: ReleaseMode = "canary"
    canary_fraction: float = 0.1
    release: ReleasePolicy = field(default_factory=ReleasePolicy)

    def __post_init__(self) -> None:
        if self.release_mode == "canary" and not 0.0 < self.canary_fraction <= 1.0:
            raise ValueError(
                "STREAMML_RELEASE_CANARY_FRACTION must be within (0, 1] for canary releases, "
                f"got {self.canary_fraction}")
        if self.min_rows > self.window_size:
            raise ValueError(
                f"STREAMML_RETRAIN_MIN_ROWS ({self.min_rows}) exceeds "
                f"STREAMML_RETRAIN_WINDOW_SIZE ({self.window_size}): no window would do")

    @classmethod
    def from_settings(cls, settings: RetrainerSettings) -> RetrainerConfig:
        metric = cast(MetricName, settings.retrain_metric.lower())
        return cls(
            model=settings.model_name,
            strategy=cast(StrategyName, settings.retrain_strategy.lower()),
            training=TrainingConfig(
                estimator=cast(EstimatorName, settings.retrain_estimator.lower()),
                threshold_rule=ThresholdRule.parse(settings.decision_threshold_rule)),
            window_size=settings.retrain_window_size,
            window_max_bytes=settings.retrain_window_max_bytes,
            window_age=timedelta(seconds=settings.retrain_window_age_s),
            min_rows=settings.retrain_min_rows,
            every_labels=settings.retrain_every_labels,
            schedule=timedelta(seconds=settings.retrain_schedule_s)
            if settings.retrain_schedule_s else None,
            alert_kinds=parse_alert_kinds(settings.retrain_alert_kinds),
            retry_labels=settings.retrain_retry_labels,
            max_rounds=settings.retrain_max_rounds,
            min_post_change=settings.retrain_min_post_change,
            refine_factor=settings.retrain_refine_factor,
            holdout_fraction=settings.retrain_holdout_fraction,
            challenge=ChallengePolicy(metric=metric, margin=settings.retrain_margin,
                                      floor=settings.retrain_floor,
                                      min_skill=settings.retrain_min_skill,
                                      alpha=settings.retrain_alpha),
            release_mode=cast(ReleaseMode, settings.release_mode.lower()),
            canary_fraction=settings.release_canary_fraction,
            release=ReleasePolicy(metric=metric, min_labels=settings.release_min_labels,
                                  margin=settings.release_margin,
                                  guard_min_labels=settings.release_guard_min_labels,
                                  guard_error_rate=settings.release_guard_error_rate,
                                  deadline_labels=settings.release_deadline_labels,
                                  deadline=timedelta(seconds=settings.release_deadline_s)),
        )


__all__ = ["ReleaseMode", "RetrainerConfig", "StrategyName"]
