"""The retrainer on a real broker: drift to promotion, damaged windows refused, crash safety.

The promotion test also runs the published round again in-process from the version's
lineage (:mod:`tests.integration.retrainer_parity`): the pure round the adaptation
benchmark plays decides as the service did."""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from contracts.records import LabeledEvent, Prediction
from contracts.settings import Settings
from contracts.topics import Topics
from producers.sdk import EventProducer
from producers.simulator import SimulatedEvent, Simulator
from scorer.artifact import load_version
from scorer.bundle import ModelBundle
from streamml.broker.single_node import free_port
from tests.integration.processes import http_get, settings_env, streamml_child, wait_for_health
from tests.integration.retrainer_parity import differences, replayed_round
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
from tests.integration.topic_reader import read_topic
from tests.signing_keys import KEYS

PREDICTION = msgspec.json.Decoder(Prediction)


@pytest.fixture
def settings(kafka_settings: Settings) -> Settings:
    return signed_settings(kafka_settings)


@pytest.fixture(scope="module")
def history() -> list[SimulatedEvent]:
    return drifting_history(6000)


@pytest.fixture(scope="module")
def champion_v1(history: list[SimulatedEvent]) -> ModelBundle:
    return trained_before_drift(history)


def live_traffic(n: int, *, seed: int) -> list[SimulatedEvent]:
    """Post-drift events happening now (the canary's arms count events from its start on)."""
    return list(Simulator(seed=seed, scenario="concept-drift", drift_at=0, id_prefix=f"live{seed}",
                          start=datetime.now(UTC)).events(n))


def test_after_concept_drift_a_better_version_is_published_canaried_promoted_and_served(
    settings: Settings, champion_v1: ModelBundle, history: list[SimulatedEvent], tmp_path: Path
) -> None:
    publish_champion(settings, signed(champion_v1))
    topics = Topics(settings.topic_prefix)
    port = free_port()
    process_env = settings_env(settings, STREAMML_SCORING_PORT=str(port))
    with streamml_child(["process", "--data-dir", str(tmp_path / "w")], process_env,
                        tmp_path / "process.log") as processor, \
            streamml_child(["retrain"], retrain_env(settings),
                           tmp_path / "retrain.log") as retrainer:
        wait_for_log(retrainer, "retrainer ready")
        post_drift = history[DRIFT_AT:DRIFT_AT + 1500]
        produce(settings, topics.labeled_events, labeled_events(post_drift, champion_v1,
                                                                version=1))
        produce(settings, topics.alerts, [drift_alert()])
        began = time.monotonic()
        canary = wait_for(lambda: _deployment_if(settings, lambda d: d.canary == 2),
                          timeout=60, what="version 2 as canary", child=retrainer)
        retrain_seconds = time.monotonic() - began
        assert canary.canary_fraction == 0.5 and canary.champion == 1
        wait_for_health(processor, port)

        # Live traffic through the processor; its predictions, joined with the labels,
        # come back as labeled events for the release controller.
        live = live_traffic(800, seed=41)
        with EventProducer(settings) as producer:
            for item in live:
                producer.send_record(item.event)
        records = read_topic(settings, topics.predictions, until=lambda r: len(r) >= len(live),
                             timeout=60)
        predictions = {p.event_id: p for p in (PREDICTION.decode(r.value) for r in records)}
        routes = {(p.route, p.version) for p in predictions.values()}
        assert routes == {("champion", 1), ("canary", 2)}, routes
        produce(settings, topics.labeled_events, [
            LabeledEvent(event_id=i.event.event_id, user_id=i.event.user_id,
                         features=i.event.features, label=i.label,
                         score=predictions[i.event.event_id].score,
                         version=predictions[i.event.event_id].version, ts=i.event.ts)
            for i in live])
        promoted = wait_for(lambda: _deployment_if(settings, lambda d: d.champion == 2),
                            timeout=60, what="version 2 promoted", child=retrainer)
        assert promoted.canary is None and "release controller" in promoted.decided_by
        wait_for(lambda: json.loads(http_get(f"http://127.0.0.1:{port}/health")[1])
                 .get("champion") == 2, timeout=5, what="the processor serving v2")

    view = registry(settings)
    v2 = view.state.versions[2]
    # Lineage: the whole window (the published model is refitted on it), partition by partition.
    assert {r.topic for r in v2.lineage} == {topics.labeled_events}
    assert all(r.first == 0 for r in v2.lineage)
    assert sum(r.last + 1 for r in v2.lineage) == 1500, v2.lineage
    assert v2.trigger.startswith("alert: concept-drift alert")
    assert v2.metrics["champion_version"] == 1 and v2.metrics["holdout_rows"] == 600

    # Better after the drift: both versions on fresh post-drift events neither has seen.
    bundle_v2 = load_version(msgspec.structs.replace(v2, artifact=registry_artifact(settings, 2)),
                             KEYS)
    fresh = live_traffic(4000, seed=43)
    y = np.array([i.label for i in fresh])
    scores = {v: b.score_batch([i.event.features for i in fresh])[0]
              for v, b in ((1, champion_v1), (2, bundle_v2))}
    losses = {v: log_loss(y, s) for v, s in scores.items()}
    aucs = {v: roc_auc_score(y, s) for v, s in scores.items()}
    print(f"\npost-drift log loss v1 {losses[1]:.4f} v2 {losses[2]:.4f}; "
          f"ROC AUC v1 {aucs[1]:.4f} v2 {aucs[2]:.4f}; retrain to canary {retrain_seconds:.1f}s")
    assert losses[2] < losses[1] - 0.01 and aucs[2] > aucs[1]

    changes = [(d.champion, d.canary, d.decided_by) for d in view.history]
    assert changes == [(1, None, "test"), (1, 2, "retrainer"),
                       (2, None, "retrainer (release controller)")]
    assert "beats the champion" in view.history[1].reason
    assert "promoted: canary not worse" in view.history[2].reason
    assert {a.kind for a in decision_alerts(settings, "retrain-published")} == {
        "retrain-published"}
    promote_alert = decision_alerts(settings, "release-promote")[0]
    assert promote_alert.severity == "info" and "promoted" in reason_of(promote_alert)

    # The round again, in-process, from what v2 records: the window its lineage names,
    # the retrainer's settings, the same champion. Training is seeded (random_state 0,
    # time-ordered folds), so the replay decides alike; floats are compared to a relative
    # 1e-9 in case BLAS sums differently between processes.
    champion = load_version(msgspec.structs.replace(view.state.versions[1],
                                                    artifact=registry_artifact(settings, 1)),
                            KEYS)
    replayed = replayed_round(settings, retrain_env(settings), v2, champion)
    assert replayed.bundle is not None
    assert replayed.decision.reason == bundle_v2.params["decision"]
    evaluations = bundle_v2.params["evaluations"]
    assert not differences(bundle_v2.params["gate"], replayed.bundle.params["gate"])
    assert not differences(evaluations["challenger"], replayed.challenger)
    assert not differences(evaluations["champion"], replayed.champion or {})
    assert not differences(bundle_v2.metrics, replayed.bundle.metrics)
    print(f"round replayed from lineage: gain {replayed.bundle.params['gate']}; bit-identical "
          f"figures: {bundle_v2.metrics == replayed.bundle.metrics}")


def test_a_challenger_trained_on_shuffled_labels_is_not_published_and_the_reason_is_recorded(
    settings: Settings, champion_v1: ModelBundle, history: list[SimulatedEvent], tmp_path: Path
) -> None:
    publish_champion(settings, signed(champion_v1))
    topics = Topics(settings.topic_prefix)
    items = history[DRIFT_AT:DRIFT_AT + 1500]
    shuffled = np.random.default_rng(5).permutation([i.label for i in items]).tolist()
    with streamml_child(["retrain"], retrain_env(settings), tmp_path / "retrain.log") as child:
        wait_for_log(child, "retrainer ready")
        produce(settings, topics.labeled_events,
                labeled_events(items, champion_v1, version=1, labels=shuffled))
        produce(settings, topics.alerts, [drift_alert(kind="performance")])
        rejected = decision_alerts(settings, "retrain-rejected", timeout=60)[0]
        wait_for_log(child, "job done published=None")
    reason = reason_of(rejected)
    assert "no skill over the base rate" in reason and "damaged" in reason
    assert rejected.severity == "info" and rejected.version is None
    assert json.loads(bytes(rejected.details["trigger"])).startswith("alert: performance")
    view = registry(settings)
    assert set(view.state.versions) == {1}
    assert view.state.deployment is not None and view.state.deployment.champion == 1
    assert "challenger rejected" in child.output()


def test_killed_mid_training_nothing_is_published_and_a_restart_carries_on_once(
    settings: Settings, champion_v1: ModelBundle, history: list[SimulatedEvent], tmp_path: Path
) -> None:
    publish_champion(settings, signed(champion_v1))
    topics = Topics(settings.topic_prefix)
    # Gradient boosting on one thread takes seconds: long enough to be killed in the middle.
    # This test is about crash safety, so any challenger better than the champion will do.
    env = retrain_env(settings, STREAMML_RETRAIN_ESTIMATOR="HGB", OMP_NUM_THREADS="1",
                      STREAMML_RETRAIN_WINDOW_SIZE="3000", STREAMML_RETRAIN_MIN_ROWS="3000",
                      STREAMML_RETRAIN_EVERY_LABELS="3000", STREAMML_RETRAIN_ALERT_KINDS="none",
                      STREAMML_RETRAIN_MIN_SKILL="0", STREAMML_RETRAIN_HOLDOUT_FRACTION="0.2")
    produce(settings, topics.labeled_events,
            labeled_events(history[DRIFT_AT:DRIFT_AT + 3000], champion_v1, version=1))

    with streamml_child(["retrain"], env, tmp_path / "first.log") as first:
        wait_for_log(first, "training challenger version=2")
        first.stop(signal.SIGKILL)
    assert first.process.returncode == -signal.SIGKILL
    assert "published version" not in first.output()
    assert set(registry(settings).state.versions) == {1}

    with streamml_child(["retrain"], env, tmp_path / "second.log") as second:
        wait_for_log(second, "training challenger version=2")
        wait_for_log(second, "job done", timeout=60)
        assert "published version=2" in second.output(), second.output()[-3000:]
    view = registry(settings)
    assert set(view.state.versions) == {1, 2}
    assert view.state.deployment is not None and view.state.deployment.canary == 2

    # Offsets were committed once the job decided: a third start has nothing to redo.
    with streamml_child(["retrain"], env, tmp_path / "third.log") as third:
        wait_for_log(third, "retrainer ready")
        time.sleep(3)
        assert "new_labels=0" in third.output()
        assert "training challenger" not in third.output()
    assert set(registry(settings).state.versions) == {1, 2}


def _deployment_if(settings: Settings, check):  # type: ignore[no-untyped-def]
    deployment = registry(settings).state.deployment
    return deployment if deployment is not None and check(deployment) else None


def registry_artifact(settings: Settings, version: int) -> bytes:
    from retrainer.registry_io import read_view

    return read_view(settings, keep_artifacts=True).state.versions[version].artifact


def test_the_online_strategy_publishes_its_river_model_on_a_schedule_and_a_processor_loads_it(
    settings: Settings, champion_v1: ModelBundle, history: list[SimulatedEvent], tmp_path: Path
) -> None:
    publish_champion(settings, signed(champion_v1))
    topics = Topics(settings.topic_prefix)
    # This test is about the online path to a processor, not the gate: on 300 holdout
    # rows the river model's gain needs the loosest test the settings allow.
    env = retrain_env(settings, STREAMML_RETRAIN_STRATEGY="ONLINE",
                      STREAMML_RETRAIN_SCHEDULE_S="2", STREAMML_RETRAIN_ALERT_KINDS="none",
                      STREAMML_RETRAIN_ALPHA="0.5")
    port = free_port()
    process_env = settings_env(settings, STREAMML_SCORING_PORT=str(port))
    with streamml_child(["process", "--data-dir", str(tmp_path / "w")], process_env,
                        tmp_path / "process.log") as processor, \
            streamml_child(["retrain"], env, tmp_path / "retrain.log") as retrainer:
        produce(settings, topics.labeled_events,
                labeled_events(history[DRIFT_AT:DRIFT_AT + 1500], champion_v1, version=1))
        wait_for(lambda: _deployment_if(settings, lambda d: d.canary == 2), timeout=60,
                 what="the online version as canary", child=retrainer)
        wait_for_health(processor, port)
        wait_for_log(processor, "model=conversion version=2 loaded", timeout=30)
        assert "refused" not in processor.output()
    v2 = registry(settings).state.versions[2]
    assert v2.trigger.startswith("schedule: every 2s")
    assert sum(r.last + 1 for r in v2.lineage) == 1500, "online models learn the whole window"
    assert "strategy=online" in retrainer.output()
