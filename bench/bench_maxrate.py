"""``max_rate@S``: the highest live rate the stream workers keep up with.

1. A fresh bench stack seeded at scale S, the connector registered and the workers
   started; the snapshot drains first (``--reuse`` keeps the stack, its data and any
   running workers as they are);
2. live traffic ramps up in steps (``--rates``, ``--step-seconds`` each, 60 s by
   default): every step runs ``ecom generate live --rate R`` while the consumer lag of
   the stream group (end offset minus committed offset over the CDC topics; the group
   commits an offset only once both lake layers hold it) is sampled;
3. a step is *bounded* when the lag stops growing in its second half and stays under
   ``MAX_LAG_SECONDS`` of traffic. The lag is a sawtooth (the group commits an offset
   when a flush lands, every few seconds, up to ``ECOM_STREAM_BACKLOG_FLUSH_SECONDS``
   while behind), so the growth is read from its troughs: the lowest lag of the last
   quarter of the step against the lowest of the second quarter, per second, must be
   under ``GROWTH_SHARE`` of the rate the generator reached. Steps shorter than twice
   that flush period cannot tell. The ramp stops at the first unbounded step, or when
   the generator itself falls short of the asked rate (then the workers were not the
   limit and the result says so). Between steps the workers catch up.

Reported: every step (asked and reached rate, lag samples, slope, bounded, and where its
CPU went: each component's CPU microseconds per change, from ``bench/cpu_budget.py``,
with the rate at which their sum would take all of the machine's cores) and the
highest reached rate of a bounded step (goal >= 10,000 changes/s with 2 workers).

Usage: python -m bench.bench_maxrate [--scale 0.1] [--workers 2]
       [--rates 2000,4000,6000,8000,10000,12000,15000,20000] [--step-seconds 60] [--reuse]
Results: bench/results/max_rate.json (or --out) and a summary on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import cpu_budget  # noqa: E402
from bench.measure import RESULT_MARK, ecom, log  # noqa: E402

RESULTS = REPO / "bench" / "results" / "max_rate.json"
DEFAULT_RATES = "2000,4000,6000,8000,10000,12000,15000,20000"
#: Goal of the issue with two workers (changes/s).
GOAL = 10_000
#: A step is bounded when its lag grows by less than this share of the input rate...
GROWTH_SHARE = 0.05
#: ... and never exceeds this many seconds of traffic at the reached rate.
MAX_LAG_SECONDS = 30.0
#: The generator reached less than this share of the asked rate: it is the limit.
GENERATOR_SHORT = 0.9
#: Seconds between lag samples.
SAMPLE_EVERY = 2.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rates", default=DEFAULT_RATES, help=f"changes/s per step ({DEFAULT_RATES})")
    ap.add_argument("--step-seconds", type=float, default=60.0)
    ap.add_argument("--connections", type=int, default=None,
                    help="generator sessions (default: the generator's own default)")  # fmt: skip
    ap.add_argument("--reuse", action="store_true",
                    help="keep the stack, its data and running workers (no reset, no seed)")  # fmt: skip
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)
    try:
        args.rates = [float(x) for x in args.rates.split(",") if x.strip()]
    except ValueError:
        ap.error(f"--rates {args.rates!r}: comma-separated numbers expected")
    if not args.rates or any(r <= 0 for r in args.rates) or args.step_seconds <= 0:
        ap.error("--rates and --step-seconds must be positive")
    return args


def slope(samples: list[tuple[float, int]]) -> float:
    """Least-squares growth of the lag (events per second) over ``(t, lag)`` samples."""
    if len(samples) < 2:
        return 0.0
    n = len(samples)
    mt = sum(t for t, _ in samples) / n
    ml = sum(lag for _, lag in samples) / n
    var = sum((t - mt) ** 2 for t, _ in samples)
    if var == 0:
        return 0.0
    return sum((t - mt) * (lag - ml) for t, lag in samples) / var


@dataclass
class Step:
    """One step of the ramp: the rate asked, what the generator reached, the lag."""

    rate: float
    reached: float | None = None
    lags: list[tuple[float, int]] = field(default_factory=list)
    generator_rc: int | None = None
    #: Where the step's CPU went (:func:`cpu_budget.budget`), when measured.
    cpu: dict[str, Any] | None = None

    def _quarter(self, q: int) -> list[tuple[float, int]]:
        end = self.lags[-1][0] if self.lags else 0.0
        return [s for s in self.lags if (q - 1) * end / 4 <= s[0] <= q * end / 4]

    @property
    def second_half(self) -> list[tuple[float, int]]:
        return [s for s in self.lags if s[0] >= (self.lags[-1][0] / 2 if self.lags else 0)]

    @property
    def growth(self) -> float:
        """Lag growth per second between the troughs of the second and last quarter."""
        early, late = self._quarter(2), self._quarter(4)
        if not early or not late:
            return 0.0
        return slope([min(early, key=lambda s: s[1]), min(late, key=lambda s: s[1])])

    @property
    def generator_short(self) -> bool:
        return self.reached is None or self.reached < GENERATOR_SHORT * self.rate

    @property
    def bounded(self) -> bool:
        if self.reached is None or not self.lags:
            return False
        peak = max(lag for _, lag in self.second_half)
        return self.growth < GROWTH_SHARE * self.reached and peak <= MAX_LAG_SECONDS * self.reached

    def as_dict(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "reached_rate": self.reached,
            "generator_short": self.generator_short,
            "generator_exit": self.generator_rc,
            "lag_growth_per_s": round(self.growth, 1),
            "max_lag": max((lag for _, lag in self.lags), default=None),
            "final_lag": self.lags[-1][1] if self.lags else None,
            "bounded": self.bounded,
            "cpu": self.cpu,
            "lag_samples": [[round(t, 1), lag] for t, lag in self.lags],
        }


def verdict(steps: list[Step]) -> dict[str, Any]:
    """The highest reached rate of a bounded step, and why the ramp ended."""
    best = max((s.reached or 0.0 for s in steps if s.bounded), default=None)
    last = steps[-1] if steps else None
    if last is None:
        why = "no step ran"
    elif not last.bounded:
        why = f"lag grew at {last.rate:g} changes/s asked"
    elif last.generator_short:
        why = f"the generator reached only {last.reached} of {last.rate:g} changes/s asked"
    else:
        why = "every step was bounded"
    return {
        "max_sustained_rate": round(best) if best else None,
        "ramp_ended_because": why,
        "goal": GOAL,
        "met": best is not None and best >= GOAL,
    }


def run_step(args: argparse.Namespace, rate: float, lag_fn: Any, home: Path) -> Step:
    """Live traffic at ``rate`` for one step while the lag is sampled, and where the
    CPU went meanwhile (the stack's components under ``home``, the generator)."""
    cmd = [sys.executable, "-m", "ecom.cli", "generate", "live", "--rate", str(rate),
           "--duration", str(args.step_seconds), "--json", "--report-every", "3600"]  # fmt: skip
    if args.connections:
        cmd += ["--connections", str(args.connections)]
    step = Step(rate=rate)
    cpu0 = cpu_budget.sample(home)
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=REPO, text=True, stdout=subprocess.PIPE)
    while proc.poll() is None:
        try:
            step.lags.append((time.monotonic() - t0, lag_fn()))
        except Exception as exc:  # noqa: BLE001 - a failed sample is skipped, not fatal
            log(f"  lag sample failed: {exc}")
        time.sleep(SAMPLE_EVERY)
    out, _ = proc.communicate()
    seconds, cpu1 = time.monotonic() - t0, cpu_budget.sample(home)
    step.generator_rc = proc.returncode
    try:
        summary = json.loads(out)
        step.reached = float(summary["rate_rows_per_s"])
        changes = int(summary["total_rows"])
    except (ValueError, KeyError, TypeError):
        log(f"  the generator printed no summary (exit {proc.returncode})")
        return step
    step.cpu = cpu_budget.budget(cpu0, cpu1, changes=changes, seconds=seconds)
    return step


def prepare(args: argparse.Namespace, stream: Any) -> None:
    """Stack, seed, connector and workers; back once the snapshot is in both layers."""
    from bench.bench_stream import prepare_stack
    from compaction import maintainer
    from ecom import catchup
    from generator.configuration import scaled_counts
    from stream_apps import workers

    if not args.reuse:
        workers.stop(stream)
        prepare_stack(args, sum(scaled_counts(args.scale).values()))
        ecom("connectors", "apply")
    workers.start(stream, args.workers)  # leaves running workers as they are
    maintainer.start(stream.base)  # as `ecom stream start` runs it
    log("waiting for the workers to land the snapshot")
    catchup.wait_caught_up(stream, timeout=max(900.0, 1800.0 * args.scale))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from bench.bench_stream import code_version
    from compaction import maintainer
    from ecom import catchup
    from schemas import SOURCE_TABLES
    from stream_apps import configuration, workers

    stream = configuration.load()
    topics = [stream.base.cdc_topic(t) for t in SOURCE_TABLES]
    prepare(args, stream)

    def lag_fn() -> int:
        return sum(x.lag for x in catchup.consumer_lags(stream, topics))

    steps: list[Step] = []
    for rate in args.rates:
        log(f"step: {rate:g} changes/s for {args.step_seconds:g}s")
        step = run_step(args, rate, lag_fn, stream.base.home)
        steps.append(step)
        d = step.as_dict()
        log(f"  reached {d['reached_rate']}/s, lag growth {d['lag_growth_per_s']}/s, "
            f"max lag {d['max_lag']}, bounded {d['bounded']}")  # fmt: skip
        if step.cpu is not None:
            log("  CPU us per change: " + ", ".join(
                f"{k} {v}" for k, v in step.cpu["us_per_change"].items())
                + f"; all {step.cpu['components_us_per_change']} (ceiling "
                f"{step.cpu['ceiling_changes_per_s']}/s on {step.cpu['cores']} cores)")  # fmt: skip
        if not step.bounded or step.generator_short:
            break
        catchup.wait_caught_up(stream, timeout=300)
    result = {
        "measured_at_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "code": code_version(),
        "scale": args.scale,
        "worker_count": args.workers,
        "step_seconds": args.step_seconds,
        "criteria": {"growth_share_of_rate": GROWTH_SHARE, "max_lag_seconds": MAX_LAG_SECONDS},
        "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
        **verdict(steps),
        "steps": [s.as_dict() for s in steps],
    }
    if not args.reuse:
        workers.stop(stream)
        maintainer.stop(stream.base)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "steps"}, indent=2))
    print(RESULT_MARK + json.dumps(result), flush=True)
    return 0 if steps else 1


if __name__ == "__main__":
    raise SystemExit(main())
