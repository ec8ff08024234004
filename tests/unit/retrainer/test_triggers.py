"""Triggers: label counts and a schedule, each with its reason; which alerts may trigger."""

from __future__ import annotations

from datetime import timedelta

import pytest

from retrainer.triggers import TriggerPolicy, parse_alert_kinds, triggering
from tests.unit.retrainer.conftest import T0, alert


def policy(every: int = 0, schedule: timedelta | None = None) -> TriggerPolicy:
    return TriggerPolicy(every_labels=every, schedule=schedule, last_run=T0)


def test_nothing_fires_when_every_trigger_is_off() -> None:
    p = policy()
    p.observe_labels(10_000)
    assert p.poll(T0 + timedelta(days=30)) is None


def test_the_count_trigger_fires_at_n_new_labels_and_counts_again_from_zero() -> None:
    p = policy(every=100)
    p.observe_labels(99)
    assert p.poll(T0) is None
    p.observe_labels(1)
    fired = p.poll(T0)
    assert fired is not None and fired.kind == "labels"
    assert str(fired) == "labels: 100 new labeled events (every 100)"
    assert p.new_labels == 0 and p.poll(T0) is None


@pytest.mark.parametrize("kind", ["concept-drift", "data-drift", "performance", "Drift"])
def test_drift_and_performance_alerts_of_this_model_may_trigger(kind: str) -> None:
    assert triggering(alert(kind=kind), model="conversion", kinds=("drift", "performance"))
    assert triggering(alert(kind=kind, status="resolved"), model="conversion",
                      kinds=("drift", "performance")), "a resolved one ends its episode"


@pytest.mark.parametrize("other", [
    {"severity": "info"}, {"model": "another-model"}, {"model": ""},
    {"kind": "model-refused"}, {"kind": "release-promote", "severity": "info"},
])
def test_info_foreign_unnamed_or_unlisted_alerts_do_not_trigger(other: dict) -> None:
    assert not triggering(alert(**other), model="conversion", kinds=("drift", "performance"))


def test_the_schedule_counts_from_the_last_run() -> None:
    p = policy(schedule=timedelta(hours=1))
    assert p.poll(T0 + timedelta(minutes=59)) is None
    fired = p.poll(T0 + timedelta(hours=1))
    assert fired is not None and fired.kind == "schedule"
    assert p.poll(T0 + timedelta(hours=1, minutes=30)) is None


def test_a_round_run_for_another_reason_restarts_the_count_and_the_schedule() -> None:
    p = policy(every=10, schedule=timedelta(hours=1))
    p.observe_labels(9)
    p.restart(T0 + timedelta(minutes=50))
    p.observe_labels(1)
    assert p.poll(T0 + timedelta(hours=1, minutes=10)) is None


def test_alert_kinds_are_read_from_the_setting() -> None:
    assert parse_alert_kinds("drift, performance ,") == ("drift", "performance")
    assert parse_alert_kinds("NONE") == ()
    assert not triggering(alert(), model="conversion", kinds=())


def test_bad_counts_and_schedules_are_refused() -> None:
    with pytest.raises(ValueError, match="every_labels"):
        policy(every=-1)
    with pytest.raises(ValueError, match="schedule"):
        policy(schedule=timedelta(0))
