"""The daily catalog job and its schedule (the old products sync was never scheduled)."""

import dagster as dg

from recompra_pipelines.assets.catalog import erp_catalog
from recompra_pipelines.partitions import ORGANIZATIONS
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.sync.catalog_steps import has_catalog
from recompra_pipelines.sync.organizations import active_integrated_organizations

CATALOG_TIMEZONE = "America/Sao_Paulo"

erp_catalog_job = dg.define_asset_job(
    "erp_catalog_job",
    selection=dg.AssetSelection.assets(erp_catalog),
    executor_def=dg.in_process_executor,
    description="Sync an organization's product catalog from its ERP.",
)


# 04:00 in São Paulo: before the stores open, after the night's lookback syncs.
@dg.schedule(
    cron_schedule="0 4 * * *",
    job=erp_catalog_job,
    execution_timezone=CATALOG_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def erp_catalog_schedule(context: dg.ScheduleEvaluationContext, crm_db: CrmDatabase):
    """Daily: one run per registered organization whose active ERP integration has a catalog
    (CardápioWeb), keyed by organization and day so a day runs once."""
    day = context.scheduled_execution_time.date().isoformat()
    registered = set(context.instance.get_dynamic_partitions(ORGANIZATIONS))
    with crm_db.engine.connect() as conn:
        orgs = active_integrated_organizations(conn)
    requests = [
        dg.RunRequest(run_key=f"catalog:{org.id}:{day}", partition_key=org.id)
        for org in orgs
        if org.id in registered and has_catalog(org.integration_type)
    ]
    if not requests:
        return dg.SkipReason("no organization with a catalog to sync")
    return requests
