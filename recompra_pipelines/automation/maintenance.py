"""The daily maintenance jobs (retention of the CRM's raw extracts, of Dagster's history) and
their schedules."""

from datetime import UTC

import dagster as dg

from recompra_pipelines.automation.tick_log import Decision, TickDecisions
from recompra_pipelines.domain.local_time import DEFAULT_TIMEZONE
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.sync.organizations import organization_ids

MAINTENANCE_TIMEZONE = DEFAULT_TIMEZONE

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


dagster_history_retention_job = dg.define_asset_job(
    "dagster_history_retention_job",
    selection=dg.AssetSelection.assets("dagster_history_retention"),
    executor_def=dg.in_process_executor,
    description="Delete Dagster's runs, event logs and ticks past their retention.",
)

# 04:30 in São Paulo: the quietest hour of the fleet (after the 04:00 catalog sync), so the
# deletes do not compete with syncs. One run for the whole instance, nothing to decide per
# organization.
dagster_history_retention_schedule = dg.ScheduleDefinition(
    name="dagster_history_retention_schedule",
    job=dagster_history_retention_job,
    cron_schedule="30 4 * * *",
    execution_timezone=MAINTENANCE_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
