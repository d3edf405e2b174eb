"""Per-organization freshness: today's sales in the CRM are no older than the ERP's.

A silent stop — the schedule switched off, the daemon's scheduler stuck, runs queued behind a
stuck one — fails no run and no check. `erp_freshness_sensor` sees it: today's partition is
stale when its last successful `erp_sync` run is older than the limit
(RECOMPRA_FRESHNESS_MINUTES, 30) *and* the ERP answers with content the CRM has not loaded. A
quiet day whose content is unchanged is fresh however long ago its last run was (the schedule
launches no run for unchanged content), and an ERP that does not answer cannot be judged (its
failed runs alert instead).

It is a sensor that alerts by itself rather than an asset check: a check run would wait in the
run queue behind the very run that is stuck (one run per organization at a time), and Dagster
1.13 keeps only one run-less evaluation per check partition (a unique index on
asset_check_executions), so a verdict recorded from outside a run could not change during the
day. Each tick logs every organization's verdict; a stale organization pages once, and once
more when it recovers.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

import dagster as dg
import sqlalchemy as sa

from recompra_pipelines.asset_groups import SYNC_JOB
from recompra_pipelines.automation.alerts import send_alerts
from recompra_pipelines.automation.tick_log import Decision, TickDecisions
from recompra_pipelines.dagster_ui import organization_runs_page
from recompra_pipelines.db.sync_progress import StepMarker, day_progress
from recompra_pipelines.domain.incidents import Alert, Observation, track
from recompra_pipelines.domain.local_time import local_midnight
from recompra_pipelines.partitions import ORGANIZATIONS, PARTITION_TAG, org_day_key
from recompra_pipelines.resources.alerting import Alerting
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.sync import steps
from recompra_pipelines.sync.organizations import Organization, integrated_organizations

# The daemon gives a sensor tick 60 s; asking stale organizations' ERPs must fit well inside.
BUDGET_SECONDS = 40.0


class FreshnessState(StrEnum):
    FRESH = "fresh"
    STALE = "stale"
    UNKNOWN = "cannot tell"


@dataclass(frozen=True)
class Freshness:
    org_id: str
    day: date
    state: FreshnessState
    detail: str
    minutes_since_sync: int | None = None

    def observation(self, ui_url: str) -> Observation | None:
        """What the alert tracking sees; a verdict that cannot be told neither pages nor heals."""
        if self.state == FreshnessState.UNKNOWN:
            return None
        details = [self.detail]
        if self.minutes_since_sync is not None:
            details.append(f"numbers: minutes_since_sync = {self.minutes_since_sync}")
        return Observation(
            key=f"freshness:{self.org_id}",
            failing=self.state == FreshnessState.STALE,
            title=f"freshness of today's sales — organization {self.org_id}, day {self.day}",
            details=tuple(details),
            link=organization_runs_page(ui_url, self.org_id),
        )


def evaluate_freshness(
    instance: dg.DagsterInstance,
    engine: sa.Engine,
    org: Organization,
    now: datetime,
    stale_after: timedelta,
) -> Freshness:
    """Today's freshness for `org` (its own timezone's today)."""
    day = now.astimezone(org.timezone).date()
    last = _last_success(instance, str(org_day_key(org.id, day)))
    if last is not None and last.end_time is not None:
        synced_at = datetime.fromtimestamp(last.end_time, UTC)
        since = f"the last successful sync ended {_minutes(now - synced_at)} min ago"
    else:
        # Nothing synced yet today: the day has been waiting since its local midnight.
        synced_at = local_midnight(day, org.timezone)
        since = "no successful sync of the day yet"
    minutes = _minutes(now - synced_at)

    def verdict(state: FreshnessState, detail: str) -> Freshness:
        return Freshness(org.id, day, state, detail, minutes)

    if now - synced_at <= stale_after:
        return verdict(FreshnessState.FRESH, since)
    try:
        erp_hash = steps.fetch_day(engine, org.id, day, steps.QUICK_CHECK_FETCH).content_hash
    except Exception as error:  # any failure to ask means the same: it cannot be told
        return verdict(FreshnessState.UNKNOWN, f"{since}; the ERP did not answer: {error}"[:500])
    with engine.connect() as conn:
        progress = day_progress(conn, org.id, day)
    if progress.staged_hash == erp_hash and progress.done(StepMarker.SALES):
        return verdict(FreshnessState.FRESH, f"{since}, and the ERP's day has not changed since")
    return verdict(
        FreshnessState.STALE,
        f"{since} (limit {_minutes(stale_after)} min) while the ERP answers with sales the CRM "
        "has not loaded: check that erp_sync_schedule is running and that the organization's "
        "runs are not queued behind a stuck one",
    )


@dataclass
class FreshnessCursor:
    open: dict[str, str] = field(default_factory=dict)  # incident key -> opening title
    undelivered: list[dict] = field(default_factory=list)

    @classmethod
    def parse(cls, raw: str | None) -> FreshnessCursor:
        return cls(**json.loads(raw)) if raw else cls()

    def dump(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dg.sensor(minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.RUNNING)
def erp_freshness_sensor(
    context: dg.SensorEvaluationContext, crm_db: CrmDatabase, alerts: Alerting
):
    """Every 5 minutes: for each active organization, whether today's sales in the CRM are as
    fresh as its ERP (RECOMPRA_FRESHNESS_MINUTES, 30). One log line per organization; one
    alert when an organization goes stale, one when it recovers."""
    settings = alerts.settings()
    cursor = FreshnessCursor.parse(context.cursor)
    decisions = TickDecisions(context.log)
    registered = set(context.instance.get_dynamic_partitions(ORGANIZATIONS))
    with crm_db.engine.connect() as conn:
        orgs = integrated_organizations(conn)
    watched = []
    for org in orgs:
        if not org.integration_active:
            decisions.record(org.id, Decision.INACTIVE, "its integration is deactivated")
        elif org.id not in registered:
            decisions.record(org.id, Decision.NOT_REGISTERED, "the organizations sensor adds it")
        else:
            watched.append(org)
    verdicts = _evaluate(context.instance, crm_db, watched, settings.stale_after)
    for found in verdicts:
        decisions.record(
            f"{found.org_id} {found.day}",
            found.state,
            found.detail,
            warning=found.state == FreshnessState.STALE,
        )
    observations = [o for o in (v.observation(settings.ui_url) for v in verdicts) if o]
    cursor.open, new_alerts = track(cursor.open, observations)
    outbox = [Alert(**a) for a in cursor.undelivered] + new_alerts
    cursor.undelivered = send_alerts(settings, outbox, decisions)
    context.update_cursor(cursor.dump())
    return decisions.skip_reason("freshness of today's partitions")


def _evaluate(
    instance: dg.DagsterInstance,
    crm_db: CrmDatabase,
    orgs: list[Organization],
    stale_after: timedelta,
) -> list[Freshness]:
    """Each organization's freshness, in parallel (only stale-looking ones ask their ERP)."""
    now = datetime.now(UTC)
    pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="freshness")
    futures = {
        pool.submit(evaluate_freshness, instance, crm_db.engine, org, now, stale_after): org
        for org in orgs
    }
    done, _ = wait(futures, timeout=BUDGET_SECONDS)
    pool.shutdown(wait=False, cancel_futures=True)
    results: list[Freshness] = []
    for future, org in futures.items():
        day = now.astimezone(org.timezone).date()
        if future not in done:
            detail = f"no verdict within the tick's {BUDGET_SECONDS:.0f} s"
            results.append(Freshness(org.id, day, FreshnessState.UNKNOWN, detail))
        elif future.exception() is not None:
            detail = f"the evaluation failed: {future.exception()}"[:500]
            results.append(Freshness(org.id, day, FreshnessState.UNKNOWN, detail))
        else:
            results.append(future.result())
    return results


def _last_success(instance: dg.DagsterInstance, partition_key: str):
    records = instance.get_run_records(
        filters=dg.RunsFilter(
            job_name=SYNC_JOB,
            tags={PARTITION_TAG: partition_key},
            statuses=[dg.DagsterRunStatus.SUCCESS],
        ),
        limit=1,
    )
    return records[0] if records else None


def _minutes(delta: timedelta) -> int:
    return max(0, int(delta.total_seconds() // 60))
