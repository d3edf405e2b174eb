"""The daily maintenance jobs (retention of the CRM's raw extracts, of Dagster's history) and
their schedules."""

import dagster as dg

MAINTENANCE_TIMEZONE = "America/Sao_Paulo"

# Each job selects its asset by key (automation never imports assets).
erp_retention_job = dg.define_asset_job(
    "erp_retention_job",
    selection=dg.AssetSelection.assets("erp_retention"),
    executor_def=dg.in_process_executor,
    description="Delete raw ERP extracts and quarantined records past their retention.",
)

# 03:30 in São Paulo: after the lookback syncs of the night, before the stores open.
erp_retention_schedule = dg.ScheduleDefinition(
    name="erp_retention_schedule",
    job=erp_retention_job,
    cron_schedule="30 3 * * *",
    execution_timezone=MAINTENANCE_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

dagster_history_retention_job = dg.define_asset_job(
    "dagster_history_retention_job",
    selection=dg.AssetSelection.assets("dagster_history_retention"),
    executor_def=dg.in_process_executor,
    description="Delete Dagster's runs, event logs and ticks past their retention.",
)

# 04:30 in São Paulo: the quietest hour of the fleet (after the 04:00 catalog sync), so the
# deletes do not compete with syncs.
dagster_history_retention_schedule = dg.ScheduleDefinition(
    name="dagster_history_retention_schedule",
    job=dagster_history_retention_job,
    cron_schedule="30 4 * * *",
    execution_timezone=MAINTENANCE_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
