"""A whole round on the simulator's concept drift: better windows publish, damaged ones don't."""

from __future__ import annotations

import numpy as np

from producers.simulator import SimulatedEvent
from retrainer.challenge import ChallengePolicy
from retrainer.retraining import BatchStrategy, run_round
from retrainer.triggers import Trigger
from scorer.bundle import ModelBundle
from tests.unit.retrainer.conftest import DRIFT_AT, T0, as_labeled, snapshot_of

TRIGGER = Trigger("alert", "concept-drift alert fp-1", T0)


def round_on(items: list[SimulatedEvent], champion: ModelBundle | None, **kw: object):
    labels = kw.pop("labels", None)
    snapshot = snapshot_of(as_labeled(items, labels=labels))  # type: ignore[arg-type]
    return run_round(snapshot, BatchStrategy(), champion, policy=ChallengePolicy(),
                     holdout_fraction=0.2, model="conversion", version=2, trigger=TRIGGER,
                     now=T0), snapshot


def test_after_the_drift_the_challenger_beats_the_old_champion_and_is_published(
    drift_items: list[SimulatedEvent], pre_drift_champion: ModelBundle
) -> None:
    result, snapshot = round_on(drift_items[DRIFT_AT:DRIFT_AT + 2000], pre_drift_champion)
    assert result.decision.publish, result.decision.reason
    assert result.champion is not None
    assert result.challenger["log_loss"] < result.champion["log_loss"]
    bundle = result.bundle
    assert bundle is not None and bundle.version == 2
    assert bundle.metrics["champion_log_loss"] == result.champion["log_loss"]
    assert bundle.metrics["window_rows"] == 2000 and bundle.metrics["holdout_rows"] == 400
    assert bundle.params["trigger"] == str(TRIGGER)
    assert bundle.params["evaluations"]["champion_version"] == 1
    # Batch models name the offsets they trained on: the window without its holdout.
    train_part, _ = snapshot.split(0.2)
    assert list(bundle.lineage) == train_part.lineage() != snapshot.lineage()


def test_a_window_with_shuffled_labels_is_not_published_and_says_why(
    drift_items: list[SimulatedEvent], pre_drift_champion: ModelBundle
) -> None:
    items = drift_items[DRIFT_AT:DRIFT_AT + 2000]
    labels = np.random.default_rng(3).permutation([i.label for i in items]).tolist()
    result, _ = round_on(items, pre_drift_champion, labels=labels)
    assert not result.decision.publish and result.bundle is None
    assert "no skill over the base rate" in result.decision.reason


def test_before_the_drift_a_new_model_is_no_better_than_the_champion(
    drift_items: list[SimulatedEvent], pre_drift_champion: ModelBundle
) -> None:
    result, _ = round_on(drift_items[1000:DRIFT_AT], pre_drift_champion)
    assert not result.decision.publish
    assert "< margin" in result.decision.reason


def test_a_window_of_one_class_cannot_train_and_the_reason_is_kept(
    drift_items: list[SimulatedEvent]
) -> None:
    items = drift_items[:300]
    result, _ = round_on(items, None, labels=[0] * len(items))
    assert not result.decision.publish
    assert result.decision.reason.startswith("not published: cannot train on the window")


def test_without_a_champion_a_skilled_challenger_is_published(
    drift_items: list[SimulatedEvent]
) -> None:
    result, _ = round_on(drift_items[:1500], None)
    assert result.decision.publish and result.champion is None
