"""Runs per day with the schedule's change check, for 50 organizations over a business day.

`python -m bench.run_volume` replays one simulated day tick by tick (every 5 minutes, 288
ticks) for 50 Online Software organizations of mixed size, with the simulator's clock at each
tick: the ERP's answer changes when a sale is made or cancelled. A run is launched when the
answer differs from the one the last run processed - exactly the schedule's rule - so the
count is what the schedule launches if every run succeeds. The per-tick work is then
estimated from a measured small-organization run: the busiest tick's runs, two at a time on
this 2-core machine (one per organization, queued by the daemon), must fit in 5 minutes.
Writes `bench/results/run_volume.md`.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from recompra_pipelines.simulators.erp_online_software import OnlineSoftwareSimulator

ORGANIZATIONS = 50
DAY = date(2026, 11, 20)
TICK = timedelta(minutes=5)
SP = ZoneInfo("America/Sao_Paulo")
RESULTS = Path(__file__).parent / "results" / "run_volume.md"
# Concurrent runs this machine sustains: one per core (runs are CPU-bound in-process steps).
PARALLEL_RUNS = 2
# Under the daemon each run is a new process that imports the code location first
# (docs/operations.md measured 5.0 s on this machine).
RUN_PROCESS_START_SECONDS = 5.0


def sales_per_day(index: int) -> int:
    """A realistic spread: most stores are small, a few are busy."""
    return (20, 40, 80, 150, 400)[index % 5]


def main() -> int:
    simulator = OnlineSoftwareSimulator()
    tokens = [f"volume-{n}" for n in range(ORGANIZATIONS)]
    for n, token in enumerate(tokens):
        simulator.configure(token, sales_per_day=sales_per_day(n))
    ticks = [datetime.combine(DAY, datetime.min.time(), SP) + TICK * i for i in range(288)]
    last_hash: dict[str, str] = {}
    runs_per_tick: list[int] = []
    started = time.perf_counter()
    for tick in ticks:
        simulator.set_now(tick)
        launched = 0
        for token in tokens:
            body = json.dumps({"resultado": simulator.sales_for(token, DAY)}, separators=(",", ":"))
            content = hashlib.sha256(body.encode()).hexdigest()
            if last_hash.get(token) != content:
                last_hash[token] = content
                launched += 1
        runs_per_tick.append(launched)
    replay_seconds = time.perf_counter() - started

    run_seconds = _small_run_seconds()
    busiest = max(runs_per_tick)
    busiest_tick_seconds = busiest * (run_seconds + RUN_PROCESS_START_SECONDS) / PARALLEL_RUNS
    total = sum(runs_per_tick)
    without = 288 * ORGANIZATIONS
    lines = [
        "# Run volume over a simulated business day",
        "",
        f"{ORGANIZATIONS} Online Software organizations ({', '.join(str(sales_per_day(n)) for n in range(5))} "
        f"sales/day, in equal shares), one tick every 5 minutes for 24 h ({len(ticks)} ticks); replay "
        f"took {replay_seconds:.1f} s.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| runs per day without the change check (288 × organizations) | {without:,} |",
        f"| runs per day with the change check | {total:,} ({total / without:.1%}) |",
        f"| ticks that launch no run at all | {runs_per_tick.count(0)} of {len(ticks)} |",
        f"| busiest tick | {busiest} runs |",
        f"| measured small-organization erp_sync run (whole graph, in-process) | {run_seconds:.1f} s |",
        f"| busiest tick's work: {busiest} × ({run_seconds:.1f} s + {RUN_PROCESS_START_SECONDS:.0f} s "
        f"process start), {PARALLEL_RUNS} at a time | {busiest_tick_seconds:.0f} s "
        f"({'within' if busiest_tick_seconds <= 300 else 'OVER'} the 5-minute tick) |",
        "",
        "The per-tick figure is an estimate from one measured run plus the measured process start,",
        "not a daemon load test. Runs of one organization never overlap (run-queue tag limit).",
        "The change check itself fetches each due organization's day once per tick, 8 in parallel.",
    ]
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def _small_run_seconds() -> float:
    """One erp_sync run of a 40-sale organization, through Dagster, in a throwaway database."""
    import os

    import dagster as dg

    from bench.database import bench_database
    from recompra_pipelines.db.engine import create_crm_engine
    from recompra_pipelines.orgfile.organization import OrgFile
    from recompra_pipelines.orgfile_store.writer import apply_org_file
    from recompra_pipelines.partitions import ORGANIZATIONS as ORG_PARTITIONS
    from recompra_pipelines.partitions import org_day_key

    os.environ.setdefault("WHATSAPP_GRAPH_URL", "http://127.0.0.1:9")
    simulator = OnlineSoftwareSimulator()
    simulator.configure("volume-small", sales_per_day=40)
    with bench_database() as db, simulator.run_in_thread() as url:
        engine = create_crm_engine(db.url)
        org = OrgFile.model_validate(
            {
                "id": "volume-small",
                "name": "Volume",
                "integration": {
                    "type": "ONLINE-SOFTWARE",
                    "server_url": url,
                    "token": "volume-small",
                },
                "cashback_program": {"accrual_type": "PERCENTUAL", "accrual_value": 5},
            }
        )
        with engine.begin() as conn:
            apply_org_file(conn, org)
        engine.dispose()
        os.environ["RECOMPRA_DATABASE_URL"] = db.url
        from recompra_pipelines.definitions import defs

        job = defs.resolve_job_def("erp_sync")
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions(ORG_PARTITIONS, ["volume-small"])
            # Warm up on the day before, then time a day with new sales (what a tick launches).
            job.execute_in_process(
                instance=instance,
                partition_key=org_day_key("volume-small", DAY - timedelta(days=1)),
            )
            started = time.perf_counter()
            result = job.execute_in_process(
                instance=instance, partition_key=org_day_key("volume-small", DAY)
            )
            seconds = time.perf_counter() - started
        assert result.success
    return seconds


if __name__ == "__main__":
    raise SystemExit(main())
