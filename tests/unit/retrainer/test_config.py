"""The retrainer's configuration comes from the settings and refuses what cannot work."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contracts.exceptions import SettingsError
from contracts.settings import Settings
from retrainer.config import RetrainerConfig
from scorer.threshold import ThresholdRule


def test_settings_map_onto_the_policies() -> None:
    settings = Settings.from_mapping({
        "STREAMML_RETRAIN_STRATEGY": "online", "STREAMML_RETRAIN_ESTIMATOR": "hgb",
        "STREAMML_RETRAIN_WINDOW_SIZE": "3000", "STREAMML_RETRAIN_WINDOW_AGE_S": "3600",
        "STREAMML_RETRAIN_EVERY_LABELS": "0", "STREAMML_RETRAIN_SCHEDULE_S": "600",
        "STREAMML_RETRAIN_ALERT_KINDS": "none", "STREAMML_RETRAIN_METRIC": "roc_auc",
        "STREAMML_RETRAIN_MARGIN": "0.02", "STREAMML_RETRAIN_FLOOR": "0.6",
        "STREAMML_RELEASE_MODE": "shadow", "STREAMML_RELEASE_MIN_LABELS": "50",
        "STREAMML_RELEASE_MARGIN": "0.03", "STREAMML_MODEL_NAME": "churn",
    })
    config = RetrainerConfig.from_settings(settings)
    assert (config.model, config.strategy, config.training.estimator) == ("churn", "online", "hgb")
    assert (config.window_size, config.window_age) == (3000, timedelta(hours=1))
    assert (config.every_labels, config.schedule, config.alert_kinds) == (
        0, timedelta(minutes=10), ())
    assert (config.challenge.metric, config.challenge.margin, config.challenge.floor) == (
        "roc_auc", 0.02, 0.6)
    assert (config.release_mode, config.release.min_labels, config.release.margin,
            config.release.metric) == ("shadow", 50, 0.03, "roc_auc")


def test_defaults_retrain_on_alerts_and_label_counts_and_release_by_canary() -> None:
    config = RetrainerConfig.from_settings(Settings())
    assert config.strategy == "batch" and config.schedule is None
    assert config.every_labels == 5000 and config.alert_kinds == ("drift", "performance")
    assert (config.release_mode, config.canary_fraction) == ("canary", 0.1)
    assert config.challenge.metric == "log_loss"


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("STREAMML_RETRAIN_STRATEGY", "deep", "expected one of BATCH, ONLINE"),
    ("STREAMML_RETRAIN_HOLDOUT_FRACTION", "0.9", "within [0.05, 0.5]"),
    ("STREAMML_RETRAIN_MARGIN", "lots", "expected a number"),
    ("STREAMML_RELEASE_CANARY_FRACTION", "nan", "finite number"),
])
def test_bad_settings_name_the_variable_and_what_it_accepts(variable: str, value: str,
                                                             message: str) -> None:
    with pytest.raises(SettingsError, match=variable) as error:
        Settings.from_mapping({variable: value})
    assert message in str(error.value)


def test_combinations_that_cannot_work_are_refused() -> None:
    with pytest.raises(ValueError, match="CANARY_FRACTION"):
        RetrainerConfig.from_settings(Settings(release_canary_fraction=0.0))
    with pytest.raises(ValueError, match="MIN_ROWS"):
        RetrainerConfig.from_settings(Settings(retrain_min_rows=500, retrain_window_size=100))


def test_the_decision_threshold_rule_reaches_training() -> None:
    chosen = Settings.from_mapping({"STREAMML_DECISION_THRESHOLD_RULE": "cost:4"})

    assert RetrainerConfig.from_settings(Settings()).training.threshold_rule == ThresholdRule()
    assert RetrainerConfig.from_settings(chosen).training.threshold_rule \
        == ThresholdRule("cost", 4.0)
