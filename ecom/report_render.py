"""The HTML page of ``ecom report``: plain data in, one self-contained page out.

Pure: no database, no clock, no network. :class:`ReportData` holds what the charts
show (exact decimals as :class:`~decimal.Decimal`); :func:`render` returns the page,
with the CSS, the SVG charts (``ecom.report_svg``) and a small script inline, so the
file opens anywhere, offline, and fetches nothing.

The script only adds behaviour: it counts the marks of every chart into the figure's
``data-marks`` attribute, draws a hover guide with the day's value on the daily
revenue line, records any JavaScript error in ``<html data-js-error>`` and finally
sets ``<html data-ready="1">``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from html import escape

from ecom.report_svg import WIDE, Bar, Point, bar_chart, line_chart

#: Chart ids, in page order (the figure of each is ``id="chart-<id>"``).
CHARTS: tuple[str, ...] = (
    "daily-revenue",
    "category-revenue",
    "top-products",
    "channel-roi",
    "inventory-status",
    "customer-segments",
    "freshness",
)

STATUS_COLORS = {
    "OUT_OF_STOCK": "#dc2626",
    "LOW": "#f59e0b",
    "OK": "#16a34a",
    "OVERSTOCK": "#7c3aed",
    "NO_DEMAND": "#64748b",
}
FRESH, AGING, STALE = "#16a34a", "#f59e0b", "#dc2626"
AGING_AFTER = timedelta(hours=1)
STALE_AFTER = timedelta(hours=26)  # a nightly build plus slack


@dataclass(frozen=True)
class DailyRevenue:
    day: date
    revenue: Decimal
    orders: int


@dataclass(frozen=True)
class CategoryRevenue:
    category: str
    revenue: Decimal
    units: int
    share: Decimal | None


@dataclass(frozen=True)
class ProductRevenue:
    name: str
    sku: str
    revenue: Decimal
    units: int


@dataclass(frozen=True)
class ChannelRoi:
    channel: str
    campaigns: int
    budget: Decimal | None
    revenue: Decimal
    revenue_to_budget: Decimal | None  # attributed revenue / budget; None if no budget


@dataclass(frozen=True)
class StockStatus:
    status: str
    products: int
    share: Decimal | None


@dataclass(frozen=True)
class Segment:
    segment: str
    customers: int
    buyers: int
    order_value: Decimal
    value_share: Decimal | None


@dataclass(frozen=True)
class BuildInfo:
    """The last successful gold build (``gold_build_log``)."""

    build_id: int
    as_of: date
    finished_at: datetime
    max_commit_ts: datetime | None
    max_source_lsn: str | None
    row_counts: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Freshness:
    build: BuildInfo | None
    bronze_newest: datetime | None = None
    silver_newest: datetime | None = None
    lake_note: str = ""  # why the lake times are missing, if they are


@dataclass(frozen=True)
class ReportData:
    generated_at: datetime
    daily: Sequence[DailyRevenue]
    categories: Sequence[CategoryRevenue]
    products: Sequence[ProductRevenue]
    channels: Sequence[ChannelRoi]
    inventory: Sequence[StockStatus]
    segments: Sequence[Segment]
    freshness: Freshness


# ---------------------------------------------------------------- formatting
def money(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


def percent(share: Decimal | None) -> str:
    return "n/a" if share is None else f"{share * 100:.1f}%"


def count(n: int) -> str:
    return f"{n:,}"


def utc(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%d %H:%M:%S UTC")


def age(delta: timedelta) -> str:
    """'just now', '42 s', '17 min', '5.2 h', '3.0 days' (negative clocks count as 0)."""
    seconds = max(0.0, delta.total_seconds())
    if seconds < 1:
        return "just now"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def ago(delta: timedelta) -> str:
    text = age(delta)
    return text if text == "just now" else f"{text} ago"


def age_color(delta: timedelta) -> str:
    return FRESH if delta < AGING_AFTER else AGING if delta < STALE_AFTER else STALE


# ---------------------------------------------------------------- charts
def daily_chart(rows: Sequence[DailyRevenue]) -> str:
    points = [
        Point(r.day, float(r.revenue), f"{r.day.isoformat()}: {money(r.revenue)} "
              f"({count(r.orders)} valid orders)")
        for r in rows
    ]  # fmt: skip
    return line_chart(points, y_label="item revenue / day")


def category_chart(rows: Sequence[CategoryRevenue]) -> str:
    return bar_chart(
        [
            Bar(r.category, float(r.revenue), f"{money(r.revenue)} ({percent(r.share)})",
                f"{r.category}: {money(r.revenue)}, {count(r.units)} units")
            for r in rows
        ]
    )  # fmt: skip


def products_chart(rows: Sequence[ProductRevenue]) -> str:
    return bar_chart(
        [
            Bar(r.name, float(r.revenue), money(r.revenue),
                f"{r.name} ({r.sku}): {money(r.revenue)}, {count(r.units)} units")
            for r in rows
        ],
        label_width=220,
    )  # fmt: skip


def channel_chart(rows: Sequence[ChannelRoi]) -> str:
    bars = []
    for r in rows:
        ratio = r.revenue_to_budget
        text = "no budget" if ratio is None else f"{ratio:.2f}x"
        tip = (
            f"{r.channel}: attributed revenue {money(r.revenue)} on a budget of "
            f"{money(r.budget)} over {count(r.campaigns)} campaign(s)"
        )
        bars.append(Bar(r.channel, float(ratio or 0), text, tip))
    return bar_chart(bars)


def inventory_chart(rows: Sequence[StockStatus]) -> str:
    return bar_chart(
        [
            Bar(r.status, float(r.products), f"{count(r.products)} ({percent(r.share)})",
                color=STATUS_COLORS.get(r.status, "#64748b"))
            for r in rows
        ]
    )  # fmt: skip


def segments_chart(rows: Sequence[Segment]) -> str:
    return bar_chart(
        [
            Bar(r.segment, float(r.customers), f"{count(r.customers)} customers",
                f"{r.segment}: {count(r.customers)} customers, {count(r.buyers)} buyers, "
                f"order value {money(r.order_value)} ({percent(r.value_share)} of all)")
            for r in rows
        ]
    )  # fmt: skip


def freshness_stages(f: Freshness) -> list[tuple[str, datetime | None]]:
    """Each stage of the pipeline, in flow order, with the newest time it holds."""
    build = f.build
    return [
        ("newest bronze object", f.bronze_newest),
        ("newest silver object", f.silver_newest),
        ("newest source commit in gold", build.max_commit_ts if build else None),
        ("last gold build finished", build.finished_at if build else None),
    ]


def freshness_chart(f: Freshness, now: datetime) -> str:
    bars = []
    for label, ts in freshness_stages(f):
        if ts is None:
            continue
        delta = now - ts
        bars.append(
            Bar(label, max(0.0, delta.total_seconds()), ago(delta),
                f"{label}: {utc(ts)} ({age(delta)} before this report)", age_color(delta))
        )  # fmt: skip
    return bar_chart(bars, label_width=220, empty_note="no freshness information", width=WIDE)


# ---------------------------------------------------------------- page
def _figure(chart_id: str, title: str, subtitle: str, svg: str, *, wide: bool = False) -> str:
    cls = "chart wide" if wide else "chart"
    return (
        f'<figure class="{cls}" id="chart-{chart_id}"><figcaption><h2>{escape(title)}</h2>'
        f"<p>{escape(subtitle)}</p></figcaption>{svg}</figure>"
    )


def _cards(data: ReportData) -> str:
    revenue = sum((r.revenue for r in data.daily), Decimal(0))
    orders = sum(r.orders for r in data.daily)
    customers = sum(s.customers for s in data.segments)
    products = sum(s.products for s in data.inventory)
    build = data.freshness.build
    cards = [
        ("item revenue", money(revenue)),
        ("valid orders", count(orders)),
        ("customers", count(customers)),
        ("products", count(products)),
        ("gold build", f"#{build.build_id}" if build else "none"),
    ]
    return '<section class="cards">' + "".join(
        f'<div class="card"><div class="k">{escape(k)}</div><div class="v">{escape(v)}</div></div>'
        for k, v in cards
    ) + "</section>"  # fmt: skip


def _freshness_table(f: Freshness, now: datetime) -> str:
    rows = []
    for label, ts in freshness_stages(f):
        when = f"{utc(ts)} ({ago(now - ts)})" if ts else "not available"
        rows.append(f"<tr><th>{escape(label)}</th><td>{escape(when)}</td></tr>")
    if f.build is not None:
        lsn = f.build.max_source_lsn or "n/a"
        rows.append(f"<tr><th>source LSN covered by gold</th><td>{escape(lsn)}</td></tr>")
    note = f'<p class="note">{escape(f.lake_note)}</p>' if f.lake_note else ""
    return f'<table class="fresh">{"".join(rows)}</table>{note}'


def render(data: ReportData) -> str:
    """The whole page as one HTML string."""
    now = data.generated_at
    f = data.freshness
    if f.build is not None:
        built = f"gold build #{f.build.build_id} as of {f.build.as_of.isoformat()}"
    else:
        built = "no successful gold build logged"
    days = f"{data.daily[0].day} to {data.daily[-1].day}" if data.daily else "no sales"
    figures = [
        _figure("daily-revenue", "Daily revenue",
                f"Item revenue per day (valid orders), {days}; hover for a day's value.",
                daily_chart(data.daily), wide=True),
        _figure("category-revenue", "Revenue by category",
                "Item revenue of valid orders per product category (share of all revenue).",
                category_chart(data.categories)),
        _figure("top-products", "Top products",
                f"The {len(data.products)} products with the highest item revenue.",
                products_chart(data.products)),
        _figure("channel-roi", "Campaign return by channel",
                "Revenue of attributed valid orders over the channel's campaign budget.",
                channel_chart(data.channels)),
        _figure("inventory-status", "Inventory status",
                "Products per stock status (days of cover from the last 30 days' sales).",
                inventory_chart(data.inventory)),
        _figure("customer-segments", "Customer segments",
                "Customers per segment; hover for buyers and order value.",
                segments_chart(data.segments)),
        _figure("freshness", "Pipeline freshness",
                f"How old the newest data of each stage is, at {utc(now)}.",
                freshness_chart(f, now) + _freshness_table(f, now), wide=True),
    ]  # fmt: skip
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>ecom report: {escape(built)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>E-commerce analytics</h1><p>{escape(built)}; generated "
        f"{escape(utc(now))} from the gold tables.</p></header>"
        f'{_cards(data)}<main class="grid">{"".join(figures)}</main>'
        "<footer>Generated by <code>ecom report</code>. Self-contained: no network access."
        f"</footer><script>{SCRIPT}</script></body></html>\n"
    )


CSS = """
*{box-sizing:border-box}
body{margin:0;padding:24px 32px;font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;
color:#0f172a;background:#f1f5f9}
header h1{margin:0;font-size:24px}header p{margin:4px 0 16px;color:#475569}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:16px}
.card{background:#fff;border-radius:8px;padding:10px 16px;min-width:150px;
box-shadow:0 1px 2px rgba(15,23,42,.08)}
.card .k{color:#64748b;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:20px;font-weight:600}
.grid{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:16px}
figure.chart{margin:0;background:#fff;border-radius:8px;padding:14px 16px;
box-shadow:0 1px 2px rgba(15,23,42,.08)}
figure.wide{grid-column:1/-1}
figcaption h2{margin:0;font-size:16px}figcaption p{margin:2px 0 8px;color:#64748b;font-size:12px}
.chart-svg{width:100%;height:auto;display:block}
.chart-svg text{font-size:11px;fill:#334155}
.chart-svg text.value{fill:#0f172a}.chart-svg text.axis{fill:#64748b;font-size:10px}
.chart-svg text.empty{fill:#94a3b8;font-size:14px}
.chart-svg .grid{stroke:#e2e8f0;stroke-width:1}
.chart-svg rect.mark:hover{opacity:.8}
.chart-svg path.line{fill:none;stroke:#2563eb;stroke-width:1.5}
.chart-svg path.area{fill:#2563eb;opacity:.08}
.chart-svg circle.point{fill:#2563eb;opacity:0}
.chart-svg circle.point:hover,.chart-svg circle.point.on{opacity:1}
.chart-svg line.guide{stroke:#94a3b8;stroke-dasharray:3 3}
.chart-svg text.readout{font-size:12px;font-weight:600;fill:#0f172a}
table.fresh{border-collapse:collapse;margin-top:8px;font-size:13px}
table.fresh th{text-align:left;font-weight:500;color:#475569;padding:2px 16px 2px 0}
.note{color:#b45309;font-size:12px}
footer{margin-top:20px;color:#94a3b8;font-size:12px}
@media (max-width:900px){.grid{grid-template-columns:1fr}}
"""

SCRIPT = """
(function () {
  "use strict";
  var root = document.documentElement;
  window.addEventListener("error", function (e) {
    root.setAttribute("data-js-error", String(e.message || e));
  });
  var figures = document.querySelectorAll("figure.chart");
  for (var i = 0; i < figures.length; i++) {
    var n = figures[i].querySelectorAll("svg .mark").length;
    figures[i].setAttribute("data-marks", String(n));
  }
  function hover(svg) {
    var points = svg.querySelectorAll("circle.point");
    var guide = svg.querySelector("line.guide");
    var readout = svg.querySelector("text.readout");
    if (!points.length || !guide || !readout) { return; }
    var xs = [];
    for (var k = 0; k < points.length; k++) { xs.push(parseFloat(points[k].getAttribute("cx"))); }
    var on = null;
    svg.addEventListener("mousemove", function (ev) {
      var m = svg.getScreenCTM();
      if (!m) { return; }
      var pt = svg.createSVGPoint();
      pt.x = ev.clientX; pt.y = ev.clientY;
      var x = pt.matrixTransform(m.inverse()).x;
      var lo = 0, hi = xs.length - 1;
      while (lo < hi) { var mid = (lo + hi) >> 1; if (xs[mid] < x) { lo = mid + 1; } else { hi = mid; } }
      if (lo > 0 && Math.abs(xs[lo - 1] - x) < Math.abs(xs[lo] - x)) { lo -= 1; }
      if (on) { on.classList.remove("on"); }
      on = points[lo];
      on.classList.add("on");
      guide.setAttribute("x1", xs[lo]); guide.setAttribute("x2", xs[lo]);
      guide.setAttribute("visibility", "visible");
      readout.textContent = on.getAttribute("data-tip");
    });
    svg.addEventListener("mouseleave", function () {
      if (on) { on.classList.remove("on"); on = null; }
      guide.setAttribute("visibility", "hidden");
      readout.textContent = "";
    });
  }
  var lines = document.querySelectorAll("svg.line-chart");
  for (var j = 0; j < lines.length; j++) { hover(lines[j]); }
  root.setAttribute("data-ready", "1");
})();
"""
