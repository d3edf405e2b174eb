"""The run requests of the once-a-day per-organization jobs (cashback expiry, lifecycle)."""

from datetime import timedelta

import dagster as dg

from recompra_pipelines.domain.sync_plan import latest_day_past_hour
from recompra_pipelines.partitions import ORGANIZATIONS, is_partition_day, org_day_key
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.sync.organizations import organizations_with_daily_work


def daily_run_requests(
    context: dg.ScheduleEvaluationContext,
    crm_db: CrmDatabase,
    *,
    hour: int,
    run_key_prefix: str,
    after_the_day: bool = False,
) -> list[dg.RunRequest]:
    """For each registered organization with daily work (whatever its ERP's state), its latest
    local day whose `hour` has passed - or, `after_the_day`, the day before it: a day that has
    ended - keyed `<prefix>:<org>:<day>` so each organization-day runs once however many ticks
    see it."""
    tick = context.scheduled_execution_time
    registered = set(context.instance.get_dynamic_partitions(ORGANIZATIONS))
    with crm_db.engine.connect() as conn:
        orgs = organizations_with_daily_work(conn)
    requests = []
    for org in orgs:
        if org.id not in registered:
            continue
        day = latest_day_past_hour(tick.astimezone(org.timezone), hour)
        if after_the_day:
            day -= timedelta(days=1)
        if is_partition_day(day, tick):
            requests.append(
                dg.RunRequest(
                    run_key=f"{run_key_prefix}:{org.id}:{day.isoformat()}",
                    partition_key=org_day_key(org.id, day),
                )
            )
    return requests
