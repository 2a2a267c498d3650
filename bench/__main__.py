"""`python -m bench [NAME ...]` (or `make bench`): run every bench/bench_*.py in turn.

Each benchmark module is run as its own process (`python -m bench.bench_<name>`), so one
benchmark's memory never inflates another's peak-RSS figure.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = sorted(p.stem for p in here.glob("bench_*.py"))
    wanted = [f"bench_{a}" if not a.startswith("bench_") else a for a in argv]
    unknown = [w for w in wanted if w not in names]
    if unknown:
        print(f"error: unknown benchmark(s) {', '.join(unknown)}; have {', '.join(names)}",
              file=sys.stderr)
        return 1
    failed = 0
    for name in wanted or names:
        print(f"== {name}", flush=True)
        rc = subprocess.call([sys.executable, "-m", f"bench.{name}"])
        failed += rc != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
