"""The `lifecycle_daily` job (RFM and the daily campaigns) and its schedule."""

from datetime import date, datetime, timedelta

import dagster as dg

from recompra_pipelines.assets.lifecycle import LIFECYCLE_GROUP
from recompra_pipelines.partitions import (
    ORGANIZATIONS,
    is_partition_day,
    org_day_key,
    org_day_partitions,
)
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.sync.lifecycle_steps import lifecycle_hour
from recompra_pipelines.sync.organizations import active_integrated_organizations

lifecycle_job = dg.define_asset_job(
    "lifecycle_daily",
    selection=dg.AssetSelection.groups(LIFECYCLE_GROUP),
    partitions_def=org_day_partitions,
    executor_def=dg.in_process_executor,
    description="RFM and the once-a-day campaigns of one organization-local day.",
)


def latest_lifecycle_day(local_now: datetime, hour: int) -> date:
    """The organization-local day whose lifecycle hour has passed most recently."""
    today = local_now.date()
    return today if local_now.hour >= hour else today - timedelta(days=1)


@dg.schedule(
    cron_schedule="10 * * * *",
    job=lifecycle_job,
    execution_timezone="America/Sao_Paulo",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def lifecycle_schedule(context: dg.ScheduleEvaluationContext, crm_db: CrmDatabase):
    """Hourly: for each registered active organization, its local day once
    ``RECOMPRA_LIFECYCLE_HOUR`` (default 2) has passed there. One run key per organization
    and day; a missed range is backfilled from the UI (Assets → rfm_analysis), in day order."""
    tick = context.scheduled_execution_time
    registered = set(context.instance.get_dynamic_partitions(ORGANIZATIONS))
    with crm_db.engine.connect() as conn:
        orgs = active_integrated_organizations(conn)
    hour = lifecycle_hour()
    requests = []
    for org in orgs:
        if org.id not in registered:
            continue
        day = latest_lifecycle_day(tick.astimezone(org.timezone), hour)
        if not is_partition_day(day, tick):
            continue
        requests.append(
            dg.RunRequest(
                run_key=f"lifecycle:{org.id}:{day.isoformat()}",
                partition_key=org_day_key(org.id, day),
            )
        )
    if not requests:
        return dg.SkipReason("no organization is due for its daily lifecycle run")
    return requests
