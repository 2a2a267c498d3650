"""`ecom report`: argparse wiring kept apart from ecom/cli.py (which calls :func:`add_report`).

The handler is thin: it calls :func:`ecom.report.write_report` and prints the path.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _report(args: argparse.Namespace) -> int:
    from common.progress import Progress
    from common.settings import load
    from ecom import report

    path = report.write_report(load(), args.out, progress=Progress())
    print(f"report written to {path}")
    return 0


def add_report(groups: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = groups.add_parser(
        "report",
        help="write one self-contained HTML page of charts over gold (opens offline)",
        description="Charts daily revenue, revenue by category, top products, campaign "
        "return by channel, inventory status, customer segments and the pipeline's "
        "freshness (gold_build_log, newest bronze and silver objects) from the gold "
        "tables, into one HTML file with inline CSS, SVG and script: it fetches nothing. "
        "Needs a built gold (`ecom gold rebuild`).",
    )
    p.add_argument(
        "--out", type=Path, default=None, metavar="PATH",
        help="where to write the page (default: <ECOM_HOME>/reports/report.html)",
    )  # fmt: skip
    p.set_defaults(func=_report)
