"""The demo's HTML report: figures over time as inline SVG, with the drift, the alerts and
the version switches marked. One self-contained file, no external assets."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

WIDTH, HEIGHT, PAD = 720, 200, 36
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[float, float]]


@dataclass(frozen=True)
class Marker:
    at: float
    label: str
    kind: str  # drift, alert or version


@dataclass
class Chart:
    title: str
    unit: str
    series: list[Series] = field(default_factory=list)


def svg_chart(chart: Chart, markers: Sequence[Marker], t_end: float) -> str:
    """One line chart; x is seconds since the start.

    >>> svg = svg_chart(Chart("loss", "", [Series("v1", [(0, 1.0), (10, 2.0)])]),
    ...                 [Marker(5, "drift", "drift")], 10)
    >>> svg.startswith("<svg") and "drift" in svg
    True
    """
    values = [v for s in chart.series for _, v in s.points]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    span = max(t_end, 1e-9)

    def x(t: float) -> float:
        return PAD + (WIDTH - 2 * PAD) * t / span

    def y(v: float) -> float:
        return HEIGHT - PAD + (2 * PAD - HEIGHT) * (v - low) / (high - low)

    parts = [f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="{html.escape(chart.title)}">',
             f'<text x="{PAD}" y="16" font-size="13">{html.escape(chart.title)}</text>',
             f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
             'stroke="#999"/>',
             f'<text x="{WIDTH - PAD}" y="{HEIGHT - 4}" font-size="10" text-anchor="end" '
             'fill="#555">seconds since the start</text>']
    for t in ticks(0.0, t_end):
        parts.append(f'<line x1="{x(t):.1f}" y1="{HEIGHT - PAD}" x2="{x(t):.1f}" '
                     f'y2="{HEIGHT - PAD + 4}" stroke="#999"/>'
                     f'<text x="{x(t):.1f}" y="{HEIGHT - PAD + 14}" font-size="10" '
                     f'text-anchor="middle">{t:g}</text>')
    for v in ticks(low, high, most=6):
        parts.append(f'<line x1="{PAD - 4}" y1="{y(v):.1f}" x2="{WIDTH - PAD}" y2="{y(v):.1f}" '
                     f'stroke="#eee"/><text x="{PAD - 6}" y="{y(v) + 3:.1f}" font-size="10" '
                     f'text-anchor="end">{v:g}{html.escape(chart.unit)}</text>')
    for n, marker in enumerate(markers):
        colour = {"drift": "#ff7f0e", "alert": "#d62728"}.get(marker.kind, "#2ca02c")
        parts.append(f'<line x1="{x(marker.at):.1f}" y1="{PAD - 8}" x2="{x(marker.at):.1f}" '
                     f'y2="{HEIGHT - PAD}" stroke="{colour}" stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{x(marker.at) + 3:.1f}" y="{PAD + 2 + 11 * (n % 6)}" '
                     f'font-size="10" fill="{colour}">{html.escape(marker.label)}</text>')
    for n, series in enumerate(chart.series):
        if not series.points:
            continue
        colour = COLOURS[n % len(COLOURS)]
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in series.points)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" '
                     f'points="{path}"/>')
        last_t, last_v = series.points[-1]
        parts.append(f'<text x="{min(x(last_t) + 3, WIDTH - PAD):.1f}" y="{y(last_v):.1f}" '
                     f'font-size="10" fill="{colour}">{html.escape(series.name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def ticks(low: float, high: float, *, most: int = 8) -> list[float]:
    """Round values from ``low`` to ``high``, at most ``most`` of them, 1, 2 or 5 times a
    power of ten apart.

    >>> ticks(0, 130), ticks(0.21, 0.74, most=6)
    ([0.0, 20.0, 40.0, 60.0, 80.0, 100.0, 120.0], [0.3, 0.4, 0.5, 0.6, 0.7])
    """
    span = high - low
    if not math.isfinite(span) or span <= 0:
        return []
    raw = span / most
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step) * step
    count = int(math.floor((high - first) / step + 1e-9)) + 1
    return [round(first + i * step, 10) for i in range(count)]


def write_report(path: Path, *, title: str, charts: Sequence[Chart], markers: Sequence[Marker],
                 chart_markers: Sequence[Marker], summary: Sequence[tuple[str, str]],
                 t_end: float) -> Path:
    """Write the report; ``chart_markers`` are drawn on the charts, every marker is listed."""
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                   for k, v in summary)
    events = "".join(f"<li>{m.at:.0f} s: {html.escape(m.label)}</li>"
                     for m in sorted(markers, key=lambda m: m.at))
    body = "".join(f"<figure>{svg_chart(c, chart_markers, t_end)}</figure>" for c in charts)
    path.write_text(
        "<!doctype html><html lang=en><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:1rem;max-width:760px}"
        "svg{width:100%;height:auto;border:1px solid #eee}figure{margin:1rem 0}"
        "th{text-align:left;padding-right:1rem}</style>"
        f"<h1>{html.escape(title)}</h1><table>{rows}</table>{body}"
        f"<h2>What happened</h2><ul>{events}</ul></html>"
    )
    return path


__all__ = ["COLOURS", "Chart", "Marker", "Series", "svg_chart", "write_report"]
