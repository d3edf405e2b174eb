"""The daily maintenance job (retention) and its schedule."""

import dagster as dg

MAINTENANCE_TIMEZONE = "America/Sao_Paulo"
# The maintenance job is every asset of the `maintenance` group (automation never imports assets).
MAINTENANCE_GROUP = "maintenance"

erp_retention_job = dg.define_asset_job(
    "erp_retention_job",
    selection=dg.AssetSelection.groups(MAINTENANCE_GROUP),
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
