"""The run requests of the once-a-day per-organization jobs (cashback expiry, lifecycle)."""

from datetime import timedelta

import dagster as dg
from dagster._core.storage.tags import PARTITION_NAME_TAG

from recompra_pipelines.domain.sync_plan import latest_day_past_hour
from recompra_pipelines.partitions import ORGANIZATIONS, is_partition_day, org_day_key
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.sync.organizations import organizations_with_daily_work

# A day's run that succeeded or is under way: the day is not requested again. A failed or
# cancelled one is, on the next hourly tick.
DONE_OR_UNDER_WAY = [
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
# A day is requested for 24 hours after its hour (the day before it, `after_the_day`), so its
# runs are at most this old.
RUN_LOOKBACK = timedelta(days=2)


def daily_run_requests(
    context: dg.ScheduleEvaluationContext,
    crm_db: CrmDatabase,
    *,
    job_name: str,
    hour: int,
    run_key_prefix: str,
    after_the_day: bool = False,
) -> list[dg.RunRequest]:
    """For each registered organization with daily work (whatever its ERP's state), its latest
    local day whose `hour` has passed - or, `after_the_day`, the day before it: a day that has
    ended - unless that day already has a run of `job_name` that succeeded or is under way.

    The hourly schedule sees the same day 24 times, and Dagster deduplicates a schedule's run
    keys only within one tick, so the day's own runs are what make it run once. The run key
    (`<prefix>:<org>:<day>`) names the organization and day for the operator.
    """
    tick = context.scheduled_execution_time
    registered = set(context.instance.get_dynamic_partitions(ORGANIZATIONS))
    with crm_db.engine.connect() as conn:
        orgs = organizations_with_daily_work(conn)
    already = {
        run.tags.get(PARTITION_NAME_TAG)
        for run in context.instance.get_runs(
            filters=dg.RunsFilter(
                job_name=job_name,
                statuses=DONE_OR_UNDER_WAY,
                created_after=tick - RUN_LOOKBACK,
            )
        )
    }
    requests = []
    for org in orgs:
        if org.id not in registered:
            continue
        day = latest_day_past_hour(tick.astimezone(org.timezone), hour)
        if after_the_day:
            day -= timedelta(days=1)
        key = org_day_key(org.id, day)
        if is_partition_day(day, tick) and str(key) not in already:
            requests.append(
                dg.RunRequest(
                    run_key=f"{run_key_prefix}:{org.id}:{day.isoformat()}", partition_key=key
                )
            )
    return requests
