"""Small inline SVG charts for the ops page: no scripts, no external assets."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape


def sparkline(values: Sequence[float], *, width: int = 120, height: int = 28,
              threshold: float | None = None, times: Sequence[float] | None = None) -> str:
    """A line of the values (gaps where NaN), with an optional dashed threshold.

    With ``times`` (each value's window end, epoch seconds) points stand where their
    time puts them, and the first and last times (UTC) are written under the line.

    >>> svg = sparkline([0.1, 0.3, float("nan"), 0.2], threshold=0.25)
    >>> svg.count("<polyline"), svg.count("<circle"), "stroke-dasharray" in svg
    (1, 1, True)
    >>> svg = sparkline([0.1, 0.2, 0.4], times=[0.0, 30.0, 120.0])
    >>> "0.0,26.0 30.0,18.0 120.0,2.0" in svg, "00:00:00" in svg and "00:02:00" in svg
    (True, True)
    >>> narrow = sparkline([0.1, 0.2, 0.4], times=[0.0, 30.0, 120.0], width=60)
    >>> ">00:00</text>" in narrow and ">00:02</text>" in narrow
    True
    """
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return f'<svg width="{width}" height="{height}" role="img" aria-label="no data"></svg>'
    bounds = finite + ([threshold] if threshold is not None else [])
    low, high = min(bounds), max(bounds)
    span = high - low or 1.0
    if times is not None and len(times) == len(values) and times[-1] > times[0]:
        first, duration = times[0], times[-1] - times[0]
        xs = [round((t - first) / duration * width, 1) for t in times]
    else:
        times = None
        step = width / max(len(values) - 1, 1)
        xs = [round(i * step, 1) for i in range(len(values))]

    def y(v: float) -> float:
        return round(height - 2 - (v - low) / span * (height - 4), 1)

    lines, current = [], []
    for x, v in zip(xs, values, strict=True):
        if math.isfinite(v):
            current.append(f"{x},{y(v)}")
        elif current:
            lines.append(current)
            current = []
    if current:
        lines.append(current)
    full = height + (AXIS_HEIGHT if times is not None else 0)
    described = (f"from {_clock(times[0])} to {_clock(times[-1])} UTC" if times is not None
                 else f"last {len(values)} windows")
    parts = [f'<svg width="{width}" height="{full}" viewBox="0 0 {width} {full}" '
             f'role="img" aria-label="{described}">']
    if times is not None:
        # Two times to the second fill about 80 px; a narrower chart shows them to the minute.
        seconds = width >= 100
        parts.append(f'<text x="0" y="{full - 1}" font-size="8" fill="#888">'
                     f'{_clock(times[0], seconds)}</text><text x="{width}" y="{full - 1}" '
                     f'font-size="8" fill="#888" text-anchor="end">'
                     f'{_clock(times[-1], seconds)}</text>')
    if threshold is not None:
        parts.append(f'<line x1="0" x2="{width}" y1="{y(threshold)}" y2="{y(threshold)}" '
                     'stroke="#c33" stroke-width="1" stroke-dasharray="3,2"/>')
    for points in lines:
        if len(points) == 1:
            cx, cy = points[0].split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="1.5" fill="#36c"/>')
        else:
            parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="#36c" '
                         'stroke-width="1.5"/>')
    parts.append("</svg>")
    return "".join(parts)


AXIS_HEIGHT = 9  # the line of times under a timed sparkline


def _clock(epoch: float, seconds: bool = True) -> str:
    """The UTC time of day of an epoch time, to the second or to the minute."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S" if seconds else "%H:%M")


def distribution(labels: Sequence[str], reference: Sequence[float], current: Sequence[float],
                 *, height: int = 36) -> str:
    """Bars of two distributions over the same bins: the reference's in grey, the
    window's in blue beside it; each bin's title gives both shares.

    >>> svg = distribution(["<1", "1-2"], [0.5, 0.5], [0.2, 0.8])
    >>> svg.count("<rect"), "1-2: reference 50.0%, now 80.0%" in svg
    (4, True)
    """
    top = max([*reference, *current, 1e-9])
    bar, gap = 5, 3
    width = len(labels) * (2 * bar + gap)
    parts = [f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             f'role="img" aria-label="reference and current distribution">']
    for i, (label, ref, now) in enumerate(zip(labels, reference, current, strict=True)):
        x = i * (2 * bar + gap)
        parts.append(f"<g><title>{escape(label)}: reference {ref:.1%}, now {now:.1%}</title>")
        for dx, share, colour in ((0, ref, "#aaa"), (bar, now, "#36c")):
            h = round(max(share / top * (height - 2), 0.5 if share > 0 else 0), 1)
            parts.append(f'<rect x="{x + dx}" y="{height - h}" width="{bar}" height="{h}" '
                         f'fill="{colour}"/>')
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def bin_labels(edges: Sequence[float]) -> list[str]:
    """Names of the bins split at ``edges``.

    >>> bin_labels([5.0, 19.93])
    ['≤ 5', '5 to 19.9', '> 19.9']
    """
    if not edges:
        return ["all"]
    shown = [f"{e:.3g}" for e in edges]
    return ([f"≤ {shown[0]}"] + [f"{a} to {b}" for a, b in zip(shown, shown[1:], strict=False)]
            + [f"> {shown[-1]}"])


__all__ = ["bin_labels", "distribution", "sparkline"]
