"""The `erp_sync` job, its 5-minute schedule and the organizations sensor."""

from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, date, datetime

import dagster as dg

from recompra_pipelines.asset_groups import SYNC_GRAPH_ASSETS, SYNC_JOB
from recompra_pipelines.automation.run_status import IN_PROGRESS
from recompra_pipelines.automation.tick_log import Decision, TickDecisions
from recompra_pipelines.db.sales_load import days_with_unconfirmed_absences
from recompra_pipelines.domain.local_time import DEFAULT_TIMEZONE
from recompra_pipelines.domain.sync_plan import days_to_sync
from recompra_pipelines.partitions import (
    ORGANIZATIONS,
    PARTITION_TAG,
    is_partition_day,
    org_day_key,
    organization_partitions,
)
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.resources.settings import RecompraSettings
from recompra_pipelines.sync import steps
from recompra_pipelines.sync.change_check import ContentCheck
from recompra_pipelines.sync.organizations import (
    integrated_organizations,
    organizations_with_daily_work,
)

SYNC_TIMEZONE = DEFAULT_TIMEZONE

# The per org x day sync graph, with the checks of its assets.
SYNC_GRAPH = dg.AssetSelection.assets(*SYNC_GRAPH_ASSETS)

# Every request, fetch and statement of a sync has its own deadline; should a run hang anyway
# (anything else), run monitoring (dagster.yaml) stops it after this long, which frees the
# organization's run slot for the next tick.
SYNC_RUN_MAX_SECONDS = 15 * 60

erp_sync_job = dg.define_asset_job(
    SYNC_JOB,
    selection=SYNC_GRAPH,
    executor_def=dg.in_process_executor,
    description="Sync one organization's day from its ERP into the CRM: sales, cashback, "
    "campaigns, attribution and immediate messages. Backfill it from this page (Materialize "
    "all → organizations and a date range) or with `recompra backfill`.",
    tags={"dagster/max_runtime": str(SYNC_RUN_MAX_SECONDS)},
)


# The run tag naming the ERP content a scheduled run was launched for.
CONTENT_HASH_TAG = "recompra/erp_content_hash"
# How long a tick may spend asking the ERPs whether anything changed (the daemon gives a tick
# 60 s); an organization whose answer is not back by then is synced anyway.
CHANGE_CHECK_BUDGET_SECONDS = 40.0


@dataclass(frozen=True)
class DuePartition:
    org_id: str
    day: date

    @property
    def key(self) -> dg.MultiPartitionKey:
        return org_day_key(self.org_id, self.day)

    @property
    def subject(self) -> str:
        return f"{self.org_id} {self.day}"


@dg.schedule(
    cron_schedule="*/5 * * * *",
    job=erp_sync_job,
    execution_timezone=SYNC_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def erp_sync_schedule(
    context: dg.ScheduleEvaluationContext, crm_db: CrmDatabase, settings: RecompraSettings
):
    """Every 5 minutes: today for every active organization, the lookback days less often.

    A partition is skipped when its previous run is still queued or running (a slow ERP never
    piles runs up), and when the ERP's answer for the day is exactly the content the last
    successful run processed (its hash is a run tag): 288 runs a day per organization become
    one per actual change, plus one to confirm that a sale missing from an answer is gone. The
    check fetches the day once, in parallel across organizations and within a time budget; an
    organization whose check fails or is late is synced anyway. Each organization's decision
    is a line of the tick's log.
    """
    tick = context.scheduled_execution_time
    decisions = TickDecisions(context.log)
    registered = set(context.instance.get_dynamic_partitions(ORGANIZATIONS))
    with crm_db.engine.connect() as conn:
        orgs = integrated_organizations(conn)
        # A sale missing from one answer is removed only by a second one, even an unchanged one.
        to_confirm = days_with_unconfirmed_absences(conn)
    busy = _runs_in_progress(context.instance)
    cadence = settings.sync_cadence()
    due: list[DuePartition] = []
    for org in orgs:
        if not org.integration_active:
            decisions.record(org.id, Decision.INACTIVE, "its integration is deactivated")
            continue
        if org.id not in registered:
            decisions.record(
                org.id, Decision.NOT_REGISTERED, "the organizations sensor registers it"
            )
            continue
        for day in days_to_sync(tick, org.timezone, cadence):
            partition = DuePartition(org.id, day)
            if not is_partition_day(day, tick):
                decisions.record(
                    partition.subject, Decision.NOT_DUE, "São Paulo's day has not started yet"
                )
            elif str(partition.key) in busy:
                decisions.record(
                    partition.subject, Decision.IN_PROGRESS, f"run {busy[str(partition.key)]}"
                )
            else:
                due.append(partition)
    checks = _check_contents(crm_db, due) if settings.change_check_enabled() else None
    requests = []
    for partition in due:
        confirming = (partition.org_id, partition.day) in to_confirm
        request = _decide(context.instance, decisions, partition, checks, tick, confirming)
        if request is not None:
            requests.append(request)
    return requests or decisions.skip_reason()


def _decide(
    instance: dg.DagsterInstance,
    decisions: TickDecisions,
    partition: DuePartition,
    checks: dict[str, ContentCheck] | None,
    tick: datetime,
    confirming: bool,
) -> dg.RunRequest | None:
    key = str(partition.key)
    check = None if checks is None else checks[key]
    if check is None:
        decisions.record(partition.subject, Decision.LAUNCHED, "change check is off")
    elif confirming:
        decisions.record(
            partition.subject,
            Decision.LAUNCHED,
            "a sale missing from the last answer is confirmed gone only by another",
        )
    elif check.error is not None:
        decisions.record(partition.subject, Decision.CHANGE_CHECK_FAILED, check.error)
    else:
        last = last_sync_run(instance, key)
        if last is None:
            decisions.record(partition.subject, Decision.LAUNCHED, "no run of this day yet")
        elif last.status != dg.DagsterRunStatus.SUCCESS:
            decisions.record(
                partition.subject,
                Decision.LAUNCHED,
                f"last run {last.run_id} ended {last.status.value}",
            )
        elif CONTENT_HASH_TAG not in last.tags:
            decisions.record(
                partition.subject,
                Decision.LAUNCHED,
                f"last run {last.run_id} recorded no ERP content to compare with",
            )
        elif last.tags[CONTENT_HASH_TAG] == check.content_hash:
            decisions.record(partition.subject, Decision.UNCHANGED, f"since run {last.run_id}")
            return None
        else:
            decisions.record(
                partition.subject, Decision.LAUNCHED, f"new content since run {last.run_id}"
            )
    content_hash = check.content_hash if check is not None else None
    return dg.RunRequest(
        run_key=f"{key}@{tick.astimezone(UTC):%Y%m%dT%H%M}",
        partition_key=partition.key,
        tags={CONTENT_HASH_TAG: content_hash} if content_hash else {},
    )


def _check_contents(crm_db: CrmDatabase, due: list[DuePartition]) -> dict[str, ContentCheck]:
    """partition key -> what the ERP answers for the day now, asked in parallel in the budget."""

    def check(partition: DuePartition) -> str:
        return steps.fetch_day(
            crm_db.engine, partition.org_id, partition.day, steps.QUICK_CHECK_FETCH
        ).content_hash

    pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="erp-change-check")
    futures = {pool.submit(check, partition): str(partition.key) for partition in due}
    done, _ = wait(futures, timeout=CHANGE_CHECK_BUDGET_SECONDS)
    pool.shutdown(wait=False, cancel_futures=True)
    checks = {
        key: ContentCheck(
            error=f"no answer within {CHANGE_CHECK_BUDGET_SECONDS:.0f} s of the tick's budget"
        )
        for key in futures.values()
    }
    for future in done:
        error = future.exception()
        checks[futures[future]] = (
            ContentCheck(content_hash=future.result())
            if error is None
            else ContentCheck(error=str(error)[:300])
        )
    return checks


def last_sync_run(instance: dg.DagsterInstance, partition_key: str) -> dg.DagsterRun | None:
    """The partition's latest `erp_sync` run, whatever launched it."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(job_name=erp_sync_job.name, tags={PARTITION_TAG: partition_key}),
        limit=1,
    )
    return records[0].dagster_run if records else None


def _runs_in_progress(instance: dg.DagsterInstance) -> dict[str, str]:
    """partition key -> the id of its queued or running `erp_sync` run."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(job_name=erp_sync_job.name, statuses=IN_PROGRESS)
    )
    return {run.tags[PARTITION_TAG]: run.run_id for run in runs if run.tags.get(PARTITION_TAG)}


@dg.sensor(
    job=erp_sync_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def organizations_sensor(context: dg.SensorEvaluationContext, crm_db: CrmDatabase):
    """Registers a partition for every organization with an active ERP integration, and syncs
    today at once for a newly registered one; also for every organization the daily jobs have
    work for (a cashback program or an active campaign), ERP or not. Organizations are never
    unregistered (Dagster keeps stale status for re-added keys); deactivated ones are skipped
    by the schedule."""
    decisions = TickDecisions(context.log)
    registered = set(context.instance.get_dynamic_partitions(ORGANIZATIONS))
    with crm_db.engine.connect() as conn:
        integrated = integrated_organizations(conn)
        daily = organizations_with_daily_work(conn)
    now = datetime.now(UTC)
    daily_ids = {org.id for org in daily}
    new = []  # registered and synced today at once
    daily_only = []  # registered for the daily jobs, nothing to sync
    for org in integrated:
        if org.id in registered:
            decisions.record(org.id, Decision.REGISTERED, "the schedule syncs it")
        elif org.integration_active:
            decisions.record(org.id, Decision.LAUNCHED, "registered now; syncing its today")
            new.append(org)
        elif org.id in daily_ids:
            decisions.record(
                org.id, Decision.LAUNCHED, "registered now for its daily jobs (ERP deactivated)"
            )
            daily_only.append(org)
        else:
            decisions.record(org.id, Decision.INACTIVE, "its integration is deactivated")
    integrated_ids = {org.id for org in integrated}
    for org in daily:
        if org.id not in integrated_ids and org.id not in registered:
            decisions.record(
                org.id, Decision.LAUNCHED, "registered now for its daily jobs (no ERP)"
            )
            daily_only.append(org)
    if not new and not daily_only:
        return decisions.skip_reason()
    return dg.SensorResult(
        dynamic_partitions_requests=[
            organization_partitions.build_add_request([org.id for org in new + daily_only])
        ],
        run_requests=[
            dg.RunRequest(
                run_key=f"new-org:{org.id}",
                partition_key=org_day_key(org.id, now.astimezone(org.timezone).date()),
            )
            for org in new
        ],
    )
