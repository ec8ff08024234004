"""The monitor's rules file: window sizes, concept-drift detectors and alert rules (TOML).

The defaults ship in the package (``default_rules.toml``) and work out of the box;
``STREAMML_MONITOR_RULES_FILE`` names a file to use instead. Everything is checked
at start-up and an error names the key and what it accepts.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from importlib.resources import files
from pathlib import Path
from typing import Any

from monitor.concept import DETECTORS, make_detector
from monitor.exceptions import RulesError
from monitor.rules import Rule, parse_rule

DEFAULT_RULES = "default_rules.toml"


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowConfig:
    """How windows are cut and judged.

    Examples
    --------
    >>> WindowConfig.from_mapping({"feature_events": 500}).feature_events
    500
    """

    feature_events: int = 500  # user-events per data-drift window (sliding)
    feature_stride: int = 100  # the data-drift window is judged again after this many more
    prediction_events: int = 1000  # predictions per window, per version and route (sliding)
    prediction_stride: int = 250  # the prediction window is judged again after this many more
    labeled_events: int = 1000  # labeled events per performance window and rolling metrics
    labeled_stride: int = 250  # the performance window is judged again after this many more
    max_seconds: float = 3600.0  # event time one window may span
    min_events: int = 200  # a window with fewer records is shown but not judged
    baseline_events: int = 3000  # a version's first labeled events, its performance baseline
    decision_threshold: float = 0.5  # until a version's own threshold is read
    calibration_tolerance: float = 0.05  # above it, the estimate recalibrates scores
    max_scopes: int = 8  # (version, route) pairs watched at once; the oldest go first
    dedup_capacity: int = 100_000  # record ids remembered per topic
    history: int = 60  # windows kept per figure for the ops page

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> WindowConfig:
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(table) - set(known))
        if unknown:
            raise RulesError(f"[windows]: unknown key(s) {unknown}; allowed: {sorted(known)}")
        values: dict[str, Any] = {}
        for name, value in table.items():
            kind = float if known[name].type == "float" else int
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0 \
                    or (kind is int and not isinstance(value, int)):
                raise RulesError(f"[windows] {name} = {value!r}: expected a positive "
                                 f"{'number' if kind is float else 'whole number'}")
            values[name] = kind(value)
        return cls(**values)


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    """Windows, detector parameters and rules, as read from one rules file."""

    windows: WindowConfig
    detectors: Mapping[str, Mapping[str, Any]]
    rules: tuple[Rule, ...]
    source: str


def parse_config(document: Mapping[str, Any], source: str = "<mapping>") -> MonitorConfig:
    """Check a parsed rules document and build the configuration.

    >>> c = parse_config({"rules": [{"name": "auc", "metric": "roc_auc", "below": 0.6}]})
    >>> c.windows.labeled_events, [r.name for r in c.rules], sorted(c.detectors)
    (1000, ['auc'], ['adwin', 'page_hinkley'])
    """
    unknown = sorted(set(document) - {"windows", "detectors", "rules"})
    if unknown:
        raise RulesError(f"{source}: unknown section(s) {unknown}; "
                         "expected [windows], [detectors.*] and [[rules]]")
    windows = WindowConfig.from_mapping(document.get("windows", {}))
    detectors = document.get("detectors", {"adwin": {}, "page_hinkley": {}})
    for name, params in detectors.items():
        if not isinstance(params, Mapping):
            raise RulesError(f"{source}: [detectors.{name}] must be a table of parameters")
        make_detector(name, params)  # fails early on a bad name or parameter
    rules = tuple(parse_rule(r) for r in document.get("rules", []))
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise RulesError(f"{source}: rule names must be unique, got {names}")
    return MonitorConfig(windows, {k: dict(v) for k, v in detectors.items()}, rules, source)


def load_config(path: str | Path | None = None) -> MonitorConfig:
    """Read the rules file at ``path``, or the defaults shipped with the package."""
    if path is None:
        text = files("monitor").joinpath(DEFAULT_RULES).read_text(encoding="utf-8")
        source = f"monitor/{DEFAULT_RULES} (defaults)"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise RulesError(f"cannot read the rules file {path}: {exc.strerror}") from None
        source = str(path)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{source}: not valid TOML ({exc})") from None
    return parse_config(document, source)





def with_runbook_base(config: MonitorConfig, base_url: str) -> MonitorConfig:
    """Rules whose runbook is a path (``/runbooks#...``) get it under ``base_url``.

    >>> c = parse_config({"rules": [{"name": "a", "metric": "f1", "below": 0.5,
    ...                              "runbook": "/runbooks#a"}]})
    >>> with_runbook_base(c, "http://mon:6068/").rules[0].runbook
    'http://mon:6068/runbooks#a'
    """
    base = base_url.rstrip("/")
    rules = tuple(replace(r, runbook=base + r.runbook) if r.runbook.startswith("/") else r
                  for r in config.rules)
    return replace(config, rules=rules)
__all__ = ["DETECTORS", "MonitorConfig", "WindowConfig", "load_config", "parse_config",
           "with_runbook_base"]
