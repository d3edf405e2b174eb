"""A backfill launched from the UI against scheduled runs of the same days, per partition.

`python -m bench.backfill [--days N]`: two organizations with the same ERP data (~300 sales a
day, the same simulator token), synced for the first time over the same N days (default 4):
- the UI's way: Dagster's GraphQL `launchPartitionBackfill` for the sync graph's assets (what
  Assets → select → Materialize → partitions sends), executed by the backfill daemon's own
  iteration and the run queue;
- the schedule's way: one `erp_sync` run per day, queued with the partition's tags as a
  schedule's run request is, launched by the same run queue.
Days alternate between the two, so drift on a shared machine hits both alike; runs execute
in this process (no process start, the same for both). It also times one partition of the
UI's way with Dagster's default executor — a process per step, what UI backfills ran with
before every job was given the in-process executor — and counts the steps of an `erp_sync`
run now and with one step per check. Writes `bench/results/backfill.md`.
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

RESULTS = Path(__file__).parent / "results" / "backfill.md"
FIRST_DAY = date(2026, 10, 1)
TOKEN = "bench-backfill"
ORGS = ("bf-ui", "bf-scheduled", "bf-before")


def _legacy_definitions() -> dg.Definitions:
    """The same assets, checks and resources under Dagster's default (multiprocess) executor."""
    from recompra_pipelines.definitions import defs

    return dg.Definitions(
        assets=list(defs.assets), asset_checks=list(defs.asset_checks), resources=defs.resources
    )


def __getattr__(name: str):
    # Loaded by name as a code location of its own (`bench.backfill:legacy_defs`).
    if name == "legacy_defs":
        return _legacy_definitions()
    raise AttributeError(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=4, help="days per way (default 4)")
    args = parser.parse_args(argv)
    os.environ.setdefault("WHATSAPP_GRAPH_URL", "http://127.0.0.1:9")
    os.environ["RECOMPRA_WHATSAPP_DISPATCH"] = "off"

    from recompra_pipelines.asset_groups import SYNC_GRAPH_ASSETS
    from recompra_pipelines.db.engine import create_crm_engine
    from recompra_pipelines.orgfile.organization import OrgFile
    from recompra_pipelines.orgfile_store.writer import apply_org_file
    from recompra_pipelines.partitions import ORGANIZATIONS, org_day_key
    from recompra_pipelines_tests.dagster_daemon import (
        backfill_runs,
        daemon_workspace,
        in_memory_instance,
        launch_asset_backfill,
        launch_partition_run,
        run_backfills,
        run_queue,
    )

    days = [FIRST_DAY + timedelta(days=n) for n in range(args.days + 1)]
    simulator = OnlineSoftwareSimulator()
    simulator.configure(TOKEN, sales_per_day=300)
    with bench_database() as db, simulator.run_in_thread() as url:
        engine = create_crm_engine(db.url)
        for org_id in ORGS:
            org = OrgFile.model_validate(
                {
                    "id": org_id,
                    "name": org_id,
                    "effects_start": "2026-01-01",
                    "integration": {"type": "ONLINE-SOFTWARE", "server_url": url, "token": TOKEN},
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

        job = defs.resolve_job_def("erp_sync")
        steps_now = len(job.graph.node_defs)
        steps_one_per_check = len(job.asset_layer.executable_asset_keys) + len(
            job.asset_layer.asset_graph.asset_check_keys
        )
        with in_memory_instance() as instance, daemon_workspace(instance) as workspace:
            instance.add_dynamic_partitions(ORGANIZATIONS, list(ORGS))

            def ui_backfill(org_id: str, day: date, space=workspace) -> float:
                started = time.perf_counter()
                backfill = launch_asset_backfill(
                    space, list(SYNC_GRAPH_ASSETS), [str(org_day_key(org_id, day))]
                )
                run_backfills(space)
                elapsed = time.perf_counter() - started
                [run] = backfill_runs(instance, backfill)
                assert run.status == dg.DagsterRunStatus.SUCCESS, run.run_id
                return elapsed

            def scheduled(org_id: str, day: date) -> float:
                started = time.perf_counter()
                run_id = launch_partition_run(workspace, "erp_sync", str(org_day_key(org_id, day)))
                run_queue(workspace)
                elapsed = time.perf_counter() - started
                assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS
                return elapsed

            warm_up = days.pop()
            scheduled("bf-scheduled", warm_up)  # imports, first connections
            ui_backfill("bf-ui", warm_up)
            pairs = [(ui_backfill("bf-ui", day), scheduled("bf-scheduled", day)) for day in days]
            ui_run = backfill_runs(instance, instance.get_backfills()[0].backfill_id)[0]
            ui_steps = len(instance.all_logs(ui_run.run_id, of_type=dg.DagsterEventType.STEP_START))
            with daemon_workspace(
                instance, module="bench.backfill", attribute="legacy_defs"
            ) as old:
                before = ui_backfill("bf-before", days[0], space=old)

    ui = statistics.median(u for u, _ in pairs)
    sched = statistics.median(s for _, s in pairs)
    ratio = ui / sched
    lines = [
        "# UI backfill vs scheduled runs, per partition",
        "",
        f"~300 sales a day, first sync of each day, {len(days)} days each way (medians; the",
        "runs execute in the benchmark's process, so neither pays a process start).",
        "",
        "| figure | value | target |",
        "|---|---|---|",
        f"| UI backfill (GraphQL launchPartitionBackfill → backfill daemon → run queue), per partition | {ui:.2f} s | — |",
        f"| scheduled erp_sync run of the same day, per partition | {sched:.2f} s | — |",
        f"| UI backfill ÷ scheduled run | {ratio:.2f} | ≤ 1.5 {'met' if ratio <= 1.5 else 'NOT met'} |",
        f"| UI backfill with a process per step (Dagster's default executor, as before) | {before:.2f} s ({before / sched:.1f}×) | — |",
        f"| steps per erp_sync run | {steps_now} (a UI backfill run: {ui_steps}) | — |",
        f"| steps per erp_sync run with one step per check (as before this change) | {steps_one_per_check} | — |",
    ]
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
