"""Continuous retraining and the model lifecycle: window, triggers, champion/challenger,
publishing, canary release with automatic promotion or rollback, and the audit trail.

The Kafka-facing modules (:mod:`retrainer.registry_io`, :mod:`retrainer.jobs`,
:mod:`retrainer.service`) import the client only when called; everything else is
plain logic.
"""

from retrainer.audit import audit_key, fold_history, is_audit_key
from retrainer.challenge import ChallengePolicy, Decision, base_rate_log_loss, decide, gain
from retrainer.config import RetrainerConfig
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
from retrainer.online import OnlineLearner, river_pipeline
from retrainer.release import Candidate, ReleaseController, ReleaseDecision, ReleasePolicy
from retrainer.retraining import BatchStrategy, OnlineStrategy, RoundResult, Strategy, run_round
from retrainer.triggers import Trigger, TriggerPolicy, parse_alert_kinds, triggering
from retrainer.window import TrainingWindow, WindowEntry, WindowSnapshot

__all__ = [
    "BatchStrategy",
    "Candidate",
    "ChallengePolicy",
    "Decision",
    "LifecycleError",
    "OnlineLearner",
    "OnlineStrategy",
    "ReleaseController",
    "ReleaseDecision",
    "ReleasePolicy",
    "RetrainerConfig",
    "RetrainerError",
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
