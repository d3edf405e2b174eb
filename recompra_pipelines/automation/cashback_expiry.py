"""The `cashback_daily` job (cashback expiry) and its schedule: one run per organization-local day."""

import dagster as dg

from recompra_pipelines.automation.daily import daily_run_requests
from recompra_pipelines.domain.local_time import DEFAULT_TIMEZONE
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.resources.settings import RecompraSettings

cashback_expiry_job = dg.define_asset_job(
    "cashback_daily",
    selection=dg.AssetSelection.assets("cashback_expiry"),
    executor_def=dg.in_process_executor,
    description="Write off the cashback lots due on one organization-local day.",
)


@dg.schedule(
    cron_schedule="5 * * * *",
    job=cashback_expiry_job,
    execution_timezone=DEFAULT_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def cashback_expiry_schedule(
    context: dg.ScheduleEvaluationContext, crm_db: CrmDatabase, settings: RecompraSettings
):
    """Hourly: for each organization with a cashback program or an active campaign (whatever
    its ERP's state), its latest local day whose expiry hour (``RECOMPRA_CASHBACK_EXPIRY_HOUR``)
    has passed, unless that day's run
    succeeded or is under way (a failed one is retried the next hour); a missed day is
    backfilled from the UI (Assets → cashback_expiry)."""
    return daily_run_requests(
        context,
        crm_db,
        job_name=cashback_expiry_job.name,
        hour=settings.cashback_expiry_local_hour(),
        run_key_prefix="cashback-expiry",
    )
