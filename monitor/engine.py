"""Hysteresis: rule verdicts, window after window, become firing and resolved transitions.

State is kept per (rule, scope). A restart restores the alerts that were firing (read
from the ``alerts`` topic) so it neither fires them again nor forgets to resolve them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from contracts.change_point import ChangePoint
from monitor.report import Scope, WindowReport, kind_of
from monitor.rules import Rule, Verdict, judge_all
from monitor.trail import window_point


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class RuleState:
    """Where one rule stands for one scope."""

    breaches: int = 0
    cleans: int = 0
    clean_since: float | None = None  # event time the current run of clean windows began
    firing: bool = False
    started_at: datetime | None = None
    cause: Verdict | None = None  # the verdict that fired it, kept for the resolved record
    latest: Verdict | None = None
    window: str = ""
    onset: ChangePoint | None = None  # where the current run of breaching windows began
    change_point: ChangePoint | None = None  # where the change began, as the alert names it
    # Restored after a restart and the replay not over: firing again within the replay
    # continues the alert already sent, so it keeps that alert's start and change point.
    restored: bool = False


@dataclass(frozen=True, slots=True)
class Transition:
    """A rule started or stopped firing for a scope, on the window ``report``."""

    status: Literal["firing", "resolved"]
    rule: Rule
    scope: Scope
    verdict: Verdict | None
    cause: Verdict | None
    window: str
    started_at: datetime
    window_end: float | None = None  # event time the deciding window ended
    change_point: ChangePoint | None = None


class RuleEngine:
    """Evaluates every rule on every closed window and says when alerts change.

    Examples
    --------
    >>> from monitor.rules import parse_rule
    >>> rule = parse_rule({"name": "low-auc", "metric": "roc_auc", "below": 0.7,
    ...                    "for_windows": 2, "clear_windows": 1})
    >>> engine = RuleEngine([rule])
    >>> def window(auc): return WindowReport("labels", Scope("m", 1, "champion"), 0, 1, 900,
    ...                                      {"roc_auc": auc})
    >>> [[t.status for t in engine.evaluate(window(a))] for a in (0.6, 0.6, 0.5, 0.8)]
    [[], ['firing'], [], ['resolved']]
    """

    def __init__(self, rules: Sequence[Rule], *, now: Callable[[], datetime] = utc_now,
                 max_states: int = 1000) -> None:
        self.rules = list(rules)
        # A window is judged only by the rules on figures of its kind (about one in three).
        self._by_kind: dict[str | None, list[Rule]] = {}
        for rule in self.rules:
            self._by_kind.setdefault(kind_of(rule.metric), []).append(rule)
        self.now = now
        self.max_states = max_states
        self._states: OrderedDict[tuple[str, Scope], RuleState] = OrderedDict()

    def evaluate(self, report: WindowReport) -> list[Transition]:
        return self.evaluate_all([report])

    def evaluate_all(self, reports: Sequence[WindowReport]) -> list[Transition]:
        """The transitions of windows closed in this order: each rule reads all of them
        at once (:func:`~monitor.rules.judge_all`), and its state steps window by
        window."""
        by_kind: dict[str, list[int]] = {}
        for i, report in enumerate(reports):
            by_kind.setdefault(report.kind, []).append(i)
        verdicts: list[list[Verdict | None]] = [[] for _ in reports]
        for kind, at in by_kind.items():
            judged = [judge_all(rule, [reports[i] for i in at])
                      for rule in self._by_kind.get(kind, ())]
            for j, i in enumerate(at):
                verdicts[i] = [v[j] for v in judged]
        out = []
        for report, found in zip(reports, verdicts, strict=True):
            for rule, verdict in zip(self._by_kind.get(report.kind, ()), found, strict=True):
                if verdict is not None:
                    transition = self._step(rule, report, verdict)
                    if transition is not None:
                        out.append(transition)
        return out

    def _step(self, rule: Rule, report: WindowReport, verdict: Verdict) -> Transition | None:
        state = self._state(rule.name, report.scope)
        state.latest = verdict
        if verdict.breaching:
            state.breaches, state.cleans, state.clean_since = state.breaches + 1, 0, None
            if state.breaches == 1 and not state.firing:
                locate = report.detail.get("located")
                located = locate() if callable(locate) else None
                state.onset = located if isinstance(located, ChangePoint) \
                    else window_point(report.start, ())
            if state.firing or state.breaches < rule.for_windows:
                return None
            started = state.started_at if state.restored else None
            if started is None:
                started = self.now()
                state.change_point = change_point_for(rule, report, state.onset)
            window = report.describe()
            state.firing, state.started_at, state.cause, state.window = \
                True, started, verdict, window
            return Transition("firing", rule, report.scope, verdict, verdict, window,
                              started, report.end, state.change_point)
        state.cleans, state.breaches = state.cleans + 1, 0
        if state.clean_since is None:
            state.clean_since = report.start
        if not state.firing or state.cleans < rule.clear_windows \
                or report.end - state.clean_since < rule.clear_seconds:
            return None
        state.firing = False
        started = state.started_at or self.now()
        return Transition("resolved", rule, report.scope, verdict, state.cause,
                          report.describe(), started, report.end, state.change_point)

    def _state(self, rule: str, scope: Scope) -> RuleState:
        key = (rule, scope)
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = RuleState()
            self._trim()
        else:
            self._states.move_to_end(key)
        return state

    def _trim(self) -> None:
        # Quiet states go first; firing ones are kept so they can still resolve.
        for key in [k for k, s in self._states.items() if not s.firing]:
            if len(self._states) <= self.max_states:
                return
            del self._states[key]

    def restore(self, rule_name: str, scope: Scope, started_at: datetime,
                window: str = "", change_point: ChangePoint | None = None) -> bool:
        """Mark a rule as already firing (after a restart); False for an unknown rule."""
        rule = next((r for r in self.rules if r.name == rule_name), None)
        if rule is None:
            return False
        state = self._state(rule_name, scope)
        state.firing, state.started_at, state.breaches, state.window = \
            True, started_at, rule.for_windows, window
        state.change_point, state.restored = change_point, True
        return True

    def end_replay(self) -> None:
        """The replay after a restart is over: a rule firing from now on starts a new alert."""
        for state in self._states.values():
            state.restored = False

    def retire(self, scope: Scope) -> list[Transition]:
        """Forget a scope no longer watched, resolving what was firing for it."""
        out = []
        for (name, s), state in list(self._states.items()):
            if s != scope:
                continue
            del self._states[(name, s)]
            rule = next((r for r in self.rules if r.name == name), None)
            if state.firing and rule is not None:
                out.append(Transition("resolved", rule, scope, None, state.cause,
                                      "scope no longer watched", state.started_at or self.now(),
                                      change_point=state.change_point))
        return out

    def states(self) -> list[tuple[Rule, Scope, RuleState]]:
        """Every (rule, scope) state, for the ops page and the metrics."""
        rules = {r.name: r for r in self.rules}
        return [(rules[n], s, st) for (n, s), st in self._states.items() if n in rules]

    def firing(self) -> list[tuple[Rule, Scope, RuleState]]:
        return [(r, s, st) for r, s, st in self.states() if st.firing]


def change_point_for(rule: Rule, report: WindowReport,
                     onset: ChangePoint | None) -> ChangePoint | None:
    """Where the change an alert reports began: a concept-drift rule takes its detector's
    location when there is one, any other rule the rise its first breaching window
    located (labeled windows), or else where that window began."""
    located = report.detail.get("change_point")
    if rule.metric == "concept_drift" and isinstance(located, ChangePoint):
        return located
    return onset


__all__ = ["RuleEngine", "RuleState", "Transition", "change_point_for", "utc_now"]
