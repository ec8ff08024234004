"""The retrain loop without Kafka: episodes, post-change windows, retries, backoff, caps, trials.

No randomness: hand-made events and alerts, and a fixed clock."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest

from contracts.change_point import ChangePoint, change_point_details
from contracts.records import Alert
from retrainer.config import RetrainerConfig
from retrainer.loop import RETRY_AFTER, RetrainLoop
from retrainer.release import ReleasePolicy
from scorer.bundle import ModelBundle
from tests.unit.retrainer.conftest import T0, TOPIC, alert, deployment, labeled

CHANGE = T0 + timedelta(seconds=100)


def make_loop(**overrides: object) -> RetrainLoop:
    config = RetrainerConfig(**{"min_rows": 20, "window_size": 1000, "every_labels": 0,  # type: ignore[arg-type]
                                "min_post_change": 50, "retry_labels": 10, "max_rounds": 3,
                                **overrides})
    loop = RetrainLoop(config, key=b"k", now=T0)
    loop.observe_deployment(deployment(1))
    return loop


def feed(loop: RetrainLoop, first: int, n: int) -> None:
    for i in range(first, first + n):
        loop.observe_labeled(labeled(i, label=i % 2), TOPIC, i % 2, i // 2)


def drift(*, at: ChangePoint | None = None, status: str = "firing", version: int = 1,
          model: str = "conversion") -> Alert:
    a = alert(status=status, version=version, model=model)
    return msgspec.structs.replace(a, details=change_point_details(at) if at else {})


def test_after_a_change_point_the_round_learns_only_from_events_at_or_after_it() -> None:
    loop = make_loop()
    feed(loop, 0, 100)
    loop.observe_alert(drift(at=ChangePoint(at=CHANGE, source="adwin")))
    feed(loop, 100, 49)
    assert loop.due(T0) is None
    assert loop.status.startswith("waiting for 1 more post-change labels for concept-drift")
    feed(loop, 149, 1)
    due = loop.due(T0)
    assert due is not None and len(due.snapshot) == 50 and due.number == 1
    assert all(e.event.ts >= CHANGE for e in due.snapshot.entries)
    assert due.alpha == 0.05 and due.change is not None


def test_offsets_of_the_change_point_bound_the_window_per_partition() -> None:
    loop = make_loop()
    feed(loop, 0, 200)
    offsets = ((TOPIC, 0, 60), (TOPIC, 1, 80))  # events 120.. on partition 0, 161.. on 1
    loop.observe_alert(drift(at=ChangePoint(at=CHANGE, offsets=offsets, source="adwin")))
    due = loop.due(T0)
    assert due is not None
    assert {e.event.event_id for e in due.snapshot.entries} == \
        {f"e{i}" for i in range(120, 200, 2)} | {f"e{i}" for i in range(161, 200, 2)}


def test_while_the_alert_fires_rounds_repeat_with_doubling_waits_up_to_the_cap() -> None:
    loop = make_loop()
    loop.observe_alert(drift(at=ChangePoint(at=T0, source="window")))
    feed(loop, 0, 50)
    due, fed, waits, alphas = loop.due(T0), 50, [], []
    while due is not None:
        alphas.append(due.alpha)
        loop.finished(due, T0, published=None, reason="not published: test")
        due, n = None, 0
        while due is None and n < 100:
            feed(loop, fed, 1)
            fed, n = fed + 1, n + 1
            due = loop.due(T0)
        waits.append(n)
    assert alphas == [0.05, 0.025, 0.0125]
    assert waits[:2] == [10, 20], "retry_labels, then twice as many"
    assert loop.status.startswith("gave up on concept-drift alert") and "3 of 3 rounds" in \
        loop.status
    kinds = [n.kind for n in loop.take_notices()]
    assert kinds == ["retrain-waiting", "retrain-waiting", "retrain-gave-up"]
    assert loop.take_notices() == []


def test_a_resolved_alert_ends_the_episode_and_starts_nothing() -> None:
    loop = make_loop()
    feed(loop, 0, 100)
    loop.observe_alert(drift(status="resolved"))
    assert loop.due(T0) is None
    loop.observe_alert(drift(at=ChangePoint(at=CHANGE, source="adwin")))
    loop.observe_alert(drift(status="resolved"))
    feed(loop, 100, 100)
    assert loop.due(T0) is None and loop.status.startswith("idle")


def test_alerts_about_an_older_version_or_no_model_start_nothing() -> None:
    loop = make_loop()
    loop.observe_deployment(deployment(2))
    feed(loop, 0, 100)
    loop.observe_alert(drift(version=1))
    loop.observe_alert(drift(version=2, model=""))
    assert loop.due(T0) is None and loop.status.startswith("idle")


def test_a_new_champion_ends_an_episode_about_the_old_one() -> None:
    loop = make_loop()
    loop.observe_alert(drift(at=ChangePoint(at=T0, source="adwin")))
    loop.observe_deployment(deployment(2))
    feed(loop, 0, 100)
    assert loop.due(T0) is None and loop.status.startswith("idle")


def test_without_a_change_point_the_whole_window_is_used() -> None:
    loop = make_loop()
    feed(loop, 0, 30)
    loop.observe_alert(drift())
    due = loop.due(T0)
    assert due is not None and len(due.snapshot) == 30


def test_a_failed_round_runs_again_after_a_pause_and_a_published_one_waits_for_its_trial(
) -> None:
    loop = make_loop()
    feed(loop, 0, 30)
    loop.observe_alert(drift())
    due = loop.due(T0)
    assert due is not None
    loop.failed(due, T0)
    assert loop.due(T0 + RETRY_AFTER / 2) is None
    again = loop.due(T0 + RETRY_AFTER)
    assert again is due
    loop.finished(due, T0, published=2, reason="published")
    feed(loop, 30, 100)
    assert loop.due(T0) is None and "releases v2" in loop.status
    loop.observe_deployment(deployment(1, canary=2, fraction=0.3))
    assert loop.due(T0) is None and loop.status.startswith("waiting for the canary trial")


def test_a_trial_without_labels_expires_at_its_deadline_and_retraining_is_free_again(
    pre_drift_champion: ModelBundle
) -> None:
    loop = make_loop(release=ReleasePolicy(deadline=timedelta(minutes=10)))
    loop.observe_bundle(1, pre_drift_champion)
    loop.observe_bundle(2, pre_drift_champion)
    feed(loop, 0, 30)
    loop.observe_alert(drift())
    due = loop.due(T0)
    assert due is not None
    loop.finished(due, T0, published=2, reason="published")
    loop.observe_deployment(deployment(1, canary=2, fraction=0.3, at=T0))
    assert loop.release_change(T0 + timedelta(minutes=9)) is None
    change = loop.release_change(T0 + timedelta(minutes=10))
    assert change is not None and change.decision.action == "expire"
    assert change.alert.severity == "warning" and change.alert.kind == "trial-expired"
    assert change.decision.reason.startswith("trial expired: 0 labels of 200")
    assert change.deployment.canary is None
    loop.observe_deployment(change.deployment)
    feed(loop, 30, 10)
    again = loop.due(T0 + timedelta(minutes=10))
    assert again is not None and again.number == 2


def test_a_releasing_deployment_read_before_the_round_reports_does_not_block() -> None:
    loop = make_loop()
    feed(loop, 0, 30)
    loop.observe_alert(drift())
    due = loop.due(T0)
    assert due is not None
    loop.observe_deployment(deployment(1, canary=2, fraction=0.3))
    loop.observe_deployment(deployment(1))
    loop.finished(due, T0, published=2, reason="published")
    feed(loop, 30, 10)
    assert loop.due(T0) is not None


def promote_episode_version(loop: RetrainLoop, *, used: int) -> None:
    """A round on ``used`` post-change labels publishes v2; its canary is promoted, and the
    monitor resolves the alert about v1 (which it stops watching) before the deployment."""
    loop.observe_alert(drift(at=ChangePoint(at=T0, source="window")))
    feed(loop, 0, used)
    due = loop.due(T0)
    assert due is not None and due.post_change_labels == used
    loop.finished(due, T0, published=2, reason="published")
    loop.observe_deployment(deployment(1, canary=2, fraction=0.5))
    loop.observe_alert(drift(at=ChangePoint(at=T0, source="window"), status="resolved"))
    loop.observe_deployment(deployment(2))


def test_a_champion_the_episode_published_is_refined_once_at_factor_times_its_labels() -> None:
    loop = make_loop(refine_factor=4)
    promote_episode_version(loop, used=50)
    feed(loop, 50, 149)
    assert loop.due(T0) is None and "next at 200 post-change labels" in loop.status
    feed(loop, 199, 1)
    refine = loop.due(T0)
    assert refine is not None and refine.number == 2 and len(refine.snapshot) == 200
    assert refine.alpha == 0.025  # the episode's second look
    loop.finished(refine, T0, published=None, reason="not published: test")
    feed(loop, 200, 1000)
    assert loop.due(T0) is None and loop.status.startswith("idle")


def test_the_refining_round_waits_for_no_more_labels_than_the_window_holds() -> None:
    loop = make_loop(refine_factor=100, window_size=300)
    promote_episode_version(loop, used=50)
    feed(loop, 50, 250)
    refine = loop.due(T0)
    assert refine is not None and len(refine.snapshot) == 300


def test_without_refining_a_promotion_ends_the_episode() -> None:
    loop = make_loop(refine_factor=0)
    promote_episode_version(loop, used=50)
    feed(loop, 50, 1000)
    assert loop.due(T0) is None and loop.status.startswith("idle")


def test_a_drift_alert_about_the_refined_champion_opens_its_own_episode() -> None:
    loop = make_loop(refine_factor=4)
    promote_episode_version(loop, used=50)
    later = T0 + timedelta(seconds=500)
    loop.observe_alert(drift(at=ChangePoint(at=later, source="adwin"), version=2))
    feed(loop, 50, 600)
    due = loop.due(T0)
    assert due is not None and due.number == 1 and due.change is not None
    assert due.change.at == later


@pytest.mark.parametrize("trial_read_first", [False, True])
def test_a_trial_that_ends_without_promotion_lets_the_resolved_alerts_end_the_episode(
        trial_read_first: bool) -> None:
    """The deployment that puts the version on trial may be read before or after the round
    reports; either way, once the trial ends without promotion the episode may end."""
    loop = make_loop(refine_factor=4)
    loop.observe_alert(drift(at=ChangePoint(at=T0, source="window")))
    feed(loop, 0, 50)
    due = loop.due(T0)
    assert due is not None
    if trial_read_first:
        loop.observe_deployment(deployment(1, canary=2, fraction=0.5))
    loop.finished(due, T0, published=2, reason="published")
    if not trial_read_first:
        loop.observe_deployment(deployment(1, canary=2, fraction=0.5))
    loop.observe_deployment(deployment(1))  # rolled back, or expired
    loop.observe_alert(drift(at=ChangePoint(at=T0, source="window"), status="resolved"))
    feed(loop, 50, 1000)
    assert loop.due(T0) is None and loop.status.startswith("idle")


def lasting_drift(since_score: float) -> tuple[RetrainLoop, bool]:
    """A round refused, then 150 labels the champion scored with ``since_score``: is a
    second round due? Before the change it scored 0.5 on alternating labels."""
    change = T0 + timedelta(seconds=200)
    loop = make_loop(min_post_change=100, retry_labels=150)
    for i in range(300):
        loop.observe_labeled(labeled(i, label=i % 2, score=0.5), TOPIC, 0, i)
    loop.observe_alert(drift(at=ChangePoint(at=change, source="window")))
    due = loop.due(T0)
    assert due is not None and due.number == 1
    loop.finished(due, T0, published=None, reason="not published: test")
    for i in range(300, 450):
        score = since_score if i % 2 == 0 else 1 - since_score
        loop.observe_labeled(labeled(i, label=i % 2, score=score), TOPIC, 0, i)
    return loop, loop.due(T0) is not None


def test_a_drift_that_did_not_last_gets_no_further_round() -> None:
    loop, again = lasting_drift(0.45)  # slightly better than before the change
    assert not again
    assert loop.status.startswith("gave up on concept-drift alert") and \
        "the drift did not last" in loop.status
    assert loop.take_notices()[-1].kind == "retrain-gave-up"


def test_a_lasting_drift_gets_its_next_round() -> None:
    _, again = lasting_drift(0.8)  # the champion is now wrong more often than not
    assert again
