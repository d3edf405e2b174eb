"""Backfills the way the UI launches them: Dagster's GraphQL `launchPartitionBackfill`, run by
the backfill daemon's own iteration, each run executed as the daemon would submit it."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import sqlalchemy as sa
from click.testing import CliRunner
from dagster_webserver.app import create_app_from_workspace_process_context

from recompra_pipelines.cli import main
from recompra_pipelines.definitions import defs
from recompra_pipelines.partitions import ORGANIZATIONS
from recompra_pipelines.simulators.serving import serve_in_thread
from recompra_pipelines_tests.dagster_daemon import (
    backfill_runs,
    launch_asset_backfill,
    run_backfills,
)
from recompra_pipelines_tests.helpers import count, new_org

FIRST_DAY = date(2026, 10, 5)
# Every check of the sync graph, as a scheduled run evaluates them.
SYNC_CHECKS = defs.resolve_job_def("erp_sync").asset_layer.asset_graph.asset_check_keys
DAYS = [FIRST_DAY + timedelta(days=n) for n in range(3)]


def _failure_messages(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[str]:
    return [
        event.dagster_event.step_failure_data.error.message
        for event in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    ]


def test_materializing_crm_sales_alone_over_never_fetched_days_fails_saying_what_to_run(
    daemon, database_url, engine, erp_simulator
):
    instance, workspace = daemon
    _, url = erp_simulator
    org_id, _ = new_org(engine, url, effects_start="2026-01-01")
    instance.add_dynamic_partitions(ORGANIZATIONS, [org_id])
    keys = [f"{day}|{org_id}" for day in DAYS]

    backfill_id = launch_asset_backfill(workspace, ["crm_sales"], keys)
    run_backfills(workspace)

    runs = backfill_runs(instance, backfill_id)
    assert sorted(run.tags["dagster/partition"] for run in runs) == keys
    for run in runs:
        assert run.status == dg.DagsterRunStatus.FAILURE
        day = run.tags["dagster/partition/date"]
        [message] = _failure_messages(instance, run)
        assert f"organization {org_id}, day {day}: crm_sales cannot run: no ERP extract" in message
        assert "erp_sync" in message and f"recompra backfill --org {org_id}" in message
    # Never "materialized" with zero rows: no partition of the asset counts as materialized.
    assert not set(keys) & instance.get_materialized_partitions(dg.AssetKey("crm_sales"))
    assert count(engine, "SELECT count(*) FROM sales WHERE organizacao_id = :o", o=org_id) == 0


def test_recompra_backfill_runs_the_sync_job_like_the_schedule_one_run_per_day(
    daemon, database_url, engine, erp_simulator
):
    instance, workspace = daemon
    simulator, url = erp_simulator
    org_id, token = new_org(
        engine,
        url,
        effects_start="2026-01-01",
        cashback_program={"accrual_type": "PERCENTUAL", "accrual_value": 5},
    )
    simulator.configure(token, sales_per_day=12)
    instance.add_dynamic_partitions(ORGANIZATIONS, [org_id])

    app = create_app_from_workspace_process_context(workspace)
    with serve_in_thread(app, name="Dagster webserver") as dagster_url:
        result = CliRunner().invoke(
            main,
            ["backfill", "--org", org_id, "--from", str(DAYS[0]), "--to", str(DAYS[-1]),
             "--dagster-url", dagster_url],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        refused = CliRunner().invoke(
            main,
            ["backfill", "--org", "nao-registrada", "--from", str(DAYS[0]), "--to", str(DAYS[0]),
             "--dagster-url", dagster_url],
        )  # fmt: skip
    assert refused.exit_code != 0 and "not registered" in refused.output
    backfill_id = result.output.split()[1].rstrip(":")
    assert "3 partition(s) of erp_sync" in result.output
    run_backfills(workspace)

    runs = backfill_runs(instance, backfill_id)
    assert sorted(run.tags["dagster/partition/date"] for run in runs) == [str(d) for d in DAYS]
    for run in runs:
        assert run.job_name == "erp_sync" and run.status == dg.DagsterRunStatus.SUCCESS
        # The run queue's one-run-per-organization limit keys on this tag.
        assert run.tags["dagster/partition/org"] == org_id
        evaluations = [
            event.asset_check_evaluation
            for event in instance.all_logs(
                run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
            )
        ]
        assert len(evaluations) == len(SYNC_CHECKS) and all(e.passed for e in evaluations)
    with engine.connect() as conn:
        loaded = dict(
            conn.execute(
                sa.text(
                    "SELECT data_referencia, count(*) FROM sales WHERE organizacao_id = :o"
                    " GROUP BY 1"
                ),
                {"o": org_id},
            ).all()
        )
        accruals = conn.scalar(
            sa.text(
                "SELECT count(*) FROM cashback_program_transactions"
                " WHERE organizacao_id = :o AND tipo = 'ACÚMULO'"
            ),
            {"o": org_id},
        )
    # Every sale the ERP listed (a repeated "troco" id is one sale), as a scheduled run loads it.
    assert loaded == {day: len({s["id"] for s in simulator.sales_for(token, day)}) for day in DAYS}
    assert accruals > 0
