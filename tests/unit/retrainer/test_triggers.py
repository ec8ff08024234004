"""Triggers: label counts, alerts, a schedule; coalesced while busy; each with its reason."""

from __future__ import annotations

from datetime import timedelta

import pytest

from retrainer.triggers import TriggerPolicy, parse_alert_kinds, triggering
from tests.unit.retrainer.conftest import T0, alert


def policy(every: int = 0, schedule: timedelta | None = None,
           kinds: tuple[str, ...] = ("drift", "performance")) -> TriggerPolicy:
    return TriggerPolicy(model="conversion", every_labels=every, schedule=schedule,
                         alert_kinds=kinds, last_run=T0)


def test_nothing_fires_when_every_trigger_is_off() -> None:
    p = policy(kinds=())
    p.observe_labels(10_000)
    assert not p.observe_alert(alert())
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
def test_a_firing_drift_or_performance_alert_triggers(kind: str) -> None:
    p = policy()
    assert p.observe_alert(alert(kind=kind))
    fired = p.poll(T0)
    assert fired is not None and fired.kind == "alert"
    assert kind in fired.reason and "fp-" in fired.reason


@pytest.mark.parametrize("other", [
    {"severity": "info"}, {"status": "resolved"}, {"model": "another-model"},
    {"kind": "model-refused"}, {"kind": "release-promote", "severity": "info"},
])
def test_info_resolved_foreign_or_unlisted_alerts_do_not_trigger(other: dict) -> None:
    p = policy()
    assert not p.observe_alert(alert(**other))
    assert p.poll(T0) is None


def test_the_schedule_counts_from_the_last_run() -> None:
    p = policy(schedule=timedelta(hours=1))
    assert p.poll(T0 + timedelta(minutes=59)) is None
    fired = p.poll(T0 + timedelta(hours=1))
    assert fired is not None and fired.kind == "schedule"
    assert p.poll(T0 + timedelta(hours=1, minutes=30)) is None


def test_triggers_arriving_while_busy_coalesce_into_one_run() -> None:
    p = policy(every=10, schedule=timedelta(hours=1))
    p.observe_labels(50)
    p.observe_alert(alert())
    p.observe_alert(alert(kind="performance"))
    fired = p.poll(T0 + timedelta(hours=2))
    assert fired is not None and fired.kind == "alert" and "concept-drift" in fired.reason
    assert p.poll(T0 + timedelta(hours=2)) is None


def test_alert_kinds_are_read_from_the_setting() -> None:
    assert parse_alert_kinds("drift, performance ,") == ("drift", "performance")
    assert parse_alert_kinds("NONE") == ()
    assert triggering(alert(model=""), model="conversion", kinds=("drift",))


def test_bad_counts_and_schedules_are_refused() -> None:
    with pytest.raises(ValueError, match="every_labels"):
        policy(every=-1)
    with pytest.raises(ValueError, match="schedule"):
        policy(schedule=timedelta(0))
