"""Continuous retraining and the model lifecycle: window, triggers, drift episodes, a paired
statistical gate, publishing, canary trials with deadlines and automatic promotion or
rollback, and the audit trail. :class:`RetrainLoop` holds every decision, with no Kafka.

The Kafka-facing modules (:mod:`retrainer.registry_io`, :mod:`retrainer.jobs`,
:mod:`retrainer.service`) import the client only when called; everything else is
plain logic.
"""

from retrainer.audit import audit_key, fold_history, is_audit_key
from retrainer.challenge import (
    ChallengePolicy,
    Decision,
    PairedGain,
    base_rate_log_loss,
    decide,
    gain,
    paired_gain,
)
from retrainer.config import RetrainerConfig
from retrainer.episodes import Episode, Episodes
from retrainer.exceptions import LifecycleError, RetrainerError
from retrainer.lifecycle import (
    champion_line,
    describe,
    promote,
    rollback,
    start_canary,
    start_shadow,
    statuses,
    withdraw,
)
from retrainer.loop import RetrainLoop
from retrainer.online import OnlineLearner, river_pipeline
from retrainer.release import Candidate, ReleaseController, ReleaseDecision, ReleasePolicy
from retrainer.retraining import (
    BatchStrategy,
    OnlineStrategy,
    Round,
    RoundResult,
    Strategy,
    run_round,
)
from retrainer.triggers import Trigger, TriggerPolicy, parse_alert_kinds, triggering
from retrainer.window import TrainingWindow, WindowEntry, WindowSnapshot

__all__ = [
    "BatchStrategy",
    "Candidate",
    "ChallengePolicy",
    "Decision",
    "Episode",
    "Episodes",
    "LifecycleError",
    "OnlineLearner",
    "OnlineStrategy",
    "PairedGain",
    "ReleaseController",
    "ReleaseDecision",
    "ReleasePolicy",
    "RetrainLoop",
    "RetrainerConfig",
    "RetrainerError",
    "Round",
    "RoundResult",
    "Strategy",
    "TrainingWindow",
    "Trigger",
    "TriggerPolicy",
    "WindowEntry",
    "WindowSnapshot",
    "audit_key",
    "base_rate_log_loss",
    "champion_line",
    "decide",
    "describe",
    "fold_history",
    "gain",
    "is_audit_key",
    "paired_gain",
    "parse_alert_kinds",
    "promote",
    "river_pipeline",
    "rollback",
    "run_round",
    "start_canary",
    "start_shadow",
    "statuses",
    "triggering",
    "withdraw",
]
