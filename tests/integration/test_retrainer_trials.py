"""A canary nobody is routed to expires at its deadline, and the next drift is retrained."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from contracts.records import Deployment
from contracts.settings import Settings
from contracts.topics import Topics
from producers.simulator import SimulatedEvent
from scorer.bundle import ModelBundle
from tests.integration.processes import streamml_child
from tests.integration.scoring_fixtures import publish_champion, signed
from tests.integration.test_retrainer_support import (
    DRIFT_AT,
    decision_alerts,
    drift_alert,
    drifting_history,
    labeled_events,
    produce,
    reason_of,
    registry,
    retrain_env,
    signed_settings,
    trained_before_drift,
    wait_for,
    wait_for_log,
)


@pytest.fixture
def settings(kafka_settings: Settings) -> Settings:
    return signed_settings(kafka_settings)


@pytest.fixture(scope="module")
def history() -> list[SimulatedEvent]:
    return drifting_history(5000)


@pytest.fixture(scope="module")
def champion_v1(history: list[SimulatedEvent]) -> ModelBundle:
    return trained_before_drift(history)


def _deployment(settings: Settings) -> Deployment | None:
    return registry(settings).state.deployment


def test_a_canary_without_traffic_expires_at_its_deadline_and_the_next_drift_is_retrained(
    settings: Settings, champion_v1: ModelBundle, history: list[SimulatedEvent], tmp_path: Path
) -> None:
    publish_champion(settings, signed(champion_v1))
    topics = Topics(settings.topic_prefix)
    env = retrain_env(settings, STREAMML_RELEASE_DEADLINE_S="6")
    with streamml_child(["retrain"], env, tmp_path / "retrain.log") as retrainer:
        wait_for_log(retrainer, "retrainer ready")
        produce(settings, topics.labeled_events,
                labeled_events(history[DRIFT_AT:DRIFT_AT + 1500], champion_v1, version=1))
        first = drift_alert()
        produce(settings, topics.alerts, [first])
        # No processor runs: the canary's route gets no traffic and its arm no labels.
        (expired,) = decision_alerts(settings, "trial-expired", timeout=90)
        assert expired.severity == "warning" and expired.version == 2
        assert reason_of(expired).startswith("trial expired: 0 labels of 100")
        after = wait_for(lambda: (d := _deployment(settings)) is not None and d.canary is None
                         and d, timeout=30, what="the canary withdrawn", child=retrainer)
        assert after.champion == 1 and "trial expired" in after.reason

        # The first alert resolves; the next drift, on newer labels, is retrained.
        produce(settings, topics.alerts, [msgspec.structs.replace(first, status="resolved")])
        wait_for_log(retrainer, "ended: resolved after 1 rounds")
        produce(settings, topics.labeled_events,
                labeled_events(history[DRIFT_AT + 1500:DRIFT_AT + 3000], champion_v1,
                               version=1))
        produce(settings, topics.alerts, [drift_alert(kind="performance")])
        wait_for(lambda: (d := _deployment(settings)) is not None and d.canary == 3,
                 timeout=60, what="version 3 as canary", child=retrainer)
    view = registry(settings)
    assert set(view.state.versions) == {1, 2, 3}
    assert view.state.versions[3].trigger.startswith("alert: performance alert")
    assert [(d.champion, d.canary) for d in view.history] == [(1, None), (1, 2), (1, None),
                                                               (1, 3)]
