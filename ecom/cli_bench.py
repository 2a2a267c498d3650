"""`ecom bench [ARGS...]`: run the benchmark suite (``python -m bench ARGS...``).

The benchmarks live in ``bench/`` of the source checkout, outside the package layering
(they drive the CLI and the stages from the outside), so this command only runs that
module as a child process in the checkout, with the arguments as given.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from common.errors import EcomError

CHECKOUT = Path(__file__).resolve().parents[1]


def _bench(args: argparse.Namespace) -> int:
    if not (CHECKOUT / "bench" / "__main__.py").is_file():
        raise EcomError(
            f"the benchmark suite is not in this installation ({CHECKOUT / 'bench'} missing)",
            hint="run it from a source checkout: `make bench` or `python -m bench`",
        )
    rest = list(args.bench_args)
    if rest[:1] == ["--"]:
        rest = rest[1:]
    return subprocess.call([sys.executable, "-m", "bench", *rest], cwd=CHECKOUT)


def add_bench(groups: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    # prefix "+": every argument, options included, is left to python -m bench (so
    # `ecom bench --help` shows the suite's options)
    p = groups.add_parser(
        "bench",
        prefix_chars="+",
        add_help=False,
        help="run the benchmark suite on the separate bench stack (python -m bench)",
        description="Runs `python -m bench ARGS...` from the checkout: every benchmark "
        "(generator, stream at each scale, gold rebuild at each scale) on the bench stack "
        "(/var/tmp/ecom-bench, ports +10000), results in bench/results/<date>.json and .md. "
        "ARGS: [--scales 0.1,1,10] [--only PART[@S],...] [--skip PART[@S],...] "
        "(`ecom bench --help` lists them).",
    )
    p.add_argument("bench_args", nargs=argparse.REMAINDER, metavar="ARGS",
                   help="passed to python -m bench")  # fmt: skip
    p.set_defaults(func=_bench)
