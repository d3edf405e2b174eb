"""The `lifecycle_daily` job (RFM and the daily campaigns) and its schedule."""

import dagster as dg

from recompra_pipelines.asset_groups import AssetGroup
from recompra_pipelines.automation.daily import daily_run_requests
from recompra_pipelines.domain.local_time import DEFAULT_TIMEZONE
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.resources.settings import RecompraSettings

lifecycle_job = dg.define_asset_job(
    "lifecycle_daily",
    selection=dg.AssetSelection.groups(AssetGroup.LIFECYCLE.value),
    executor_def=dg.in_process_executor,
    description="RFM and the once-a-day campaigns of one organization-local day.",
)


@dg.schedule(
    cron_schedule="10 * * * *",
    job=lifecycle_job,
    execution_timezone=DEFAULT_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def lifecycle_schedule(
    context: dg.ScheduleEvaluationContext, crm_db: CrmDatabase, settings: RecompraSettings
):
    """Hourly: for each organization with a cashback program or an active campaign, the local
    day that ended, once ``RECOMPRA_LIFECYCLE_HOUR`` (default 2) of the next day has passed
    there: RFM as of the end of that day, and the campaigns of the morning after. Once per
    organization and day: not again while that day's run succeeded or is under way. A missed
    range is backfilled from the UI (Assets → rfm_analysis), in day order."""
    return daily_run_requests(
        context,
        crm_db,
        job_name=lifecycle_job.name,
        hour=settings.lifecycle_local_hour(),
        run_key_prefix="lifecycle",
        after_the_day=True,
    )
