"""Per-organization freshness: today's sales in the CRM are no older than the ERP's.

A silent stop — the schedule switched off, the daemon down, runs queued behind a stuck one —
fails no run and no check. This one sees it: today's partition counts as stale when its last
successful sync is older than the limit (RECOMPRA_FRESHNESS_MINUTES, 30) *and* the ERP answers
with content the CRM has not loaded. A quiet day whose content is unchanged is fresh however
long ago its last run was (the schedule launches no run for unchanged content), and an ERP that
does not answer cannot be judged (its failed runs alert instead).

The freshness sensor evaluates it for every organization and records the result on the check
(runless, like an external check); executing it from the UI evaluates the same rule.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

import dagster as dg
import sqlalchemy as sa

from recompra_pipelines.asset_groups import SYNC_JOB
from recompra_pipelines.db.sync_progress import StepMarker, day_progress
from recompra_pipelines.partitions import org_day_key, org_day_of, org_day_partitions
from recompra_pipelines.resources.alerting import Alerting
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.sync import steps
from recompra_pipelines.sync.organizations import Organization, load_organization

FRESHNESS_CHECK_NAME = "crm_sales_fresh"
FRESHNESS_ASSET = "crm_sales"
FRESHNESS_CHECK = dg.AssetCheckKey(dg.AssetKey(FRESHNESS_ASSET), FRESHNESS_CHECK_NAME)


class FreshnessState(StrEnum):
    FRESH = "fresh"
    STALE = "stale"
    UNKNOWN = "cannot tell: ERP unreachable"
    NOT_WATCHED = "not watched"


@dataclass(frozen=True)
class Freshness:
    org_id: str
    day: date
    state: FreshnessState
    detail: str
    minutes_since_sync: int | None = None
    last_run_id: str | None = None

    @property
    def partition_key(self) -> str:
        return str(org_day_key(self.org_id, self.day))

    def check_result(self) -> dg.AssetCheckResult:
        """ERROR when stale (it pages someone), WARN when it cannot be told."""
        metadata: dict[str, dg.MetadataValue] = {"state": dg.MetadataValue.text(self.state)}
        if self.minutes_since_sync is not None:
            metadata["minutes_since_sync"] = dg.MetadataValue.int(self.minutes_since_sync)
        if self.last_run_id:
            metadata["last_successful_run"] = dg.MetadataValue.dagster_run(self.last_run_id)
        return dg.AssetCheckResult(
            passed=self.state in (FreshnessState.FRESH, FreshnessState.NOT_WATCHED),
            severity=(
                dg.AssetCheckSeverity.ERROR
                if self.state == FreshnessState.STALE
                else dg.AssetCheckSeverity.WARN
            ),
            description=f"organization {self.org_id}, day {self.day}: {self.state} — {self.detail}",
            metadata=metadata,
        )

    def evaluation(self) -> dg.AssetCheckEvaluation:
        """The result as an event of its own (the sensor records it outside any run)."""
        result = self.check_result()
        return dg.AssetCheckEvaluation(
            asset_key=FRESHNESS_CHECK.asset_key,
            check_name=FRESHNESS_CHECK.name,
            passed=result.passed,
            severity=result.severity,
            description=result.description,
            metadata=result.metadata,
            partition=self.partition_key,
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
    key = str(org_day_key(org.id, day))
    last = _last_success(instance, key)
    if last is not None and last.end_time is not None:
        synced_at = datetime.fromtimestamp(last.end_time, UTC)
        since = f"the last successful sync ended {_minutes(now - synced_at)} min ago"
    else:
        # Nothing synced yet today: the day has been waiting since its local midnight.
        synced_at = datetime.combine(day, time(), org.timezone)
        since = "no successful sync of the day yet"
    minutes = _minutes(now - synced_at)
    last_run_id = last.dagster_run.run_id if last is not None else None

    def result(state: FreshnessState, detail: str) -> Freshness:
        return Freshness(org.id, day, state, detail, minutes, last_run_id)

    if now - synced_at <= stale_after:
        return result(FreshnessState.FRESH, since)
    try:
        erp_hash = steps.fetch_day(engine, org.id, day, steps.QUICK_CHECK_FETCH).content_hash
    except Exception as error:  # any failure to ask means the same: it cannot be told
        return result(FreshnessState.UNKNOWN, f"{since}; the ERP did not answer: {error}"[:500])
    with engine.connect() as conn:
        progress = day_progress(conn, org.id, day)
    if progress.staged_hash == erp_hash and progress.done(StepMarker.SALES):
        return result(FreshnessState.FRESH, f"{since}, and the ERP's day has not changed since")
    return result(
        FreshnessState.STALE,
        f"{since} (limit {_minutes(stale_after)} min) while the ERP answers with sales the CRM "
        "has not loaded; check that the erp_sync schedule is running and that runs are not "
        "queued behind a stuck one",
    )


def _last_success(instance: dg.DagsterInstance, partition_key: str):
    records = instance.get_run_records(
        filters=dg.RunsFilter(
            job_name=SYNC_JOB,
            tags={"dagster/partition": partition_key},
            statuses=[dg.DagsterRunStatus.SUCCESS],
        ),
        limit=1,
    )
    return records[0] if records else None


def _minutes(delta: timedelta) -> int:
    return max(0, int(delta.total_seconds() // 60))


@dg.asset_check(
    asset=FRESHNESS_ASSET,
    name=FRESHNESS_CHECK_NAME,
    partitions_def=org_day_partitions,
    description="ERROR when today's sales are stale: the last successful sync is older than "
    "RECOMPRA_FRESHNESS_MINUTES (30) while the ERP has content the CRM has not loaded. "
    "Evaluated every 5 minutes by erp_freshness_sensor, outside the sync runs.",
)
def crm_sales_fresh(
    context: dg.AssetCheckExecutionContext, crm_db: CrmDatabase, alerts: Alerting
) -> dg.AssetCheckResult:
    part = org_day_of(context)
    with crm_db.engine.connect() as conn:
        org = load_organization(conn, part.org_id)
    now = datetime.now(UTC)
    if part.day != now.astimezone(org.timezone).date():
        return Freshness(
            org.id, part.day, FreshnessState.NOT_WATCHED, "only today's partition is watched"
        ).check_result()
    return evaluate_freshness(
        context.instance, crm_db.engine, org, now, alerts.settings().stale_after
    ).check_result()


FRESHNESS_CHECKS = [crm_sales_fresh]
