"""Trend charts for the review as small hand-written SVG: the value line, the target line, the month
of the review highlighted in its status colour, the months flagged unusual ringed, and with a yearly
target the projection of the months left to December as a dashed continuation over its 80 % band;
and the summary's sparklines (a KPI's last twelve months in a line of text's height).

Why not matplotlib: measured on this machine, its SVG (thousands of paths) tripled WeasyPrint's layout
time; a few `<polyline>`s say the same to a reader. Black-and-white print stays readable: the value
is a solid line with dots, the target a dashed line, the month's point is labelled with its value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from html import escape

from .months import Month

STATUS_COLOURS = {"on": "#2E7D32", "watch": "#B26A00", "off": "#C62828", "no_data": "#9E9E9E",
                  "no_target": "#1F4E78"}
TARGET_COLOUR = "#7F7F7F"
VALUE_COLOUR = "#1F4E78"
BAND_COLOUR = "#9EC3E6"
UNUSUAL_COLOUR = "#6A1B9A"


@dataclass(frozen=True)
class TrendPoint:
    month: Month
    value: float | None
    target: float | None


@dataclass(frozen=True)
class ProjectedPoint:
    """A coming month as projected (projection.MonthForecast's fields): its value and 80 % interval,
    and its target (its share of the year's), which the target line runs on to."""

    month: Month
    value: float
    low: float
    high: float
    target: float | None = None


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
              projected: Sequence[ProjectedPoint] = (), unusual: Collection[Month] = (),
              width: int = 300, height: int = 110) -> str:
    """An SVG of the last months; the last of `points` is the month of the review, labelled with
    `value_label`; the vertical axis uses `axis_label(value, step between ticks)`. `projected`: the
    months after it, drawn dashed from the review's month over their 80 % band; `unusual`: months
    whose point is ringed."""
    left, right, top, bottom = 46, 10, 14, 16
    known = [v for p in points for v in (p.value, p.target) if v is not None]
    if not known:
        return ""
    if points[-1].value is None:  # a continuation needs a point to start from
        projected = ()
    projected = [p for p in projected if math.isfinite(p.value) and math.isfinite(p.low) and math.isfinite(p.high)]
    known += [v for p in projected for v in (p.low, p.high, p.value, p.target) if v is not None]
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
    step = plot_w / max(len(points) + len(projected) - 1, 1)
    xs = [left + i * step for i in range(len(points))]
    future_xs = [left + (len(points) + i) * step for i in range(len(projected))]

    def y_of(value: float) -> float:
        return top + plot_h * (1 - (value - low) / (high - low))

    def month_tick(x: float, month: Month) -> str:  # a month's name under the axis, every third month
        return (f'<text x="{x:.1f}" y="{height - 3}" text-anchor="middle" fill="#616161">'
                f"{escape(month_label(month))}</text>")

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
            parts.append(month_tick(xs[index], point.month))
    if projected:
        # the band from the review's month (its own value: no spread) to December, then the dashed line
        start = (xs[-1], points[-1].value)
        upper = [start] + [(x, p.high) for x, p in zip(future_xs, projected, strict=True)]
        lower = [start] + [(x, p.low) for x, p in zip(future_xs, projected, strict=True)]
        outline = " ".join(f"{x:.1f},{y_of(v):.1f}" for x, v in [*upper, *reversed(lower)])  # type: ignore[arg-type]
        parts.append(f'<polygon class="band" points="{outline}" fill="{BAND_COLOUR}" fill-opacity="0.45"/>')
        line = " ".join(f"{x:.1f},{y_of(v):.1f}" for x, v in  # type: ignore[arg-type]
                        [start, *((x, p.value) for x, p in zip(future_xs, projected, strict=True))])
        parts.append(f'<polyline class="projection" points="{line}" fill="none" stroke="{VALUE_COLOUR}" '
                     'stroke-width="1.4" stroke-dasharray="2.5 2"/>')
        for index, (x, point) in enumerate(zip(future_xs, projected, strict=True)):
            if (index + 1) % 3 == 0:  # every third month, on from the review's
                parts.append(month_tick(x, point.month))
    for run in _segments(xs + future_xs, [p.target for p in [*points, *projected]]):
        coords = " ".join(f"{x:.1f},{y_of(v):.1f}" for x, v in run)
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{TARGET_COLOUR}" stroke-width="1.2" '
                     'stroke-dasharray="4 3"/>')
    for run in _segments(xs, [p.value for p in points]):
        coords = " ".join(f"{x:.1f},{y_of(v):.1f}" for x, v in run)
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{VALUE_COLOUR}" stroke-width="1.6"/>')
        parts.extend(f'<circle cx="{x:.1f}" cy="{y_of(v):.1f}" r="1.6" fill="{VALUE_COLOUR}"/>' for x, v in run)
    for x, point in zip(xs, points, strict=True):
        if point.month in unusual and point.value is not None:
            parts.append(f'<circle class="unusual" cx="{x:.1f}" cy="{y_of(point.value):.1f}" r="4.2" fill="none" '
                         f'stroke="{UNUSUAL_COLOUR}" stroke-width="1.3"/>')
    last = points[-1]
    if last.value is not None:
        x, y = xs[-1], y_of(last.value)
        colour = STATUS_COLOURS.get(status, VALUE_COLOUR)
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


def sparkline_svg(values: Sequence[float | None], *, status: str, width: int = 60, height: int = 16) -> str:
    """A KPI's last months as a line of a text's height, without axes: its shape, the last month's
    point in its status colour (and drawn larger, so that it reads in black and white); empty when
    fewer than two months have a value."""
    known = [v for v in values if v is not None]
    if len(known) < 2:
        return ""
    low, high = min(known), max(known)
    if high - low < 1e-12 * max(abs(high), 1.0):  # flat: a line across the middle
        low, high = low - 1, high + 1
    pad = 2.5
    step = (width - 2 * pad) / max(len(values) - 1, 1)
    xs = [pad + i * step for i in range(len(values))]

    def y_of(value: float) -> float:
        return pad + (height - 2 * pad) * (1 - (value - low) / (high - low))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="spark" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}">']
    for run in _segments(xs, list(values)):
        coords = " ".join(f"{x:.1f},{y_of(v):.1f}" for x, v in run)
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{VALUE_COLOUR}" stroke-width="1.1" '
                     'stroke-linejoin="round"/>')
    if values[-1] is not None:
        colour = STATUS_COLOURS.get(status, VALUE_COLOUR)
        parts.append(f'<circle cx="{xs[-1]:.1f}" cy="{y_of(values[-1]):.1f}" r="2" fill="{colour}"/>')
    parts.append("</svg>")
    return "".join(parts)
