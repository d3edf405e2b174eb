"""Per-tick overhead of a small organization's run, and backfill speed.

`python -m bench.overhead [--days N]`:
- the `erp_sync` run of a small organization (40 sales) against an empty Dagster run of the
  same graph shape (the same asset keys, dependencies and checks, bodies that do nothing),
  both in-process after a warm-up, interleaved, median of 7 (target ≤ 1.5);
- a backfill of one organization with ~300 sales a day over N consecutive days (default 30),
  one run per partition as the daemon would, in partitions per minute, and what that means
  for 365 days.
Writes `bench/results/overhead.md`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from bench.database import bench_database
from recompra_pipelines.simulators.erp_online_software import OnlineSoftwareSimulator

RESULTS = Path(__file__).parent / "results" / "overhead.md"
LAST_DAY = date(2026, 11, 20)
REPEATS = 7


def empty_graph_job(defs: dg.Definitions) -> dg.JobDefinition:
    """A job with the erp_sync graph's shape - same asset keys, deps and checks - doing nothing."""
    from recompra_pipelines.automation.erp_sync import SYNC_GRAPH
    from recompra_pipelines.partitions import org_day_partitions

    graph = defs.resolve_asset_graph()
    keys = SYNC_GRAPH.resolve(graph)
    assets, checks = [], []
    for key in keys:
        parents = [p for p in graph.get(key).parent_keys if p in keys]

        @dg.asset(key=key, deps=parents, partitions_def=org_day_partitions, group_name="empty")
        def _empty_asset() -> dg.MaterializeResult:
            return dg.MaterializeResult()

        assets.append(_empty_asset)
    # One empty step per checks definition, as the real job runs them (a multi-asset check is
    # one step for all its checks).
    for definition in defs.asset_checks:
        specs = [spec for spec in definition.check_specs if spec.asset_key in keys]
        if not specs:
            continue

        @dg.multi_asset_check(
            name=f"empty_{definition.node_def.name}", specs=specs, can_subset=True
        )
        def _empty_checks(context):
            for key in context.selected_asset_check_keys:
                yield dg.AssetCheckResult(asset_key=key.asset_key, check_name=key.name, passed=True)

        checks.append(_empty_checks)
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[
            dg.define_asset_job(
                "empty_erp_sync",
                partitions_def=org_day_partitions,
                executor_def=dg.in_process_executor,
            )
        ],
    ).resolve_job_def("empty_erp_sync")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30, help="days to backfill (default 30)")
    args = parser.parse_args(argv)
    os.environ.setdefault("WHATSAPP_GRAPH_URL", "http://127.0.0.1:9")

    from recompra_pipelines.db.engine import create_crm_engine
    from recompra_pipelines.orgfile.organization import OrgFile
    from recompra_pipelines.orgfile_store.writer import apply_org_file
    from recompra_pipelines.partitions import ORGANIZATIONS, org_day_key

    simulator = OnlineSoftwareSimulator()
    simulator.configure("overhead-small", sales_per_day=40)
    simulator.configure("overhead-backfill", sales_per_day=300)
    with bench_database() as db, simulator.run_in_thread() as url:
        engine = create_crm_engine(db.url)
        for org_id in ("overhead-small", "overhead-backfill"):
            org = OrgFile.model_validate(
                {
                    "id": org_id,
                    "name": org_id,
                    "effects_start": str(LAST_DAY - timedelta(days=400)),
                    "integration": {"type": "ONLINE-SOFTWARE", "server_url": url, "token": org_id},
                    "cashback_program": {"accrual_type": "PERCENTUAL", "accrual_value": 5},
                    "campaigns": [
                        {"key": "primeira", "title": "Primeira", "trigger": "PRIMEIRA-COMPRA"}
                    ],
                }
            )
            with engine.begin() as conn:
                apply_org_file(conn, org)
        engine.dispose()
        os.environ["RECOMPRA_DATABASE_URL"] = db.url
        from recompra_pipelines.definitions import defs

        real = defs.resolve_job_def("erp_sync")
        empty = empty_graph_job(defs)
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions(ORGANIZATIONS, ["overhead-small", "overhead-backfill"])

            def timed(job: dg.JobDefinition, day: date, org_id: str = "overhead-small") -> float:
                started = time.perf_counter()
                result = job.execute_in_process(
                    instance=instance, partition_key=org_day_key(org_id, day)
                )
                assert result.success
                return time.perf_counter() - started

            days = [LAST_DAY - timedelta(days=n) for n in range(REPEATS + 1)]
            timed(real, days[-1])  # warm-up: imports, first connections
            timed(empty, days[-1])
            # Interleaved, so drift on a shared machine (other work, caches) hits both alike.
            pairs = [(timed(real, day), timed(empty, day)) for day in days[:REPEATS]]
            real_seconds = statistics.median(real for real, _ in pairs)
            empty_seconds = statistics.median(empty for _, empty in pairs)

            backfill_days = [LAST_DAY - timedelta(days=n) for n in range(args.days)][::-1]
            started = time.perf_counter()
            for day in backfill_days:
                timed(real, day, "overhead-backfill")
            backfill_seconds = time.perf_counter() - started

    per_minute = len(backfill_days) / backfill_seconds * 60
    ratio = real_seconds / empty_seconds
    lines = [
        "# Run overhead and backfill speed",
        "",
        "| figure | value | target |",
        "|---|---|---|",
        f"| small organization (40 sales): erp_sync run, in-process, median of {REPEATS} | {real_seconds:.2f} s | — |",
        f"| empty run of the same graph shape (same assets, deps, checks; no work) | {empty_seconds:.2f} s | — |",
        f"| per-tick cost vs the empty run | {ratio:.2f} | ≤ 1.5 {'met' if ratio <= 1.5 else 'NOT met'} |",
        f"| backfill, ~300 sales/day, {len(backfill_days)} days, one run per partition | "
        f"{per_minute:.1f} partitions/min | — |",
        f"| 365 days at that speed, one run at a time | {365 / per_minute:.0f} min | — |",
        "",
        "In-process runs: under the daemon each run also starts a process that imports the code",
        "location (about 5 s here), the same for the empty graph and the real one.",
    ]
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
