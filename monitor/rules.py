"""Alert rules: what to watch, when to fire, when to resolve (hysteresis), and how loud.

A rule names one figure (see :mod:`monitor.report`) and a threshold it must stay
``above`` or ``below``. It fires after ``for_windows`` consecutive breaching windows
of a scope and resolves after ``clear_windows`` consecutive clean ones, so one noisy
window neither pages nor ends a page. On a fast stream a few windows pass in a second,
so ``clear_seconds`` also asks the clean run to span that much event time: a figure
hovering at its threshold pages once, not every second. Feature rules judge every feature, with
per-feature thresholds, and name the breaching features as the cause.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from monitor.exceptions import RulesError
from monitor.report import FEATURE_METRICS, FeatureFigures, WindowReport, feature_values, kind_of

SEVERITIES: Final = ("info", "warning", "critical")
RULE_KEYS: Final = frozenset({
    "name", "kind", "metric", "above", "below", "for_windows", "clear_windows",
    "clear_seconds", "severity", "runbook", "summary", "features", "ignore_features",
})
MAX_CAUSES: Final = 20  # features named in one alert


@dataclass(frozen=True, slots=True)
class Rule:
    """One alert rule; build with :func:`parse_rule` from a mapping (a TOML table).

    Examples
    --------
    >>> r = parse_rule({"name": "drift", "metric": "feature_psi", "above": 0.2,
    ...                 "features": {"country": 0.3}})
    >>> r.threshold_for("country"), r.threshold_for("device"), r.breaches(0.25, 0.2)
    (0.3, 0.2, True)
    """

    name: str
    metric: str
    threshold: float
    direction: str  # "above" or "below"
    kind: str = "monitor"
    for_windows: int = 2
    clear_windows: int = 3
    clear_seconds: float = 0.0
    severity: str = "warning"
    runbook: str = ""
    summary: str = ""
    features: Mapping[str, float] = field(default_factory=dict)
    ignore_features: frozenset[str] = frozenset()

    @property
    def per_feature(self) -> bool:
        return self.metric in FEATURE_METRICS

    def threshold_for(self, feature: str) -> float:
        return self.features.get(feature, self.threshold)

    def breaches(self, value: float, threshold: float) -> bool:
        return value > threshold if self.direction == "above" else value < threshold


def parse_rule(table: Mapping[str, Any]) -> Rule:
    """Check one rule table and build the rule; errors name the rule and what is allowed."""
    name = str(table.get("name") or "")
    where = f"rule {name!r}" if name else "a rule without a name"
    unknown = sorted(set(table) - RULE_KEYS)
    if not name or unknown:
        raise RulesError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(RULE_KEYS)}"
                         if unknown else "every rule needs a `name`")
    metric = str(table.get("metric", ""))
    if kind_of(metric) is None:
        raise RulesError(f"{where}: unknown metric {metric!r}; see monitor.report for the "
                         "figures (feature_psi, score_psi, roc_auc_drop, concept_drift, ...)")
    if ("above" in table) == ("below" in table):
        raise RulesError(f"{where}: give exactly one of `above` or `below`")
    direction = "above" if "above" in table else "below"
    severity = str(table.get("severity", "warning"))
    if severity not in SEVERITIES:
        raise RulesError(f"{where}: severity {severity!r}; expected one of {SEVERITIES}")
    counts = {k: table.get(k, d) for k, d in (("for_windows", 2), ("clear_windows", 3))}
    if any(not isinstance(v, int) or v < 1 for v in counts.values()):
        raise RulesError(f"{where}: for_windows and clear_windows must be whole numbers >= 1")
    clear_seconds = table.get("clear_seconds", 0.0)
    if isinstance(clear_seconds, bool) or not isinstance(clear_seconds, int | float) \
            or not 0 <= clear_seconds < math.inf:
        raise RulesError(f"{where}: clear_seconds must be a number of seconds >= 0, "
                         f"got {clear_seconds!r}")
    features = table.get("features", {})
    if not isinstance(features, Mapping) or not all(
            isinstance(v, int | float) for v in features.values()):
        raise RulesError(f"{where}: `features` maps feature names to numeric thresholds")
    return Rule(
        name=name, metric=metric, threshold=_number(table[direction], where), direction=direction,
        kind=str(table.get("kind", "monitor")), severity=severity,
        runbook=str(table.get("runbook", "")), summary=str(table.get("summary", "")),
        features={str(k): float(v) for k, v in features.items()},
        ignore_features=frozenset(map(str, table.get("ignore_features", ()))),
        clear_seconds=float(clear_seconds), **counts,
    )


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise RulesError(f"{where}: the threshold must be a number, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A rule's reading of one window: the value, whether it breaches, and why."""

    value: float
    threshold: float
    breaching: bool
    causes: tuple[dict[str, object], ...] = ()


def judge(rule: Rule, report: WindowReport) -> Verdict | None:
    """The rule's verdict on a window of its kind, or None when the window says nothing."""
    if not report.judged or kind_of(rule.metric) != report.kind:
        return None
    if rule.per_feature:
        return _judge_features(rule, report.features)
    value = report.figures.get(rule.metric)
    if value is None or math.isnan(value):
        return None
    return Verdict(value, rule.threshold, rule.breaches(value, rule.threshold))


def judge_all(rule: Rule, reports: Sequence[WindowReport]) -> list[Verdict | None]:
    """:func:`judge` of each report. A feature rule reads a figure of every feature of
    every window as one array (a batch closes dozens of windows, and several rules judge
    each): a window where no feature breaches gets its verdict from it, and only a
    window with a breach, or a figure that is not a finite number, is judged feature by
    feature."""
    if not rule.per_feature:
        return [judge(rule, r) for r in reports]
    out: list[Verdict | None] = [None] * len(reports)
    kind = kind_of(rule.metric)
    groups: dict[tuple[str, ...], list[int]] = {}  # windows by the features they hold
    for i, report in enumerate(reports):
        if report.judged and report.kind == kind:
            groups.setdefault(tuple(report.features), []).append(i)
    attribute, above = FEATURE_METRICS[rule.metric], rule.direction == "above"
    for names, at in groups.items():
        thresholds = [rule.features.get(name, rule.threshold) for name in names]
        values = np.array([feature_values(reports[i].features, attribute) for i in at],
                          dtype=np.float64)  # None (no such figure) becomes NaN
        read = ~np.isnan(values) & np.array([n not in rule.ignore_features for n in names])
        limits = np.array(thresholds, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            plain = read.any(axis=1) & ~(read & ((values > limits) if above
                                                 else (values < limits))).any(axis=1) \
                & np.isfinite(np.where(read, values, 0.0)).all(axis=1)
        worst = (np.where(read, values, -math.inf).argmax(axis=1) if above
                 else np.where(read, values, math.inf).argmin(axis=1)).tolist()
        for row, (i, simple) in enumerate(zip(at, plain.tolist(), strict=True)):
            if simple:
                j = worst[row]
                out[i] = Verdict(float(values[row, j]), thresholds[j], False)
            elif read[row].any():
                out[i] = _judge_features(rule, reports[i].features)
    return out


def _judge_features(rule: Rule, features: Mapping[str, FeatureFigures]) -> Verdict | None:
    above = rule.direction == "above"
    thresholds, default, ignored = rule.features, rule.threshold, rule.ignore_features
    # Judged every hundred events: one pass over the figure rules read, a tuple only for
    # what breaches, and the whole figures only of the features named as causes.
    worst: tuple[float, str, float] | None = None
    bad: list[tuple[float, str, float]] = []
    values = feature_values(features, FEATURE_METRICS[rule.metric])
    for name, value in zip(features, values, strict=True):
        if value is None or value != value or name in ignored:  # NaN says nothing
            continue
        value, threshold = float(value), thresholds.get(name, default)
        if value > threshold if above else value < threshold:
            bad.append((value, name, threshold))
        if worst is None or (value > worst[0] if above else value < worst[0]):
            worst = (value, name, threshold)
    if worst is None:
        return None
    bad.sort(key=lambda r: -r[0] if above else r[0])
    causes = tuple(
        {"feature": name, rule.metric: round(value, 4), "threshold": threshold,
         **features[name].as_dict()}
        for value, name, threshold in bad[:MAX_CAUSES]
    )
    top = bad[0] if bad else worst
    return Verdict(top[0], top[2], bool(bad), causes)


__all__ = ["SEVERITIES", "Rule", "Verdict", "judge", "judge_all", "parse_rule"]
