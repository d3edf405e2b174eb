"""The run requests of the once-a-day per-organization jobs (cashback expiry, lifecycle)."""

from datetime import timedelta

import dagster as dg

from recompra_pipelines.automation.run_status import IN_PROGRESS
from recompra_pipelines.automation.tick_log import Decision, TickDecisions
from recompra_pipelines.domain.sync_plan import latest_day_past_hour
from recompra_pipelines.partitions import ORGANIZATIONS, is_partition_day, org_day_key
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.sync.organizations import organizations_with_daily_work

RUN_KEY_TAG = "dagster/run_key"
# A day's run that succeeded or is under way: the day is not requested again. A failed or
# cancelled one is, on the next hourly tick (a transient failure must not leave a day's
# expiry or lifecycle undone until someone backfills it).
DONE_OR_UNDER_WAY = [dg.DagsterRunStatus.SUCCESS, *IN_PROGRESS]


def daily_run_requests(
    context: dg.ScheduleEvaluationContext,
    crm_db: CrmDatabase,
    *,
    job_name: str,
    hour: int,
    run_key_prefix: str,
    after_the_day: bool = False,
) -> list[dg.RunRequest] | dg.SkipReason:
    """For each registered organization with daily work (whatever its ERP's state), its latest
    local day whose `hour` has passed - or, `after_the_day`, the day before it: a day that has
    ended - keyed `<prefix>:<org>:<day>`. Dagster deduplicates a schedule's run keys within one
    tick only, so the day's own runs decide: one that succeeded or is under way means the day is
    done; after a failed one the day is requested again. Each organization's decision is a line
    of the tick's log."""
    tick = context.scheduled_execution_time
    decisions = TickDecisions(context.log)
    registered = set(context.instance.get_dynamic_partitions(ORGANIZATIONS))
    with crm_db.engine.connect() as conn:
        orgs = organizations_with_daily_work(conn)
    candidates: dict[str, tuple[str, object]] = {}
    for org in orgs:
        if org.id not in registered:
            decisions.record(org.id, Decision.NOT_REGISTERED, "the organizations sensor adds it")
            continue
        day = latest_day_past_hour(tick.astimezone(org.timezone), hour)
        if after_the_day:
            day -= timedelta(days=1)
        if not is_partition_day(day, tick):
            decisions.record(f"{org.id} {day}", Decision.NOT_DUE, "not a partition yet")
            continue
        candidates[f"{run_key_prefix}:{org.id}:{day.isoformat()}"] = (org.id, day)
    already = _runs_by_key(context.instance, job_name, list(candidates))
    requests = []
    for run_key, (org_id, day) in candidates.items():
        subject = f"{org_id} {day}"
        if run_key in already:
            run = already[run_key]
            decisions.record(subject, Decision.ALREADY_RUN, f"run {run.run_id} {run.status.value}")
            continue
        decisions.record(subject, Decision.LAUNCHED, f"local hour {hour:02d}:00 has passed")
        requests.append(dg.RunRequest(run_key=run_key, partition_key=org_day_key(org_id, day)))
    return requests or decisions.skip_reason()


def _runs_by_key(
    instance: dg.DagsterInstance, job_name: str, run_keys: list[str]
) -> dict[str, dg.DagsterRun]:
    if not run_keys:
        return {}
    runs = instance.get_runs(
        filters=dg.RunsFilter(
            job_name=job_name, tags={RUN_KEY_TAG: run_keys}, statuses=DONE_OR_UNDER_WAY
        )
    )
    return {run.tags[RUN_KEY_TAG]: run for run in runs}
