"""The daily maintenance job (retention) and its schedule."""

from datetime import UTC

import dagster as dg

from recompra_pipelines.automation.tick_log import Decision, TickDecisions
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.sync.organizations import organization_ids

MAINTENANCE_TIMEZONE = "America/Sao_Paulo"

erp_retention_job = dg.define_asset_job(
    "erp_retention_job",
    selection=dg.AssetSelection.assets("erp_retention"),
    executor_def=dg.in_process_executor,
    description="Delete raw ERP extracts and quarantined records past their retention.",
)


# 03:30 in São Paulo: after the lookback syncs of the night, before the stores open.
@dg.schedule(
    cron_schedule="30 3 * * *",
    job=erp_retention_job,
    execution_timezone=MAINTENANCE_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def erp_retention_schedule(context: dg.ScheduleEvaluationContext, crm_db: CrmDatabase):
    """Daily: one retention run over every organization (one transaction each)."""
    decisions = TickDecisions(context.log)
    with crm_db.engine.connect() as conn:
        for org_id in organization_ids(conn):
            decisions.record(
                org_id, Decision.LAUNCHED, "one retention run covers every organization"
            )
    tick = context.scheduled_execution_time.astimezone(UTC)
    return dg.RunRequest(run_key=f"retention@{tick:%Y%m%dT%H%M}")
