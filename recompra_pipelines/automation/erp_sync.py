"""The `erp_sync` job, its 5-minute schedule and the organizations sensor."""

import os
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import UTC, date, datetime

import dagster as dg

from recompra_pipelines.connectors.http import RetrySettings
from recompra_pipelines.connectors.registry import FetchSettings
from recompra_pipelines.db.sales_load import days_with_unconfirmed_absences
from recompra_pipelines.domain.sync_plan import SyncCadence, days_to_sync
from recompra_pipelines.partitions import (
    ORGANIZATIONS,
    is_partition_day,
    org_day_key,
    org_day_partitions,
    organization_partitions,
)
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.sync import steps
from recompra_pipelines.sync.organizations import (
    active_integrated_organizations,
    organizations_with_daily_work,
)

SYNC_TIMEZONE = "America/Sao_Paulo"
IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]

# The per org x day graph is every asset of the `erp_sync` group (and their checks): later
# steps (ledger, campaigns, ...) join the job by joining the group.
SYNC_GROUP = "erp_sync"
SYNC_GRAPH = dg.AssetSelection.groups(SYNC_GROUP)

erp_sync_job = dg.define_asset_job(
    "erp_sync",
    selection=SYNC_GRAPH,
    partitions_def=org_day_partitions,
    executor_def=dg.in_process_executor,
    description="Sync one organization's day from its ERP into the CRM tables.",
)


def sync_cadence() -> SyncCadence:
    return SyncCadence(
        lookback_days=int(os.environ.get("RECOMPRA_SYNC_LOOKBACK_DAYS", "1")),
        lookback_every_minutes=int(os.environ.get("RECOMPRA_SYNC_LOOKBACK_EVERY_MINUTES", "30")),
    )


# The run tag naming the ERP content a scheduled run was launched for.
CONTENT_HASH_TAG = "recompra/erp_content_hash"
# How long a tick may spend asking the ERPs whether anything changed (the daemon gives a tick
# 60 s); an organization whose answer is not back by then is synced anyway.
CHANGE_CHECK_BUDGET_SECONDS = 40.0
# The change check is a single quick request: a slow or failing ERP just gets its usual run.
CHANGE_CHECK_FETCH = FetchSettings(timeout_seconds=20.0, retry=RetrySettings(max_attempts=1))


def change_check_enabled() -> bool:
    return os.environ.get("RECOMPRA_SYNC_CHANGE_CHECK", "on").lower() != "off"


@dg.schedule(
    cron_schedule="*/5 * * * *",
    job=erp_sync_job,
    execution_timezone=SYNC_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def erp_sync_schedule(context: dg.ScheduleEvaluationContext, crm_db: CrmDatabase):
    """Every 5 minutes: today for every active organization, the lookback days less often.

    A partition is skipped when its previous run is still queued or running (a slow ERP never
    piles runs up), and when the ERP's answer for the day is exactly the content the last
    successful run processed (its hash is a run tag): 288 runs a day per organization become
    one per actual change, plus one to confirm that a sale missing from an answer is gone. The check fetches the day once, in parallel across organizations
    and within a time budget; an organization whose check fails or is late is synced anyway.
    """
    tick = context.scheduled_execution_time
    registered = set(context.instance.get_dynamic_partitions(ORGANIZATIONS))
    with crm_db.engine.connect() as conn:
        orgs = active_integrated_organizations(conn)
        # A sale missing from one answer is removed only by a second one, even an unchanged one.
        to_confirm = days_with_unconfirmed_absences(conn)
    busy = _partitions_in_progress(context.instance)
    cadence = sync_cadence()
    due: list[tuple[str, date, dg.MultiPartitionKey]] = []
    for org in orgs:
        if org.id not in registered:
            context.log.info(f"organization {org.id} not registered yet; the sensor will add it")
            continue
        for day in days_to_sync(tick, org.timezone, cadence):
            key = org_day_key(org.id, day)
            if not is_partition_day(day, tick):
                continue
            if str(key) in busy:
                context.log.info(f"{key} still has a run in progress; skipped this tick")
                continue
            due.append((org.id, day, key))
    current = _current_content_hashes(crm_db, due) if change_check_enabled() else {}
    requests = []
    for org_id, day, key in due:
        content_hash = current.get(str(key))
        if (
            content_hash
            and (org_id, day) not in to_confirm
            and _last_run_processed(context.instance, str(key), content_hash)
        ):
            continue
        requests.append(
            dg.RunRequest(
                run_key=f"{key}@{tick.astimezone(UTC):%Y%m%dT%H%M}",
                partition_key=key,
                tags={CONTENT_HASH_TAG: content_hash} if content_hash else {},
            )
        )
    if not requests:
        return dg.SkipReason("nothing new to sync this tick")
    return requests


def _current_content_hashes(crm_db: CrmDatabase, due) -> dict[str, str]:
    """partition key -> hash of what the ERP answers now, for the checks back in time."""

    def check(org_id: str, day: date) -> str:
        return steps.fetch_day(crm_db.engine, org_id, day, CHANGE_CHECK_FETCH).content_hash

    pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="erp-change-check")
    futures = {pool.submit(check, org_id, day): str(key) for org_id, day, key in due}
    done, _ = wait(futures, timeout=CHANGE_CHECK_BUDGET_SECONDS)
    pool.shutdown(wait=False, cancel_futures=True)
    return {futures[f]: f.result() for f in done if f.exception() is None}


def _last_run_processed(
    instance: dg.DagsterInstance, partition_key: str, content_hash: str
) -> bool:
    """Whether the partition's latest run succeeded on exactly this ERP content."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(
            job_name=erp_sync_job.name, tags={"dagster/partition": partition_key}
        ),
        limit=1,
    )
    if not records:
        return False
    run = records[0].dagster_run
    return (
        run.status == dg.DagsterRunStatus.SUCCESS and run.tags.get(CONTENT_HASH_TAG) == content_hash
    )


def _partitions_in_progress(instance: dg.DagsterInstance) -> set[str]:
    runs = instance.get_runs(
        filters=dg.RunsFilter(job_name=erp_sync_job.name, statuses=IN_PROGRESS)
    )
    return {run.tags.get("dagster/partition") for run in runs if run.tags.get("dagster/partition")}


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
    registered = set(context.instance.get_dynamic_partitions(ORGANIZATIONS))
    with crm_db.engine.connect() as conn:
        integrated = [o for o in active_integrated_organizations(conn) if o.id not in registered]
        daily = [o for o in organizations_with_daily_work(conn) if o.id not in registered]
    new = sorted({org.id for org in integrated} | {org.id for org in daily})
    if not new:
        return dg.SkipReason("no new organizations")
    now = datetime.now(UTC)
    return dg.SensorResult(
        dynamic_partitions_requests=[organization_partitions.build_add_request(new)],
        run_requests=[
            dg.RunRequest(
                run_key=f"new-org:{org.id}",
                partition_key=org_day_key(org.id, now.astimezone(org.timezone).date()),
            )
            for org in integrated
        ],
    )
