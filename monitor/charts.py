"""Small inline SVG charts for the ops page: no scripts, no external assets."""

from __future__ import annotations

import math
from collections.abc import Sequence


def sparkline(values: Sequence[float], *, width: int = 120, height: int = 28,
              threshold: float | None = None) -> str:
    """A line of the values (gaps where NaN), with an optional dashed threshold.

    >>> svg = sparkline([0.1, 0.3, float("nan"), 0.2], threshold=0.25)
    >>> svg.count("<polyline"), svg.count("<circle"), "stroke-dasharray" in svg
    (1, 1, True)
    """
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return f'<svg width="{width}" height="{height}" role="img" aria-label="no data"></svg>'
    bounds = finite + ([threshold] if threshold is not None else [])
    low, high = min(bounds), max(bounds)
    span = high - low or 1.0
    step = width / max(len(values) - 1, 1)

    def y(v: float) -> float:
        return round(height - 2 - (v - low) / span * (height - 4), 1)

    lines, current = [], []
    for i, v in enumerate(values):
        if math.isfinite(v):
            current.append(f"{round(i * step, 1)},{y(v)}")
        elif current:
            lines.append(current)
            current = []
    if current:
        lines.append(current)
    parts = [f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             f'role="img" aria-label="last {len(values)} windows">']
    if threshold is not None:
        parts.append(f'<line x1="0" x2="{width}" y1="{y(threshold)}" y2="{y(threshold)}" '
                     'stroke="#c33" stroke-width="1" stroke-dasharray="3,2"/>')
    for points in lines:
        if len(points) == 1:
            x, yy = points[0].split(",")
            parts.append(f'<circle cx="{x}" cy="{yy}" r="1.5" fill="#36c"/>')
        else:
            parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="#36c" '
                         'stroke-width="1.5"/>')
    parts.append("</svg>")
    return "".join(parts)


__all__ = ["sparkline"]
