"""Rules: parsing with helpful errors, per-feature thresholds, hysteresis, restore."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts.sketches import CategoricalFigures
from monitor.config import load_config, parse_config, with_runbook_base
from monitor.engine import RuleEngine
from monitor.exceptions import RulesError
from monitor.features import FeatureWindow
from monitor.report import Scope, WindowReport, kind_of
from monitor.rules import judge, judge_all, parse_rule
from producers.simulator import Simulator
from scorer.bundle import ModelBundle
from tests.unit.monitor.conftest import START
from tests.unit.monitor.test_feature_window import reference_of

SCOPE = Scope("m", 1, "champion")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 1, 2, tzinfo=UTC)


def labels(value: float, *, judged: bool = True) -> WindowReport:
    return WindowReport("labels", SCOPE, 0.0, 60.0, 1000, {"roc_auc_drop": value},
                        judged=judged)


def features(**psis: float) -> WindowReport:
    figures = {name: CategoricalFigures(1000, psi, 0.0, 0.0, 0.0, {}, {})
               for name, psi in psis.items()}
    return WindowReport("features", SCOPE, 0.0, 60.0, 1000, {}, figures)


def engine(**rule: object) -> RuleEngine:
    table: dict[str, object] = {"name": "drop", "metric": "roc_auc_drop", "above": 0.1,
                                "for_windows": 2, "clear_windows": 3}
    table.update(rule)
    return RuleEngine([parse_rule(table)], now=lambda: T0)


def statuses(e: RuleEngine, values: list[float]) -> list[str]:
    return [t.status for v in values for t in e.evaluate(labels(v))]


def test_an_alert_fires_after_its_consecutive_breaching_windows() -> None:
    e = engine()

    assert statuses(e, [0.2]) == []
    assert statuses(e, [0.2]) == ["firing"]
    assert statuses(e, [0.3, 0.4]) == []  # firing already: no repeat


def test_one_clean_window_restarts_the_count() -> None:
    assert statuses(engine(), [0.2, 0.0, 0.2, 0.0, 0.2]) == []


def test_an_alert_resolves_only_after_its_clean_windows() -> None:
    e = engine()
    statuses(e, [0.2, 0.2])

    assert statuses(e, [0.0, 0.0, 0.2, 0.0, 0.0]) == []
    assert statuses(e, [0.0]) == ["resolved"]


def test_a_figure_hovering_at_its_threshold_pages_once_when_clean_windows_must_span_time(
) -> None:
    # Windows of ten seconds each: breach, clean runs of three windows (30 s), breach...
    e = engine(clear_seconds=60)
    flapping = [0.2, 0.2, 0.0, 0.0, 0.0, 0.2, 0.0, 0.0, 0.0, 0.2]
    reports = [WindowReport("labels", SCOPE, 10.0 * i, 10.0 * (i + 1), 1000,
                            {"roc_auc_drop": v}) for i, v in enumerate(flapping)]

    assert [t.status for r in reports for t in e.evaluate(r)] == ["firing"]
    calm = [WindowReport("labels", SCOPE, 10.0 * i, 10.0 * (i + 1), 1000, {"roc_auc_drop": 0.0})
            for i in range(10, 16)]
    when = [(r.end, t.status) for r in calm for t in e.evaluate(r)]
    assert when == [(160.0, "resolved")]  # six clean windows: 100 s to 160 s


def test_without_clear_seconds_the_same_figure_flaps() -> None:
    e = engine()
    flapping = [0.2, 0.2, 0.0, 0.0, 0.0, 0.2, 0.2]

    assert statuses(e, flapping) == ["firing", "resolved", "firing"]


def test_windows_too_small_to_judge_change_nothing() -> None:
    e = engine()

    for _ in range(5):
        assert e.evaluate(labels(0.5, judged=False)) == []


def test_a_restored_alert_is_not_fired_again_but_still_resolves() -> None:
    e = engine()
    assert e.restore("drop", SCOPE, T0)

    assert statuses(e, [0.5, 0.5]) == []
    assert statuses(e, [0.0, 0.0, 0.0]) == ["resolved"]
    assert not e.restore("no-such-rule", SCOPE, T0)


def test_a_restored_alert_firing_again_within_the_replay_keeps_its_start() -> None:
    e = engine()
    e.now = lambda: T1
    e.restore("drop", SCOPE, T0)

    replayed = [t for v in [0.0, 0.0, 0.0, 0.5, 0.5] for t in e.evaluate(labels(v))]
    assert [(t.status, t.started_at) for t in replayed] == [("resolved", T0), ("firing", T0)]
    e.end_replay()
    assert [(t.status, t.started_at) for v in [0.0, 0.0, 0.0]
            for t in e.evaluate(labels(v))] == [("resolved", T0)]
    assert [(t.status, t.started_at) for v in [0.5, 0.5]
            for t in e.evaluate(labels(v))] == [("firing", T1)]  # a new alert


def test_retiring_a_scope_resolves_what_fired_for_it() -> None:
    e = engine()
    statuses(e, [0.2, 0.2])

    [t] = e.retire(SCOPE)

    assert t.status == "resolved" and t.window == "scope no longer watched"
    assert e.firing() == []


def test_feature_rules_name_every_breaching_feature_with_its_own_threshold() -> None:
    rule = parse_rule({"name": "drift", "metric": "feature_psi", "above": 0.2,
                       "features": {"country": 0.5}, "ignore_features": ["noisy"]})

    verdict = judge(rule, features(device=0.3, country=0.4, pages=0.1, noisy=9.0))

    assert verdict is not None and verdict.breaching
    assert [c["feature"] for c in verdict.causes] == ["device"]
    assert verdict.value == 0.3 and verdict.threshold == 0.2


def test_a_rule_judges_only_windows_of_its_kind() -> None:
    rule = parse_rule({"name": "drift", "metric": "feature_psi", "above": 0.2})

    assert judge(rule, labels(0.9)) is None


@pytest.mark.parametrize(("table", "message"), [
    ({"metric": "roc_auc", "below": 0.5}, "needs a `name`"),
    ({"name": "x", "metric": "auc", "below": 0.5}, "unknown metric 'auc'"),
    ({"name": "x", "metric": "roc_auc"}, "exactly one of `above` or `below`"),
    ({"name": "x", "metric": "roc_auc", "below": 0.5, "above": 0.9}, "exactly one"),
    ({"name": "x", "metric": "roc_auc", "below": "low"}, "must be a number"),
    ({"name": "x", "metric": "roc_auc", "below": 0.5, "severity": "page"}, "'critical'"),
    ({"name": "x", "metric": "roc_auc", "below": 0.5, "for_windows": 0}, ">= 1"),
    ({"name": "x", "metric": "roc_auc", "below": 0.5, "colour": "red"}, "unknown key"),
    ({"name": "x", "metric": "roc_auc", "below": 0.5, "clear_seconds": -1}, "seconds >= 0"),
    ({"name": "x", "metric": "roc_auc", "below": 0.5, "clear_seconds": "1m"}, "got '1m'"),
])
def test_bad_rules_are_refused_saying_what_is_allowed(table: dict[str, object],
                                                      message: str) -> None:
    with pytest.raises(RulesError, match=message):
        parse_rule(table)


def test_the_shipped_rules_load_and_name_known_figures() -> None:
    config = load_config()

    assert len(config.rules) >= 8
    assert all(kind_of(r.metric) is not None for r in config.rules)
    assert {r.kind for r in config.rules} >= {"data_drift", "prediction_drift", "performance",
                                              "concept_drift"}
    assert all(r.runbook.startswith("/runbooks#") for r in config.rules)
    assert list(config.detectors) == ["adwin"]


def test_runbook_paths_become_links_to_the_monitor() -> None:
    config = with_runbook_base(load_config(), "http://monitor:6068")

    assert config.rules[0].runbook == "http://monitor:6068/runbooks#feature-drift"


def test_a_rules_file_replaces_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text('[windows]\nfeature_events = 700\n\n[[rules]]\nname = "auc"\n'
                    'metric = "roc_auc"\nbelow = 0.6\n')

    config = load_config(path)

    assert config.windows.feature_events == 700 and [r.name for r in config.rules] == ["auc"]


@pytest.mark.parametrize(("document", "message"), [
    ({"window": {}}, "unknown section"),
    ({"windows": {"feature_events": 0}}, "positive whole number"),
    ({"windows": {"max_seconds": "1h"}}, "positive number"),
    ({"windows": {"size": 5}}, "unknown key"),
    ({"detectors": {"cusum": {}}}, "unknown detector"),
    ({"rules": [{"name": "a", "metric": "f1", "below": 0.1}] * 2}, "unique"),
])
def test_bad_rules_files_are_refused(document: dict[str, object], message: str) -> None:
    with pytest.raises(RulesError, match=message):
        parse_config(document)


def test_unreadable_rules_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("[[rules]\n")
    with pytest.raises(RulesError, match="not valid TOML"):
        load_config(tmp_path / "bad.toml")


@pytest.mark.parametrize("scenario", ["covariate-shift", "new-category", "stable"])
def test_rules_judging_a_batch_of_feature_windows_judge_each_as_alone(
        bundle: ModelBundle, scenario: str) -> None:
    """The array reading of a batch of windows gives every window the verdict it gets
    judged alone: breaching or not, with per-feature thresholds, ignored features,
    either direction, windows not yet full and figures a feature lacks."""
    events = [i.event for i in Simulator(seed=5, scenario=scenario, start=START,
                                         drift_at=1500).events(4000)]
    window = FeatureWindow(SCOPE, reference_of(bundle), max_events=500, stride=100,
                           max_seconds=3600, min_events=400)
    reports = window.add(window.columns(events)) + [labels(0.5)]
    rules = [*load_config().rules, parse_rule(
        {"name": "k", "metric": "feature_ks", "above": 0.05, "features": {"cart_value": 0.5},
         "ignore_features": ["device", "pages_viewed"]}), parse_rule(
        {"name": "w", "metric": "feature_wasserstein", "below": 0.02}), parse_rule(
        {"name": "m", "metric": "feature_missing_delta", "below": 0.0})]
    verdicts = []
    for rule in rules:
        alone = [judge(rule, r) for r in reports]
        assert judge_all(rule, reports) == alone
        verdicts += [v for v in alone if v is not None]
    assert len({v.breaching for v in verdicts}) == 2
    assert sum(not r.judged for r in reports) == 4  # the first windows, not yet full
