"""`ecom report`: the HTML page and its SVG charts from plain data (no services)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from ecom import report
from ecom import report_render as r
from ecom import report_svg as svg
from ecom.cli import main

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


class Dom(HTMLParser):
    """Just enough of a DOM: every element with its attributes and its ancestors' ids."""

    VOID = {"meta", "br", "img", "input", "link", "hr"}

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str], tuple[str, ...]]] = []
        self.stack: list[tuple[str, str]] = []
        self.texts: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        ids = tuple(i for _t, i in self.stack if i)
        self.elements.append((tag, a, ids))
        if tag not in self.VOID:
            self.stack.append((tag, a.get("id", "")))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.elements.append((tag, a, tuple(i for _t, i in self.stack if i)))

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1][0] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.texts.append(data)

    def marks(self, within: str | None = None) -> list[dict[str, str]]:
        return [
            a
            for _tag, a, ids in self.elements
            if "mark" in a.get("class", "").split() and (within is None or within in ids)
        ]


def sample(**changes: Any) -> r.ReportData:
    build = r.BuildInfo(
        build_id=7,
        as_of=date(2026, 11, 28),
        finished_at=NOW - timedelta(hours=3),
        max_commit_ts=NOW - timedelta(hours=3, minutes=5),
        max_source_lsn="0/27A3BD8",
        row_counts={"dim_customers": 3},
    )
    data = r.ReportData(
        generated_at=NOW,
        daily=[
            r.DailyRevenue(date(2026, 11, 1), Decimal("100.50"), 3),
            r.DailyRevenue(date(2026, 11, 2), Decimal("0.00"), 0),
            r.DailyRevenue(date(2026, 11, 5), Decimal("250.25"), 5),
        ],
        categories=[
            r.CategoryRevenue("Electronics", Decimal("300.00"), 4, Decimal("0.8571")),
            r.CategoryRevenue("Books & <Comics>", Decimal("50.75"), 2, Decimal("0.1429")),
        ],
        products=[
            r.ProductRevenue(
                "A very long product name that needs clipping", "SKU-1", Decimal("200.00"), 2
            ),
            r.ProductRevenue("Mug", "SKU-2", Decimal("10.00"), 1),
        ],  # fmt: skip
        channels=[
            r.ChannelRoi("EMAIL", 2, Decimal("100.00"), Decimal("59.00"), Decimal("0.5900")),
            r.ChannelRoi("PRINT", 1, Decimal("0.00"), Decimal("0"), None),
        ],
        inventory=[
            r.StockStatus("OUT_OF_STOCK", 1, Decimal("0.25")),
            r.StockStatus("OK", 3, Decimal("0.75")),
        ],
        segments=[
            r.Segment("Regular", 10, 6, Decimal("1234.56"), Decimal("0.9")),
            r.Segment("Premium", 2, 2, Decimal("137.17"), Decimal("0.1")),
        ],
        freshness=r.Freshness(build, NOW - timedelta(seconds=30), NOW - timedelta(minutes=2)),
    )
    return r.ReportData(**{**data.__dict__, **changes})


def test_every_chart_draws_one_mark_per_datum() -> None:
    page = r.render(sample())
    dom = Dom(page)
    figures = [a["id"] for tag, a, _ in dom.elements if tag == "figure"]
    assert figures == [f"chart-{c}" for c in r.CHARTS]
    want = {
        "daily-revenue": 1 + 3,  # the line and one point per day
        "category-revenue": 2,
        "top-products": 2,
        "channel-roi": 2,
        "inventory-status": 2,
        "customer-segments": 2,
        "freshness": 4,
    }
    assert {c: len(dom.marks(f"chart-{c}")) for c in r.CHARTS} == want


def test_bar_lengths_are_proportional_and_text_is_exact() -> None:
    dom = Dom(r.render(sample()))
    bars = dom.marks("chart-category-revenue")
    widths = [float(b["width"]) for b in bars]
    assert widths[0] == pytest.approx(svg.WIDTH - 190 - 130)  # the largest fills the span
    assert widths[1] / widths[0] == pytest.approx(50.75 / 300.0, rel=1e-3)
    text = "".join(dom.texts)
    assert "300.00 (85.7%)" in text and "50.75 (14.3%)" in text
    assert "1,234.56" in text and "0.59x" in text and "no budget" in text


def test_text_is_escaped_and_long_labels_clipped() -> None:
    page = r.render(sample())
    assert "Books &amp; &lt;Comics&gt;" in page and "<Comics>" not in page
    dom = Dom(page)
    assert "A very long product name th\u2026" in dom.texts
    assert "A very long product name that needs clipping (SKU-2)" not in page
    assert "A very long product name that needs clipping (SKU-1): 200.00, 2 units" in dom.texts


def test_page_is_self_contained() -> None:
    page = r.render(sample())
    assert page.startswith("<!DOCTYPE html>")
    dom = Dom(page)
    for tag, a, _ in dom.elements:
        for name in ("src", "href", "xlink:href", "action"):
            assert name not in a, f"<{tag} {name}=...> would load something"
        assert tag not in ("link", "img", "iframe", "object", "embed")
    assert not re.search(r"https?://|url\(|@import", page)
    assert page.count("<script>") == 1 and page.count("<style>") == 1


def test_empty_series_draw_a_note_and_no_mark() -> None:
    page = r.render(
        sample(daily=[], categories=[], products=[], channels=[], inventory=[], segments=[],
               freshness=r.Freshness(None, lake_note="MinIO could not be read"))
    )  # fmt: skip
    dom = Dom(page)
    assert dom.marks() == []
    assert "".join(dom.texts).count("no data") == 6
    assert "no freshness information" in dom.texts
    assert "MinIO could not be read" in dom.texts
    assert "no successful gold build logged" in page


def test_line_chart_points_follow_time_and_value() -> None:
    pts = [
        svg.Point(date(2026, 1, 1), 10.0, "a"),
        svg.Point(date(2026, 1, 3), 20.0, "b"),
        svg.Point(date(2026, 1, 2), 0.0, "c"),
    ]
    dom = Dom(svg.line_chart(pts, width=1000, height=200))
    points = [a for a in dom.marks() if "point" in a["class"]]
    assert [p["data-day"] for p in points] == ["2026-01-01", "2026-01-02", "2026-01-03"]
    xs = [float(p["cx"]) for p in points]
    ys = [float(p["cy"]) for p in points]
    assert xs[1] - xs[0] == pytest.approx(xs[2] - xs[1])  # one day apart each
    assert ys[1] == pytest.approx(200 - 30)  # value 0 sits on the base line
    assert ys[2] < ys[0] < ys[1]  # higher value, higher on the page
    assert all(0 <= x <= 1000 for x in xs) and all(0 <= y <= 200 for y in ys)


def test_single_day_line_chart_is_centred() -> None:
    dom = Dom(svg.line_chart([svg.Point(date(2026, 1, 1), 5.0, "x")], width=1000))
    (point,) = [a for a in dom.marks() if "point" in a["class"]]
    assert float(point["cx"]) == pytest.approx(56 + (1000 - 56 - 16) / 2)


@pytest.mark.parametrize(
    ("value", "want"),
    [(0, 1.0), (0.7, 1.0), (1, 1), (1.2, 2), (2.1, 2.5), (3, 5), (7, 10), (49_000, 50_000)],
)
def test_nice_max(value: float, want: float) -> None:
    assert svg.nice_max(value) == pytest.approx(want)


def test_short_numbers_and_ages() -> None:
    assert [svg.short_number(x) for x in (0, 12.5, 950, 1500, 2_000_000)] == [
        "0", "12.50", "950", "1.5k", "2M",
    ]  # fmt: skip
    ages = [timedelta(0), timedelta(seconds=42), timedelta(minutes=17), timedelta(hours=5.2),
            timedelta(days=3), timedelta(seconds=-5)]  # fmt: skip
    assert [r.age(a) for a in ages] == [
        "just now",
        "42 s",
        "17 min",
        "5.2 h",
        "3.0 days",
        "just now",
    ]


def test_freshness_colours_by_age() -> None:
    dom = Dom(r.render(sample()))
    fills = [b["fill"] for b in dom.marks("chart-freshness")]
    # bronze 30 s, silver 2 min: fresh; gold commit and build 3 h: aging
    assert fills == [r.FRESH, r.FRESH, r.AGING, r.AGING]
    old = sample(freshness=r.Freshness(None, NOW - timedelta(days=2), None))
    assert [b["fill"] for b in Dom(r.render(old)).marks("chart-freshness")] == [r.STALE]


def test_cards_sum_the_data() -> None:
    text = "".join(Dom(r.render(sample())).texts)
    assert "350.75" in text  # 100.50 + 0 + 250.25
    assert "#7" in text and "gold build #7 as of 2026-11-28" in text


def test_from_kpis_maps_the_kpi_rows() -> None:
    results = {
        "daily": [
            {"sale_date": date(2026, 1, 2), "revenue": Decimal("5.00"), "orders": 1},
            {"sale_date": date(2026, 1, 1), "revenue": None, "orders": 0},
        ],
        "categories": [{"category": "X", "revenue": Decimal("5.00"), "units_sold": 2,
                        "revenue_share": Decimal("1.0000")}],
        "products": [{"product_name": f"p{i}", "sku": f"S{i}", "revenue": Decimal(i),
                      "units_sold": i} for i in range(20)],
        "channels": [{"channel": "EMAIL", "campaigns": 1, "budget": Decimal("10"),
                      "attributed_revenue": Decimal("5"), "revenue_to_budget": Decimal("0.5")}],
        "inventory": [{"stock_status": "OK", "products": 4, "share": Decimal("1")}],
        "segments": [{"customer_segment": "New", "customers": 3, "buyers": 1,
                      "order_value": Decimal("5.00"), "value_share": Decimal("1")}],
    }  # fmt: skip
    got = report.from_kpis(results)
    assert [d.day for d in got["daily"]] == [date(2026, 1, 1), date(2026, 1, 2)]
    assert got["daily"][0].revenue == Decimal(0)
    assert len(got["products"]) == report.TOP_PRODUCTS
    assert got["channels"][0].revenue_to_budget == Decimal("0.5")
    assert isinstance(got["segments"][0].order_value, Decimal)


def test_kpis_used_by_the_report_exist() -> None:
    from compaction import kpis

    assert set(report.KPIS.values()) <= set(kpis.names())


def test_write_html_is_atomic_and_creates_folders(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "report.html"
    assert report.write_html("<p>x</p>", out) == out
    assert out.read_text() == "<p>x</p>"
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]


def test_report_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["report", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: ecom report") and "--out" in out
