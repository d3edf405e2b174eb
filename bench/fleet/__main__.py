"""`python -m bench.fleet [--n 25 50 100 200] [--ticks 4] ...` (`make bench-fleet`).

For each N of the ladder, in order: a fleet of N simulated organizations (bench.fleet.orgs)
under the real `dagster-daemon`, its 5-minute ticks measured (bench.fleet.harness); the ladder
stops at the first N whose ticks do not all finish within 5 minutes. Writes
bench/results/fleet.md after each N (one file for the run). Takes 30–60 minutes per N (the
warm-up grows with N).
"""

from __future__ import annotations

import argparse
import signal
import sys
import warnings
from pathlib import Path

from bench.fleet.harness import FleetSettings, run_fleet
from bench.fleet.report import render

RESULTS = Path(__file__).resolve().parents[1] / "results" / "fleet.md"
LADDER = (25, 50, 100, 200)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=list(LADDER), help="fleet sizes")
    parser.add_argument("--ticks", type=int, default=4, help="5-minute ticks measured per N")
    parser.add_argument("--clock-start", default="17:30", help="the stores' time, today")
    parser.add_argument(
        "--max-concurrent-runs", type=int, default=None, help="default: dagster.yaml's"
    )
    parser.add_argument("--warmup-workers", type=int, default=2)
    parser.add_argument(
        "--note", default="", help="a line for the results, e.g. the machine's state"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    # A SIGTERM (a timeout, a CI cancel) unwinds like Ctrl-C: everything started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))

    results = []
    stopped_early = False
    for n in args.n:
        settings = FleetSettings(
            n=n,
            ticks=args.ticks,
            clock_start=args.clock_start,
            max_concurrent_runs=args.max_concurrent_runs,
            warmup_workers=args.warmup_workers,
        )
        result = run_fleet(settings)
        results.append(result)
        stopped_early = not result.sustained and n != args.n[-1]
        args.out.write_text(render(results, stopped_early=stopped_early, note=args.note))
        print(f"N={n}: {'sustained' if result.sustained else 'NOT sustained'}; wrote {args.out}")
        if stopped_early:
            break
    print(args.out.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
