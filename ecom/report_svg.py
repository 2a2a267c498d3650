"""Inline SVG charts for ``ecom report``: pure functions from plain data to SVG text.

No JavaScript library, no network: each chart is a self-contained ``<svg>`` element
with a ``viewBox`` (it scales with the page). Every drawn data element (a bar, a
line, a point) carries the class ``mark`` and a ``<title>`` (the browser's tooltip),
so a reader - or a test - can count what was drawn. An empty series draws a
"no data" note and no mark.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

WIDTH = 640  # viewBox width of a chart in a half-width figure
WIDE = 1240  # ... and in a full-width one (text keeps its size)
PALETTE = ("#2563eb", "#0891b2", "#7c3aed", "#db2777", "#ea580c", "#16a34a", "#ca8a04")


@dataclass(frozen=True)
class Bar:
    """One bar: ``value`` sets its length (never negative), ``text`` is printed next to
    it, ``tip`` is the tooltip, ``color`` overrides the palette."""

    label: str
    value: float
    text: str
    tip: str = ""
    color: str | None = None


@dataclass(frozen=True)
class Point:
    day: date
    value: float
    tip: str


def _attr(text: str) -> str:
    return escape(text, quote=True)


def _num(x: float) -> str:
    """Compact coordinates: two decimals at most, no trailing zeros."""
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def nice_max(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten that is >= ``value`` (> 0)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value * (1 - 1e-12):
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def ticks(top: float, count: int = 4) -> list[float]:
    """``count + 1`` evenly spaced axis values from 0 to ``top``."""
    return [top * i / count for i in range(count + 1)]


def short_number(x: float) -> str:
    """Axis labels: 1.2k, 3.4M; plain below a thousand."""
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= limit:
            return f"{x / limit:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.2f}"


def _empty(height: int, note: str, width: int = WIDTH) -> str:
    return (
        f'<svg class="chart-svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{_attr(note)}"><text class="empty" x="{width / 2:g}" '
        f'y="{height / 2:g}" text-anchor="middle">{escape(note)}</text></svg>'
    )


def bar_chart(
    bars: Sequence[Bar],
    *,
    label_width: int = 190,
    empty_note: str = "no data",
    width: int = WIDTH,
) -> str:
    """Horizontal bars, one row each, longest scale = the largest value."""
    if not bars:
        return _empty(80, empty_note, width)
    row, top_pad = 26, 8
    height = top_pad * 2 + row * len(bars)
    text_room = 130
    span = width - label_width - text_room
    scale_max = max((b.value for b in bars if b.value > 0), default=1.0)
    parts = [
        f'<svg class="chart-svg bar-chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{len(bars)} bars">'
    ]
    for i, b in enumerate(bars):
        y = top_pad + i * row
        length = max(0.0, b.value) / scale_max * span if scale_max > 0 else 0.0
        color = b.color or PALETTE[i % len(PALETTE)]
        tip = b.tip or f"{b.label}: {b.text}"
        parts.append(
            f'<text class="label" x="{label_width - 8}" y="{_num(y + row / 2 + 4)}" '
            f'text-anchor="end">{escape(_clip(b.label, 28))}<title>{escape(b.label)}</title>'
            "</text>"
        )
        parts.append(
            f'<rect class="mark" x="{label_width}" y="{_num(y + 3)}" '
            f'width="{_num(max(length, 1.0))}" height="{row - 6}" rx="3" fill="{_attr(color)}" '
            f'data-value="{_attr(repr(float(b.value)))}"><title>{escape(tip)}</title></rect>'
        )
        parts.append(
            f'<text class="value" x="{_num(label_width + max(length, 1.0) + 6)}" '
            f'y="{_num(y + row / 2 + 4)}">{escape(b.text)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    points: Sequence[Point],
    *,
    y_label: str = "",
    empty_note: str = "no data",
    height: int = 280,
    width: int = WIDE,
) -> str:
    """A line (with a light area under it) over days; one point mark per day.

    The x axis is time (gaps between days stay gaps in time), the y axis starts at 0.
    """
    if not points:
        return _empty(80, empty_note, width)
    left, right, top, bottom = 56, 16, 24, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    ordered = sorted(points, key=lambda p: p.day)
    first, last = ordered[0].day.toordinal(), ordered[-1].day.toordinal()
    days = max(1, last - first)
    y_top = nice_max(max(max(p.value for p in ordered), 0.0))

    def x_of(d: date) -> float:
        if last == first:
            return left + plot_w / 2
        return left + (d.toordinal() - first) / days * plot_w

    def y_of(v: float) -> float:
        return top + plot_h - max(0.0, v) / y_top * plot_h

    coords = [(x_of(p.day), y_of(p.value)) for p in ordered]
    path = "M" + " L".join(f"{_num(x)},{_num(y)}" for x, y in coords)
    base = top + plot_h
    area = f"{path} L{_num(coords[-1][0])},{_num(base)} L{_num(coords[0][0])},{_num(base)} Z"
    parts = [
        f'<svg class="chart-svg line-chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{len(ordered)} days">'
    ]
    for value in ticks(y_top):
        y = y_of(value)
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{_num(y)}" y2="{_num(y)}"/>'
            f'<text class="axis" x="{left - 6}" y="{_num(y + 4)}" text-anchor="end">'
            f"{escape(short_number(value))}</text>"
        )
    x_ticks = _x_ticks(ordered[0].day, ordered[-1].day)
    for i, d in enumerate(x_ticks):
        anchor = "middle" if len(x_ticks) == 1 else (
            "start" if i == 0 else "end" if i == len(x_ticks) - 1 else "middle"
        )  # fmt: skip
        parts.append(
            f'<text class="axis" x="{_num(x_of(d))}" y="{height - 10}" text-anchor="{anchor}">'
            f"{d.isoformat()}</text>"
        )
    if y_label:
        parts.append(f'<text class="axis" x="{left}" y="12">{escape(y_label)}</text>')
    parts.append(f'<path class="area" d="{area}"/>')
    parts.append(f'<path class="mark line" d="{path}"><title>{len(ordered)} days</title></path>')
    for (x, y), p in zip(coords, ordered, strict=True):
        parts.append(
            f'<circle class="mark point" cx="{_num(x)}" cy="{_num(y)}" r="2.2" '
            f'data-day="{p.day.isoformat()}" data-tip="{_attr(p.tip)}">'
            f"<title>{escape(p.tip)}</title></circle>"
        )
    parts.append(
        f'<line class="guide" x1="0" x2="0" y1="{top}" y2="{base}" visibility="hidden"/>'
        f'<text class="readout" x="{width - right}" y="12" text-anchor="end"></text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _x_ticks(first: date, last: date, count: int = 5) -> list[date]:
    """Up to ``count`` distinct, evenly spaced days from ``first`` to ``last``."""
    span = last.toordinal() - first.toordinal()
    if span <= 0:
        return [first]
    steps = min(count - 1, span)
    return [date.fromordinal(first.toordinal() + round(span * i / steps)) for i in range(steps + 1)]
