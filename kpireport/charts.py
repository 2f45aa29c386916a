"""Trend charts for the review as small hand-written SVG: the value line, the target line, the month
of the review highlighted in its status colour.

Why not matplotlib: measured on this machine, its SVG (thousands of paths) tripled WeasyPrint's layout
time; a few `<polyline>`s say the same to a reader. Black-and-white print stays readable: the value
is a solid line with dots, the target a dashed line, the month's point is labelled with its value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from .months import Month

STATUS_COLOURS = {"on": "#2E7D32", "watch": "#B26A00", "off": "#C62828", "no_data": "#9E9E9E",
                  "no_target": "#1F4E78"}
TARGET_COLOUR = "#7F7F7F"


@dataclass(frozen=True)
class TrendPoint:
    month: Month
    value: float | None
    target: float | None


def nice_ticks(low: float, high: float, count: int = 3) -> list[float]:
    """About `count` round values covering low..high (1, 2, 2.5 or 5 times a power of ten apart)."""
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks = [start]
    while ticks[-1] < high - 1e-12 * abs(high):
        ticks.append(ticks[-1] + step)
    return ticks


def _segments(xs: list[float], ys: list[float | None]) -> list[list[tuple[float, float]]]:
    """Runs of consecutive points with a value: a missing month breaks the line, never drops to 0."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in zip(xs, ys, strict=True):
        if y is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((x, y))
    return [run for run in runs if run]


def trend_svg(points: Sequence[TrendPoint], *, status: str, value_label: Callable[[float], str],
              month_label: Callable[[Month], str], axis_label: Callable[[float, float], str] | None = None,
              width: int = 300, height: int = 110) -> str:
    """An SVG of the last months; the last point is the month of the review, labelled with
    `value_label`; the vertical axis uses `axis_label(value, step between ticks)`."""
    left, right, top, bottom = 46, 10, 14, 16
    known = [v for p in points for v in (p.value, p.target) if v is not None]
    if not known:
        return ""
    low, high = min(known), max(known)
    if low >= 0 and low < 0.5 * high:
        low = 0.0  # counts and amounts start from zero when that does not flatten them
    least = 0.2 * max(abs(low), abs(high))
    if high - low < least:  # never zoom so far that noise of a few tenths looks like a trend
        middle = (high + low) / 2
        low, high = middle - least / 2, middle + least / 2
        if min(known) >= 0:
            low = max(low, 0.0)
    ticks = nice_ticks(low, high)
    low, high = ticks[0], ticks[-1]
    tick_step = ticks[1] - ticks[0] if len(ticks) > 1 else 0.0
    axis = axis_label or (lambda value, _step: value_label(value))
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(len(points) - 1, 1)
    xs = [left + i * step for i in range(len(points))]

    def y_of(value: float) -> float:
        return top + plot_h * (1 - (value - low) / (high - low))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="trend" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" font-size="8" font-family="Lato, sans-serif">']
    for tick in ticks:
        y = y_of(tick)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#E0E0E0" '
                     'stroke-width="0.6"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 2.5:.1f}" text-anchor="end" fill="#616161">'
                     f"{escape(axis(tick, tick_step))}</text>")
    for index, point in enumerate(points):
        if (len(points) - 1 - index) % 3 == 0:
            parts.append(f'<text x="{xs[index]:.1f}" y="{height - 3}" text-anchor="middle" fill="#616161">'
                         f"{escape(month_label(point.month))}</text>")
    for run in _segments(xs, [p.target for p in points]):
        coords = " ".join(f"{x:.1f},{y_of(v):.1f}" for x, v in run)
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{TARGET_COLOUR}" stroke-width="1.2" '
                     'stroke-dasharray="4 3"/>')
    for run in _segments(xs, [p.value for p in points]):
        coords = " ".join(f"{x:.1f},{y_of(v):.1f}" for x, v in run)
        parts.append(f'<polyline points="{coords}" fill="none" stroke="#1F4E78" stroke-width="1.6"/>')
        parts.extend(f'<circle cx="{x:.1f}" cy="{y_of(v):.1f}" r="1.6" fill="#1F4E78"/>' for x, v in run)
    last = points[-1]
    if last.value is not None:
        x, y = xs[-1], y_of(last.value)
        colour = STATUS_COLOURS.get(status, "#1F4E78")
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}" stroke="white" stroke-width="1"/>')
        text = escape(value_label(last.value))
        text_y = max(y - 6, 9)
        # a white box under the value keeps it legible where it crosses the lines (about 4.4 units a glyph)
        box_w = 4.4 * len(text) + 3
        parts.append(f'<rect x="{x - 5 - box_w:.1f}" y="{text_y - 7.5:.1f}" width="{box_w:.1f}" height="9.5" '
                     'fill="white" fill-opacity="0.85"/>')
        parts.append(f'<text x="{x - 6:.1f}" y="{text_y:.1f}" text-anchor="end" font-weight="bold" '
                     f'fill="{colour}">{text}</text>')
    parts.append("</svg>")
    return "".join(parts)
