"""`ecom report` on a real gold, opened in headless Chromium.

Gold is built exactly as in test_gold.py (its ``built`` fixture: seed, live traffic with
deletes, caught up, ``ecom gold rebuild``). The page is then loaded by a real
browser with name resolution disabled: every chart must have drawn marks after the
page's script ran, the browser console must stay silent (no error, no failed load),
and a screenshot is kept in ``test-artifacts/`` (git-ignored). Chromium is required:
without it the test fails (CI installs it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from common.settings import Settings
from compaction import kpis
from compaction.gold import GOLD_TABLES
from ecom.report_render import CHARTS
from tests.integration import test_gold
from tests.integration.conftest import run_cli

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WINDOW = (1280, 2000)

#: test_gold.py's module fixture, run again for this module: seed, live traffic with
#: deletes and dirty rows, caught up, ``ecom gold rebuild --as-of <today>``.
built = test_gold.built


def chromium() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(
        "chromium is not installed: the report test needs a headless browser "
        "(`apt-get install -y chromium chromium-driver`; `make test` installs it through scripts/bootstrap.py)"
    )


def run_chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium with its own profile, no network (every host name fails to
    resolve) and the page's console written to stderr."""
    cmd = [
        chromium(), "--headless", "--disable-gpu", "--no-first-run", "--disable-extensions",
        "--disable-background-networking", "--disable-sync", "--hide-scrollbars",
        "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}",
        "--enable-logging=stderr", "--v=0", *args,
    ]  # fmt: skip
    if os.geteuid() == 0:
        cmd.insert(1, "--no-sandbox")  # Chromium's sandbox refuses to run as root
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, f"chromium exited {res.returncode}: {res.stderr[-2000:]}"
    return res


#: Appended by the test (not part of the report): after the load event, the URLs of
#: every resource the page requested (failed ones included), from the Resource Timing API.
PROBE = (
    '<script>window.addEventListener("load", function () {'
    'document.documentElement.setAttribute("data-probe-resources", JSON.stringify('
    'performance.getEntriesByType("resource").map(function (e) { return e.name; })));'
    "});</script>"
)


def console_lines(stderr: str) -> list[str]:
    """What the page wrote to the console (messages, uncaught errors, failed loads)."""
    return [line for line in stderr.splitlines() if re.search(r":CONSOLE[:(]", line)]


class Figures(HTMLParser):
    """Per chart figure of a page: its attributes and the attributes of its marks."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.root: dict[str, str] = {}
        self.figures: dict[str, dict[str, str]] = {}
        self.marks: dict[str, list[dict[str, str]]] = {}
        self._current: str | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.root = a
        elif tag == "figure":
            self._current = a.get("id", "")
            self.figures[self._current] = a
            self.marks[self._current] = []
        elif self._current is not None and "mark" in a.get("class", "").split():
            self.marks[self._current].append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._current = None


def gold_query(s: Settings, sql: str) -> list[tuple[Any, ...]]:
    conn = psycopg2.connect(s.gold_dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        conn.close()


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture(scope="module")
def page(built: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("report") / "report.html"
    res = run_cli("report", "--out", str(out), timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip().splitlines()[-1] == f"report written to {out}"
    yield out


def test_report_is_self_contained(page: Path) -> None:
    html = page.read_text(encoding="utf-8")
    assert not re.search(r"""\s(?:src|href|xlink:href|action)\s*=""", html), "loads a resource"
    assert not re.search(r"https?://|url\(|@import|<link|<iframe|<img", html)
    assert html.count("<svg") >= len(CHARTS)


def test_every_chart_renders_in_chromium(
    page: Path,
    built: dict[str, Any],
    tmp_path: Path,
) -> None:
    probed = tmp_path / "probed.html"  # the page plus the test's probe of what it loaded
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"))
    res = run_chromium(tmp_path / "profile", "--dump-dom", probed.as_uri())
    assert console_lines(res.stderr) == [], "console output: " + "\n".join(
        console_lines(res.stderr)
    )
    dom = Figures(res.stdout)
    assert dom.root.get("data-ready") == "1", "the page's script did not run to its end"
    assert "data-js-error" not in dom.root, dom.root["data-js-error"]
    loaded = dom.root.get("data-probe-resources")
    assert loaded is not None, "the load event never fired"
    assert json.loads(loaded) == [], f"the page requested resources: {loaded}"
    assert list(dom.figures) == [f"chart-{c}" for c in CHARTS]
    drawn = {c: len(dom.marks[f"chart-{c}"]) for c in CHARTS}
    counted_by_script = {c: int(dom.figures[f"chart-{c}"].get("data-marks", "-1")) for c in CHARTS}
    assert counted_by_script == drawn
    assert all(n > 0 for n in drawn.values()), f"charts without marks: {drawn}"

    # the marks are the gold data: one point per sales day, one bar per category/status
    s: Settings = built["settings"]
    days = {row[0] for row in kpis.run(s.gold_dsn, "daily_revenue")[1]}
    points = [m for m in dom.marks["chart-daily-revenue"] if "point" in m["class"]]
    assert {m["data-day"] for m in points} == {d.isoformat() for d in days}
    categories = gold_query(s, "SELECT count(DISTINCT category) FROM public.fact_daily_sales")
    assert drawn["category-revenue"] == min(categories[0][0], 20)
    statuses = gold_query(s, "SELECT count(DISTINCT stock_status) FROM agg_inventory_status")
    assert drawn["inventory-status"] == statuses[0][0]
    assert drawn["freshness"] == 4, "bronze, silver, gold commit and gold build times"

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    res = run_chromium(
        tmp_path / "profile", f"--screenshot={shot}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
        page.as_uri(),
    )  # fmt: skip
    assert console_lines(res.stderr) == []
    assert png_size(shot) == WINDOW
    assert shot.stat().st_size > 50_000, "a screenshot of the charts cannot be this small"
    shutil.copyfile(page, ARTIFACTS / "report.html")
    print(f"report screenshot: {shot}; page: {ARTIFACTS / 'report.html'}")


def test_default_path_and_last_build(built: dict[str, Any]) -> None:
    s: Settings = built["settings"]
    res = run_cli("report", timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    path = s.home / "reports" / "report.html"
    assert res.stdout.strip().splitlines()[-1] == f"report written to {path}"
    html = path.read_text(encoding="utf-8")
    ((build_id, as_of),) = gold_query(
        s, "SELECT build_id, as_of FROM gold_build_log WHERE status = 'succeeded' "
        "ORDER BY build_id DESC LIMIT 1",
    )  # fmt: skip
    assert f"gold build #{build_id} as of {as_of.isoformat()}" in html


def one_error_line(stderr: str) -> str:
    lines = [x for x in stderr.splitlines() if x.strip() and not x.startswith("[")]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_missing_gold_is_one_clear_line(stack: Settings, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    res = run_cli("report", "--out", str(out), env={"ECOM_GOLD_DB": "postgres"})
    assert res.returncode == 1, res.stdout + res.stderr
    line = one_error_line(res.stderr)
    assert "gold is missing in database postgres" in line
    assert "run `ecom gold rebuild` first" in line
    assert not out.exists()


def test_empty_gold_is_one_clear_line(stack: Settings, tmp_path: Path) -> None:
    db = "ecom_report_empty_gold"
    admin = psycopg2.connect(stack.dsn("postgres"))
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {db}")
            cur.execute(f"CREATE DATABASE {db}")
        conn = psycopg2.connect(stack.dsn(db))
        try:
            with conn, conn.cursor() as cur:
                for table in GOLD_TABLES:
                    cur.execute(f"CREATE TABLE public.{table} (id integer)")
        finally:
            conn.close()
        res = run_cli("report", "--out", str(tmp_path / "r.html"), env={"ECOM_GOLD_DB": db})
        assert res.returncode == 1, res.stdout + res.stderr
        line = one_error_line(res.stderr)
        assert f"gold is empty in database {db}" in line
        assert "run `ecom gold rebuild` first" in line
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {db}")
        admin.close()
