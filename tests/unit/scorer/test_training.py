from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pytest

from contracts.records import TopicRange
from scorer.bundle import ModelBundle
from scorer.datasets import TrainingRow
from scorer.evaluation import METRICS
from scorer.exceptions import TrainingDataError
from scorer.training import AUTO, PARAM_GRIDS, TrainingConfig, train
from tests.unit.scorer.band_rule import band_rows

RowMaker = Callable[..., list[TrainingRow]]
FAST = TrainingConfig(param_grid={"model__C": [1.0]})


def test_timed_rows_are_split_in_time_and_searched_forward(rows_maker: RowMaker) -> None:
    rows = rows_maker(500)

    _, report = train(rows, model="m", config=FAST)

    assert report.time_ordered and report.folds == "TimeSeriesSplit"
    assert (report.train_rows, report.test_rows) == (400, 100)
    assert report.test_from == sorted(r.ts for r in rows)[400]  # type: ignore[type-var]


def test_the_order_rows_arrive_in_does_not_change_the_model(rows_maker: RowMaker) -> None:
    rows = rows_maker(400)
    shuffled = random.Random(1).sample(rows, len(rows))

    first, _ = train(rows, model="m", config=FAST)
    second, _ = train(shuffled, model="m", config=FAST)

    events = [r.features for r in rows[:50]]
    np.testing.assert_array_equal(first.score_batch(events)[0], second.score_batch(events)[0])


def test_untimed_rows_are_split_at_random_keeping_the_label_balance(rows_maker: RowMaker) -> None:
    rows = rows_maker(500, timed=False)

    bundle, report = train(rows, model="m", config=FAST)

    assert not report.time_ordered and report.folds == "StratifiedKFold"
    assert report.test_from is None
    assert bundle.reference.rows == report.train_rows == 400


def test_the_report_and_bundle_carry_every_held_out_metric(logistic_bundle: ModelBundle) -> None:
    assert set(logistic_bundle.metrics) == set(METRICS)
    assert logistic_bundle.metrics["roc_auc"] > 0.7  # the synthetic rule is learnable
    assert logistic_bundle.params["estimator"] == "logistic"
    assert "C" in logistic_bundle.params


def test_gradient_boosting_trains_too(hgb_bundle: ModelBundle) -> None:
    assert hgb_bundle.params["estimator"] == "hgb"
    assert hgb_bundle.metrics["roc_auc"] > 0.7


def test_the_seeds_multilayer_perceptron_trains_and_keeps_no_optimizer(
        mlp_bundle: ModelBundle) -> None:
    assert mlp_bundle.params["estimator"] == "mlp"
    assert mlp_bundle.metrics["roc_auc"] > 0.7
    network = mlp_bundle.pipeline.named_steps["model"]
    assert network.hidden_layer_sizes == (32, 16) and network.early_stopping
    # Only further training reads the optimizer; an artifact then needs no Adam type.
    assert network._optimizer is None  # noqa: SLF001


def test_the_estimators_offered_everywhere_are_the_same() -> None:
    from contracts.settings import RETRAIN_ESTIMATORS
    from scorer.preprocessing import ESTIMATORS
    from streamml.cli.main import build_parser

    assert tuple(e.upper() for e in ESTIMATORS) == RETRAIN_ESTIMATORS
    train_command = build_parser()._subparsers._group_actions[0].choices["train"]  # noqa: SLF001
    [model] = [a for a in train_command._actions if a.dest == "model"]  # noqa: SLF001
    assert tuple(model.choices) == (AUTO, *ESTIMATORS) and model.default == AUTO
    assert set(PARAM_GRIDS) == set(ESTIMATORS)


def test_lineage_version_and_time_are_recorded(rows_maker: RowMaker) -> None:
    lineage = [TopicRange(topic="labeled-events", partition=0, first=0, last=499)]
    now = datetime(2026, 2, 1, tzinfo=UTC)

    bundle, _ = train(rows_maker(200), model="m", version=4, lineage=lineage, now=now, config=FAST)

    assert (bundle.lineage, bundle.version, bundle.created_at) == (tuple(lineage), 4, now)


def test_dropped_columns_are_not_learned(rows_maker: RowMaker) -> None:
    bundle, report = train(rows_maker(200), model="m",
                           config=TrainingConfig(drop=("country",), param_grid={"model__C": [1.0]}))

    assert "country" not in bundle.schema.names
    assert report.dropped == ("country",)


def test_plain_tuples_are_rows(rows_maker: RowMaker) -> None:
    rows = [tuple(r) for r in rows_maker(100)]

    bundle, _ = train(rows, model="m", config=FAST)

    assert bundle.schema.names == ("cart_value", "country", "device", "pages")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda rows: rows[:10], "10 rows; at least 20"),
        (lambda rows: [r._replace(label=1) for r in rows], "every row has label 1"),
        (lambda rows: [*rows[:5], rows[5]._replace(label=2), *rows[6:]], "row 5: label is 2"),
        (lambda rows: [*rows[:7], rows[7]._replace(ts=None), *rows[8:]], "row 7 has no timestamp"),
    ],
)
def test_unusable_rows_are_refused_with_the_reason(
    rows_maker: RowMaker, mutate: Callable[[list[TrainingRow]], list[TrainingRow]], message: str
) -> None:
    with pytest.raises(TrainingDataError, match=message):
        train(mutate(rows_maker(100)), model="m", config=FAST)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"estimator": "forest"}, "estimator"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"cv_splits": 1}, "cv_splits"),
        ({"estimator": "auto", "param_grid": {"model__C": [1.0]}}, "not to auto"),
    ],
)
def test_a_bad_config_is_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainingConfig(**changes)  # type: ignore[arg-type]


def test_auto_keeps_the_estimator_that_fits_a_band_rule_the_linear_one_cannot() -> None:
    """A label set inside a band of one feature: no straight line separates it. The
    rows come from a fixed seed; the gap (held-out ROC AUC near 0.5 for the linear
    model, near 0.95 for the boosted trees) is far wider than any seed moves it."""
    rows = band_rows(3000, seed=5)

    _, linear = train(rows, model="m", config=TrainingConfig(estimator="logistic"))
    bundle, chosen = train(rows, model="m", config=TrainingConfig(estimator="auto"))

    assert linear.skill <= 0.02 and linear.metrics["roc_auc"] < 0.6
    assert chosen.estimator == bundle.params["estimator"] != "logistic"
    assert set(chosen.comparison) == {"logistic", "hgb", "mlp"}
    scores = {name: score for name, score in chosen.comparison.items() if score is not None}
    assert max(scores, key=lambda name: scores[name]) == chosen.estimator
    assert chosen.skill > 0.3 and chosen.metrics["roc_auc"] > 0.9


def test_one_estimator_reports_no_comparison_and_its_skill(logistic_bundle: ModelBundle,
                                                           rows_maker: RowMaker) -> None:
    _, report = train(rows_maker(500), model="m", config=FAST)

    assert report.comparison == {} and report.estimator == "logistic"
    assert report.skill > 0 and report.baseline_log_loss > report.metrics["log_loss"]
