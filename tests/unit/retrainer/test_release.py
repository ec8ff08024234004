"""The release controller: paired non-inferiority verdicts, guards that act at once."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from retrainer.release import ReleaseController, ReleasePolicy, candidate_of, log_losses
from tests.unit.retrainer.conftest import T0, alert, deployment, labeled

CANARY = deployment(1, canary=2, fraction=0.2, at=T0)
SHADOW = deployment(1, shadow=2, at=T0)


def feed(controller: ReleaseController, n: int, *, champion: float, candidate: float,
         served: tuple[int, ...] = (1, 2), seed: int = 0) -> None:
    """``n`` events; each model's score is right (on the label's side) with its probability."""
    rng = np.random.default_rng(seed)

    def score(label: int, quality: float) -> float:
        right = rng.random() < quality
        return (0.8 if label else 0.2) if right else (0.3 if label else 0.7)

    for i in range(n):
        label = int(rng.random() < 0.3)
        old, new = score(label, champion), score(label, candidate)
        version = served[i % len(served)]
        event = labeled(i, label=label, score=new if version == 2 else old, version=version,
                        ts=T0 + timedelta(seconds=i + 1), event_id=f"x{i}")
        controller.observe(event, champion_score=old, candidate_score=new)


def controller(watch: object = CANARY, **policy: float) -> ReleaseController:
    settings = {"min_labels": 100, "margin": 0.01, "guard_min_labels": 30, **policy}
    c = ReleaseController(ReleasePolicy(**settings))  # type: ignore[arg-type]
    c.watch(watch)  # type: ignore[arg-type]
    return c


def test_the_candidate_is_the_canary_else_the_shadow() -> None:
    assert candidate_of(deployment(1)) is None
    assert candidate_of(deployment(1, canary=2, fraction=0.0)) is None
    c = candidate_of(deployment(1, canary=2, fraction=0.1, shadow=3))
    assert c is not None and (c.champion, c.version, c.route, c.since) == (1, 2, "canary", T0)
    s = candidate_of(SHADOW)
    assert s is not None and (s.version, s.route) == (2, "shadow")


def test_no_verdict_before_each_arm_has_its_labels() -> None:
    c = controller()
    feed(c, 500, champion=0.8, candidate=0.95, served=(1,))
    assert c.verdict() is None, "the canary arm is empty"
    feed(c, 99, champion=0.8, candidate=0.95, served=(2,), seed=1)
    assert c.verdict() is None


def test_a_clearly_better_canary_is_promoted_once() -> None:
    c = controller()
    feed(c, 300, champion=0.8, candidate=0.9)
    verdict = c.verdict()
    assert verdict is not None and (verdict.action, verdict.version) == ("promote", 2)
    assert "not worse than the champion by more than 0.01" in verdict.reason
    assert "paired labels" in verdict.reason
    assert c.verdict() is None, "one verdict per candidate"


def test_a_clearly_worse_canary_is_rolled_back() -> None:
    c = controller(guard_error_rate=1.0)
    feed(c, 300, champion=0.9, candidate=0.8)
    verdict = c.verdict()
    assert verdict is not None and verdict.action == "rollback"
    assert "worse than the champion by more than" in verdict.reason


def test_an_equal_canary_waits_for_evidence_then_is_decided_on_the_mean() -> None:
    c = controller(min_labels=20)
    feed(c, 40, champion=0.85, candidate=0.85, seed=4)
    assert c.verdict() is None, "too close to call on 40 labels"
    feed(c, 400, champion=0.85, candidate=0.85, seed=5)
    verdict = c.verdict()
    assert verdict is not None and "decided on the mean" in verdict.reason


def test_a_shadow_is_judged_on_the_champions_events_re_scored() -> None:
    c = controller(SHADOW)
    feed(c, 300, champion=0.8, candidate=0.9, served=(1,))
    verdict = c.verdict()
    assert verdict is not None and verdict.action == "promote" and "shadow" in verdict.reason


def test_events_served_by_other_versions_or_before_the_trial_do_not_count() -> None:
    c = controller()
    assert not c.wants(labeled(1, version=3, ts=T0 + timedelta(1)))
    assert not c.wants(labeled(1, version=1, ts=T0 - timedelta(seconds=1)))
    assert c.wants(labeled(1, version=2, ts=T0))
    assert not controller(SHADOW).wants(labeled(1, version=2, ts=T0 + timedelta(1)))


def test_an_alert_naming_the_candidate_rolls_it_back_at_once() -> None:
    c = controller()
    c.observe_alert(alert(kind="data-drift", version=2))
    verdict = c.verdict()
    assert verdict is not None and verdict.action == "rollback"
    assert "at once" in verdict.reason and "data-drift" in verdict.reason


@pytest.mark.parametrize("other", [{"severity": "info"}, {"version": 1},
                                   {"status": "resolved"}])
def test_info_resolved_and_champion_alerts_do_not_trip_the_guard(other: dict) -> None:
    c = controller()
    c.observe_alert(alert(**{"version": 2, **other}))
    assert c.verdict() is None


def test_a_canary_erring_far_more_than_the_champion_is_rolled_back_early() -> None:
    c = controller(guard_error_rate=0.1)
    feed(c, 60, champion=0.95, candidate=0.5)
    verdict = c.verdict()
    assert verdict is not None and verdict.action == "rollback" and "error rate" in verdict.reason


def test_a_new_candidate_starts_afresh_and_the_same_one_keeps_its_evidence() -> None:
    c = controller()
    feed(c, 50, champion=0.8, candidate=0.8)
    c.watch(deployment(1, canary=2, fraction=0.5, at=T0 + timedelta(hours=1)))
    assert len(c.pairs) == 50 and c.candidate is not None and c.candidate.since == T0
    c.watch(deployment(1, canary=3, fraction=0.2, at=T0))
    assert len(c.pairs) == 0 and c.candidate is not None and c.candidate.version == 3
    c.watch(deployment(3))
    assert c.candidate is None and c.verdict() is None


def test_a_verdict_that_could_not_be_written_is_given_again_after_reopen() -> None:
    c = controller()
    c.observe_alert(alert(version=2))
    assert c.verdict() is not None and c.verdict() is None
    c.reopen()
    assert c.verdict() is not None


def test_roc_auc_verdicts_use_the_point_estimate() -> None:
    c = controller(metric="roc_auc", margin=0.02)  # type: ignore[arg-type]
    feed(c, 300, champion=0.8, candidate=0.9)
    verdict = c.verdict()
    assert verdict is not None and verdict.action == "promote" and "roc_auc" in verdict.reason


def test_log_losses_are_finite_at_the_edges() -> None:
    losses = log_losses(np.array([1, 0]), np.array([0.0, 1.0]))
    assert np.all(np.isfinite(losses)) and np.all(losses > 30)
