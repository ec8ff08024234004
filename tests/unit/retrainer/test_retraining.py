"""A whole round on the simulator's concept drift: better windows publish, damaged ones don't.

Fixed seeds: the simulator's (11) and the estimator's (0)."""

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
    result, snapshot = round_on(drift_items[DRIFT_AT:DRIFT_AT + 3000], pre_drift_champion)
    assert result.decision.publish, result.decision.reason
    assert "lower bound" in result.decision.reason
    assert result.champion is not None
    assert result.challenger["log_loss"] < result.champion["log_loss"]
    bundle = result.bundle
    assert bundle is not None and bundle.version == 2
    assert bundle.metrics["champion_log_loss"] == result.champion["log_loss"]
    assert bundle.metrics["window_rows"] == 3000 and bundle.metrics["holdout_rows"] == 600
    assert bundle.params["trigger"] == str(TRIGGER)
    assert bundle.params["evaluations"]["champion_version"] == 1
    gate = bundle.params["gate"]
    assert gate["rows"] == 600 and gate["alpha"] == 0.05 and gate["lower_bound"] > 0
    # Once published, the model is refitted on every row of the window, holdout included.
    assert bundle.params["fitted_rows"] == 3000 and list(bundle.lineage) == snapshot.lineage()
    assert _rows_seen_by_the_scaler(bundle) == 3000


def _rows_seen_by_the_scaler(bundle: ModelBundle) -> int:
    columns = bundle.pipeline.named_steps["columns"]
    numeric = next(t for name, t, _ in columns.transformers_ if hasattr(t, "named_steps")
                   and "scale" in t.named_steps)
    return int(numeric.named_steps["scale"].n_samples_seen_)


def test_the_refit_learns_every_row_with_the_chosen_hyperparameters(
    drift_items: list[SimulatedEvent]
) -> None:
    """The training part holds 240 rows, of which train() fits 192 (it keeps 48 for its
    own test); the refit learns all 300."""
    snapshot = snapshot_of(as_labeled(drift_items[:300]))
    train_part, holdout = snapshot.split(0.2)
    strategy = BatchStrategy()
    bundle, _ = strategy.candidate(train_part, holdout, model="conversion", version=2,
                                   lineage=(), now=T0)
    refit = strategy.refit(bundle, snapshot)
    assert _rows_seen_by_the_scaler(bundle) == 192 and _rows_seen_by_the_scaler(refit) == 300
    assert refit.pipeline.get_params()["model__C"] == bundle.pipeline.get_params()["model__C"]
    assert refit.threshold == bundle.threshold and refit.schema == bundle.schema


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
    assert "not above the minimum effect" in result.decision.reason


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
