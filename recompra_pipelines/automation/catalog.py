"""The daily catalog job and its schedule (the old products sync was never scheduled)."""

import dagster as dg

from recompra_pipelines.assets.catalog import erp_catalog
from recompra_pipelines.automation.tick_log import Decision, TickDecisions
from recompra_pipelines.domain.local_time import DEFAULT_TIMEZONE
from recompra_pipelines.partitions import ORGANIZATIONS
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.sync.catalog_steps import has_catalog
from recompra_pipelines.sync.organizations import integrated_organizations

CATALOG_TIMEZONE = DEFAULT_TIMEZONE

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
    (CardápioWeb), keyed by organization and day so a day runs once. Each organization's
    decision is a line of the tick's log."""
    day = context.scheduled_execution_time.date().isoformat()
    decisions = TickDecisions(context.log)
    registered = set(context.instance.get_dynamic_partitions(ORGANIZATIONS))
    with crm_db.engine.connect() as conn:
        orgs = integrated_organizations(conn)
    requests = []
    for org in orgs:
        if not org.integration_active:
            decisions.record(org.id, Decision.INACTIVE, "its integration is deactivated")
        elif org.id not in registered:
            decisions.record(org.id, Decision.NOT_REGISTERED, "the organizations sensor adds it")
        elif not has_catalog(org.integration_type):
            decisions.record(org.id, Decision.NOT_DUE, f"{org.integration_type} has no catalog")
        else:
            decisions.record(org.id, Decision.LAUNCHED, f"the catalog of {day}")
            requests.append(dg.RunRequest(run_key=f"catalog:{org.id}:{day}", partition_key=org.id))
    return requests or decisions.skip_reason()
