"""The ops page at ``/``: served versions, current figures with charts, drift per feature,
firing and recent alerts. Plain HTML and inline SVG, no scripts or external assets,
one column on a phone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from html import escape
from urllib.parse import urlsplit

from contracts.change_point import ChangePoint, change_point_of
from contracts.records import Alert
from contracts.sketches import NumericFigures
from monitor.alerts import detail
from monitor.charts import bin_labels, distribution, sparkline
from monitor.dispatch import Dispatcher
from monitor.drivers import Drivers
from monitor.pipeline import MonitorPipeline
from monitor.report import FEATURE_METRICS, FeatureFigures, Scope, WindowKind, WindowReport
from monitor.rules import Rule
from monitor.time_range import Span

STYLE = """
body{font:15px/1.4 system-ui,sans-serif;margin:0 auto;max-width:60em;padding:.5em;color:#222}
h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.4em;border-bottom:1px solid #ddd}
.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%}
td,th{padding:.25em .4em;border-bottom:1px solid #eee;text-align:left;vertical-align:middle}
.num{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#777}
.critical{background:#fdd}.warning{background:#ffe9c2}.info{background:#e6f0ff}
.bad{color:#b00;font-weight:600}.ok{color:#070}
.card{padding:.4em .6em;margin:.4em 0;border-radius:4px;overflow-wrap:anywhere}
"""
SHOWN: dict[WindowKind, tuple[str, ...]] = {
    "predictions": ("throughput", "latency_p95", "positive_rate", "score_mean", "score_psi",
                    "label_coverage"),
    "labels": ("log_loss", "brier", "calibration_error", "label_delay_p50", "roc_auc_drop",
               "concept_drift"),
}
UNITS = {"throughput": "events/s", "latency_p95": "s", "label_delay_p50": "s"}
# The page reloads itself; a browser cannot send a bearer token, so behind one it is
# reloaded by whatever proxy added the token.
REFRESH_SECONDS = 15
# Estimate (from scores, at once) beside the realised figure (from labels, later).
PAIRS = ("accuracy", "precision", "recall", "f1", "roc_auc")
# From labels only; the first four of PAIRS decide 1 at the version's threshold.
REALISED = ("pr_auc", "decision_threshold")


def render(pipeline: MonitorPipeline, dispatcher: Dispatcher, *, replaying: bool = False,
           export: bool = False, span: Span | None = None) -> str:
    """The whole page as HTML text; ``export``: a file to keep, which does not reload.

    With ``span`` (event time, epoch seconds) the trends, the figures and the alerts are
    those of the windows that ended within it, the per-feature distributions still the
    latest window's.
    """
    registry = pipeline.monitor.registry
    served = registry.served()
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        '<meta name=viewport content="width=device-width,initial-scale=1">',
        "" if export else f"<meta http-equiv=refresh content={REFRESH_SECONDS}>",
        f"<title>streamml monitor: {escape(registry.model)}</title><style>{STYLE}</style>",
        f"</head><body><h1>streamml monitor: {escape(registry.model)}</h1>",
        f'<p class=muted>{datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")}'
        f'{" · rebuilding from the topics&#39; tail" if replaying else ""}'
        + (" · exported" if export else
           f" · refreshes every {REFRESH_SECONDS} s · <a href=report>export</a>") + "</p>",
        "" if span is None else f"<p><b>windows that ended from {_when(span[0])} to "
                                f"{_when(span[1])}</b> (event time)</p>",
        "<h2>Versions and routes</h2><p>",
        ", ".join(f"{escape(route)}: v{v}" for route, v in served.items()) or
        "no version published yet", "</p>",
        _alerts(dispatcher) if span is None else _alerts_within(dispatcher, span),
    ]
    scopes = sorted({scope for scope, _ in pipeline.history.latest})
    for scope in scopes:
        parts.append(_scope(pipeline, scope, span))
    if not scopes:
        parts.append("<p class=muted>no window closed yet</p>")
    parts.append("</body></html>")
    return "".join(parts)


def _alerts(d: Dispatcher) -> str:
    cards = [_card(a) for a in sorted(d.firing.values(), key=lambda a: a.started_at)]
    recent = "".join(
        f"<tr><td>{escape(a.status)}</td><td>{escape(_name(a))} v{a.version}</td>"
        f"<td class=muted>{escape(a.window)}</td></tr>" for a in list(d.recent)[:15])
    return (f"<h2>Firing alerts ({len(cards)})</h2>"
            f"{''.join(cards) or '<p class=ok>none</p>'}"
            "<h2>Recent alert changes</h2><div class=scroll><table>"
            f"{recent or '<tr><td class=muted>none</td></tr>'}</table></div>")


def _alerts_within(d: Dispatcher, span: Span) -> str:
    """The alert changes (as many as the dispatcher remembers) decided by windows that
    ended within ``span``, oldest first."""
    changes = [(_decided_at(a), a) for a in reversed(d.recent)]
    rows = "".join(
        f'<tr class="{a.severity}"><td>{_when(at)}</td><td>{escape(a.status)}</td>'
        f"<td>{escape(_name(a))} v{a.version}</td><td class=muted>{escape(a.window)}</td></tr>"
        for at, a in changes if span[0] <= at <= span[1])
    return ("<h2>Alert changes in this range</h2><div class=scroll><table><tr>"
            "<th>window ended (event time)</th><th>status</th><th>alert</th><th>window</th>"
            f"</tr>{rows or '<tr><td class=muted>none</td></tr>'}</table></div>")


def _decided_at(a: Alert) -> float:
    """The event time the change was decided at: the end of its window where the alert
    names it (the monitor's do), else when the incident began."""
    end = detail(a, "window_end")
    if isinstance(end, int | float) and math.isfinite(end):
        return float(end)
    return a.started_at.timestamp()


def _when(epoch: float) -> str:
    if epoch == -math.inf:
        return "the start"
    try:
        return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    except (OverflowError, ValueError, OSError):  # a time no calendar holds
        return f"{epoch:g}"


def _card(a: Alert) -> str:
    """One firing alert: what, where, since when, and its cause."""
    runbook = _runbook(a.runbook)
    route = escape(str(detail(a, "route") or ""))
    rule = detail(a, "rule")
    bound = next((f"{k} {v}" for k, v in rule.items() if k in ("above", "below")), "") \
        if isinstance(rule, dict) else ""
    causes = detail(a, "features")
    if isinstance(causes, list) and causes:
        named = ", ".join(f"<b>{escape(str(c['feature']))}</b> {_fmt(c.get(a.metric))}"
                          f" <span class=muted>(median {_fmt(c.get('median'))}, "
                          f"was {_fmt(c.get('reference_median'))})</span>"
                          if "median" in c else
                          f"<b>{escape(str(c['feature']))}</b> {_fmt(c.get(a.metric))}"
                          for c in causes)
        cause = f"{escape(a.metric)} {escape(bound)} · drifted: {named}"
    else:
        cause = f"{escape(a.metric)} {_fmt(a.value)} ({escape(bound)})"
    return (f'<div class="card {a.severity}"><b>{a.severity}</b> '
            f"{escape(_name(a))} · v{a.version} {route} · since "
            f"{a.started_at.strftime('%H:%M:%SZ')}{runbook}<br>{cause}"
            f"{_change_began(change_point_of(a))}"
            f"<div class=muted>{escape(a.window)}</div></div>")


def _runbook(url: str | None) -> str:
    """A link only to http(s) or a path on this server: an alert record is anyone's to
    write, and a ``javascript:`` or ``data:`` link would run in the on-call's session."""
    if not url:
        return ""
    # Browsers drop control characters and read a backslash as a slash ("/\\host").
    plain = "\\" in url or any(ord(c) <= 0x20 for c in url)
    local = url.startswith("/") and not url.startswith("//")
    if not plain and (local or urlsplit(url).scheme.lower() in ("http", "https")):
        return f' · <a href="{escape(url)}" rel="noopener noreferrer">runbook</a>'
    return f" · runbook: <code>{escape(url)}</code>"


def _change_began(cp: ChangePoint | None) -> str:
    """Where the change began, as the alert carries it for the retrainer."""
    if cp is None:
        return ""
    offsets = ", ".join(f"{p}:{o}" for _, p, o in cp.offsets)
    return (f"<br>change began at {cp.at.strftime('%Y-%m-%d %H:%M:%SZ')} "
            f"({escape(cp.source)})"
            + (f" <span class=muted>first offsets (partition:offset) {offsets}</span>"
               if offsets else ""))


def _name(a: Alert) -> str:
    rule = detail(a, "rule")
    return str(rule.get("name")) if isinstance(rule, dict) else a.metric


def _scope(pipeline: MonitorPipeline, scope: Scope, span: Span | None) -> str:
    latest = pipeline.history.latest
    parts = [f"<h2>v{scope.version} · {escape(scope.route)}</h2>"]
    rows = []
    for kind, names in SHOWN.items():
        if (scope, kind) in latest:
            rows += [_row(pipeline, scope, kind, n, span) for n in names]
    for name in PAIRS:
        estimate = _value(pipeline, scope, "predictions", f"estimated_{name}", span)
        realised = _value(pipeline, scope, "labels", name, span)
        rows.append(f"<tr><td>{name}</td><td class=num>{_fmt(realised)}"
                    f" <span class=muted>(est. {_fmt(estimate)})</span></td><td>"
                    f"{_timed(pipeline, scope, 'labels', name, span=span)}</td></tr>")
    if (scope, "labels") in latest:
        rows += [_row(pipeline, scope, "labels", name, span) for name in REALISED]
    heads = ("now", "last windows") if span is None else ("at the range's end", "windows")
    parts.append(f"<div class=scroll><table><tr><th>figure</th><th>{heads[0]}</th>"
                 f"<th>{heads[1]} (event time, UTC)</th></tr>{''.join(rows)}</table></div>")
    drivers = pipeline.monitor.drivers.get(scope)
    if drivers is not None:
        parts.append(_drivers(drivers))
    if (scope, "features") in latest:
        parts.append(_features_of(pipeline, scope, span))
    return "".join(parts)


def _features_of(pipeline: MonitorPipeline, scope: Scope, span: Span | None) -> str:
    """The latest feature window, or for a range the last one kept that ended in it."""
    if span is None:
        return _features(pipeline, scope, pipeline.history.latest[(scope, "features")], None)
    kept = pipeline.history.kept_features.get(scope)
    report = pipeline.history.features_within(scope, span)
    every = f"one window in {kept.stride} is kept" if kept is not None else ""
    if report is None:
        return ("<h3>Drift per feature</h3><p class=muted>no feature window that was kept "
                f"ended in this range ({every})</p>")
    return _features(pipeline, scope, report, span,
                     note=f"the window that ended at {_when(report.end)}, the last kept in the "
                          f"range ({every}): ")


def _drivers(drivers: Drivers) -> str:
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td class=num>{_pct(share)}</td>"
        f"<td class=num>{_fmt(size)}</td></tr>" for name, share, size in drivers.top(10))
    return ("<h3>What drives the score</h3><p class=muted>the largest terms of the logit on "
            f"{drivers.explained:,} explained predictions (STREAMML_EXPLAIN_TOP_K)</p>"
            "<div class=scroll><table><tr><th>feature</th><th>among the largest</th>"
            f"<th>mean |term|</th></tr>{rows}</table></div>")


def _row(pipeline: MonitorPipeline, scope: Scope, kind: WindowKind, name: str,
         span: Span | None) -> str:
    threshold = next((r.threshold for r in pipeline.engine.rules if r.metric == name), None)
    line = _timed(pipeline, scope, kind, name, threshold=threshold, span=span)
    unit = f" <span class=muted>({UNITS[name]})</span>" if name in UNITS else ""
    return (f"<tr><td>{name}{unit}</td>"
            f"<td class=num>{_fmt(_value(pipeline, scope, kind, name, span))}</td>"
            f"<td>{line}</td></tr>")


def _value(pipeline: MonitorPipeline, scope: Scope, kind: WindowKind, name: str,
           span: Span | None) -> float | None:
    """The figure of the latest window, or of the last one that ended within ``span``."""
    if span is None:
        report = pipeline.history.latest.get((scope, kind))
        return None if report is None else report.figures.get(name)
    points = pipeline.history.timed(scope, kind, name, span=span)
    return points[-1][1] if points else None


def _timed(pipeline: MonitorPipeline, scope: Scope, kind: str, name: str, *,
           width: int = 120, threshold: float | None = None, span: Span | None = None) -> str:
    """The figure's last windows (or those that ended within ``span``) on a time axis
    (each window's end, in event time)."""
    points = pipeline.history.timed(scope, kind, name, span=span)
    return sparkline([v for _, v in points], times=[t for t, _ in points], width=width,
                     threshold=threshold)


def _features(pipeline: MonitorPipeline, scope: Scope, report: WindowReport,
              span: Span | None, *, note: str = "") -> str:
    rules = [r for r in pipeline.engine.rules if r.per_feature]
    rows = []
    for name, f in sorted(report.features.items(), key=lambda kv: -_num(kv[1].psi)):
        broken = _broken(rules, name, f)
        status = (f'<span class="bad">drifted ({escape(", ".join(broken))})</span>'
                  if broken else '<span class=ok>ok</span>')
        extra = f"missing {_pct(f.missing_rate)}"
        unseen = getattr(f, "unseen_rate", None)
        if unseen is not None:
            extra += f" · unseen {_pct(unseen)}"
        rows.append(
            f"<tr><td>{escape(name)}<br><small class=muted>{extra}</small></td><td>{status}"
            f"</td><td class=num>{_fmt(f.psi)}</td>"
            f"<td class=num>{_fmt(getattr(f, 'ks', None))}</td><td>"
            f"{_timed(pipeline, scope, 'features', 'psi:' + name, width=60, span=span)}"
            f"</td><td>{_distribution(f)}</td></tr>")
    return (f"<h3>Drift per feature</h3><p class=muted>{escape(note)}"
            f"{escape(report.describe())}</p>"
            "<div class=scroll><table><tr><th>feature</th><th>status</th><th>PSI</th>"
            "<th>KS</th><th>PSI trend</th><th>distribution: reference "
            '<span style="color:#aaa">&#9632;</span>, this window '
            '<span style="color:#36c">&#9632;</span></th></tr>'
            f"{''.join(rows)}</table></div>")


def _distribution(f: FeatureFigures) -> str:
    """Reference against this window: over the reference's bins for a number, over the
    categories that moved most for a category."""
    if isinstance(f, NumericFigures):
        if not f.share:
            return "<span class=muted>no value yet</span>"
        return distribution(bin_labels(f.edges), f.reference_share, f.share)
    if not f.shifts:
        return "<span class=muted>no category moved</span>"
    names = sorted(f.shifts)
    return distribution(names, [f.shifts[c][1] for c in names], [f.shifts[c][0] for c in names])


def _pct(value: float) -> str:
    return f"{value:.1%}" if math.isfinite(value) else "–"


def _broken(rules: Iterable[Rule], feature: str, figures: object) -> list[str]:
    out = []
    for rule in rules:
        value = getattr(figures, FEATURE_METRICS[rule.metric], None)
        if feature not in rule.ignore_features and value is not None and math.isfinite(value) \
                and rule.breaches(value, rule.threshold_for(feature)):
            out.append(rule.metric.removeprefix("feature_"))
    return out


def _num(value: float) -> float:
    return value if math.isfinite(value) else -1.0


def _fmt(value: object) -> str:
    if not isinstance(value, int | float) or not math.isfinite(value):
        return "–"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


__all__ = ["render"]
