"""Retention of Dagster's own history, its settings (a resource) and the deletion: finished runs
with their event logs and check executions, and schedule and sensor ticks.

Every org x day run writes ~120 event rows and a dozen asset-check executions, and the 5-minute
schedule and the sensors write thousands of ticks a day; Dagster deletes none of it (its
`retention:` setting covers ticks only). What goes, and what always stays:

- A run goes when it finished more than the age limit ago, or when it is older than the newest
  `max_runs` finished runs. Queued and running runs are never touched, nor the runs of a
  backfill still in progress (the backfill daemon reads them to know what is done).
- A run that holds the **latest materialization of some asset partition** stays whatever its
  age. Dagster rebuilds the partition status of the org x day assets from those events each
  time the set of organizations changes (the status cache is keyed by the partition keys), so
  deleting them would turn old days "missing" in the UI and make "backfill missing
  partitions" re-sync them. In practice that keeps one run per organization and day (the
  last one), together with its logs and checks.
- A run is deleted with everything `DagsterInstance.delete_run` deletes (the run, its tags, its
  events and their asset tags) and its asset-check executions, which `delete_run` leaves
  behind, set-based per batch of runs: `delete_run` takes a handful of connections and
  statements per run, ~10 runs a second on the bench machine, when a fleet of 1,000
  organizations finishes ~80,000 runs a day.
- A tick goes when it is older than the age limit or beyond the newest `max_ticks` of its
  schedule or sensor; a tick still being evaluated never goes.

The SQL goes through Dagster's own table definitions and storage connections (of the pinned
release; the tests run it against a PostgreSQL-backed instance), and ticks are deleted through
`purge_ticks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg
import sqlalchemy as sa
from dagster._core.execution.backfill import BulkActionsFilter, BulkActionStatus
from dagster._core.scheduler.instigation import TickStatus
from dagster._core.storage.event_log.schema import (
    AssetCheckExecutionsTable,
    AssetEventTagsTable,
    SqlEventLogStorageTable,
)
from dagster._core.storage.runs.schema import RunsTable
from dagster._core.storage.schedules.schema import JobTickTable
from pydantic import Field

from recompra_pipelines import settings as env

RUN_DAYS_ENV = env.RETENTION_DAGSTER_RUN_DAYS.env
MAX_RUNS_ENV = env.RETENTION_DAGSTER_MAX_RUNS.env
TICK_DAYS_ENV = env.RETENTION_DAGSTER_TICK_DAYS.env
MAX_TICKS_ENV = env.RETENTION_DAGSTER_MAX_TICKS.env


FINISHED = (
    dg.DagsterRunStatus.SUCCESS.value,
    dg.DagsterRunStatus.FAILURE.value,
    dg.DagsterRunStatus.CANCELED.value,
)
# A tick still STARTED is being evaluated (or its daemon died mid-tick, which the UI shows).
PURGEABLE_TICKS = [TickStatus.SKIPPED, TickStatus.SUCCESS, TickStatus.FAILURE]
UNFINISHED_BACKFILLS = [BulkActionStatus.REQUESTED, BulkActionStatus.CANCELING]
MATERIALIZATION = dg.DagsterEventType.ASSET_MATERIALIZATION.value
# The events Dagster indexes in asset_event_tags.
ASSET_EVENTS = (MATERIALIZATION, dg.DagsterEventType.ASSET_OBSERVATION.value)
RUNS_PER_BATCH = 500


@dataclass(frozen=True)
class HistoryCutoffs:
    """Runs finished before `runs_finished_before` and ticks before `ticks_before` go; so do
    runs beyond the newest `max_runs` and ticks beyond the newest `max_ticks` (None: no
    count limit)."""

    runs_finished_before: datetime
    ticks_before: datetime
    max_runs: int | None = None
    max_ticks: int | None = None


@dataclass
class HistoryCounts:
    runs_deleted: int = 0
    runs_kept_for_partition_status: int = 0
    event_rows_deleted: int = 0
    check_executions_deleted: int = 0
    ticks_deleted: int = 0


@dataclass(frozen=True)
class HistoryLimits:
    """The limits a retention run applies (a count of 0: no count limit)."""

    run_days: int
    max_runs: int
    tick_days: int
    max_ticks: int

    def cutoffs(self, now: datetime) -> HistoryCutoffs:
        return HistoryCutoffs(
            runs_finished_before=now - timedelta(days=self.run_days),
            ticks_before=now - timedelta(days=self.tick_days),
            max_runs=self.max_runs or None,
            max_ticks=self.max_ticks or None,
        )


class DagsterHistoryRetention(dg.ConfigurableResource):
    """Finished runs (with their event logs and check executions) older than `run_days` or
    beyond the newest `max_runs` are deleted, except each asset partition's latest
    materialization; ticks older than `tick_days` or beyond the newest `max_ticks` of their
    schedule or sensor are deleted. A limit of 0 turns that count limit off.

    A limit left unset comes from its RECOMPRA_RETENTION_DAGSTER_* variable, else its default,
    read when the retention runs: a bad value fails that run, naming the variable, and never
    keeps the code location (and the syncs) from loading.
    """

    run_days: int | None = Field(default=None, ge=1)
    max_runs: int | None = Field(default=None, ge=0)
    tick_days: int | None = Field(default=None, ge=1)
    max_ticks: int | None = Field(default=None, ge=0)

    def limits(self) -> HistoryLimits:
        return HistoryLimits(
            run_days=env.RETENTION_DAGSTER_RUN_DAYS.resolve(self.run_days),
            max_runs=env.RETENTION_DAGSTER_MAX_RUNS.resolve(self.max_runs),
            tick_days=env.RETENTION_DAGSTER_TICK_DAYS.resolve(self.tick_days),
            max_ticks=env.RETENTION_DAGSTER_MAX_TICKS.resolve(self.max_ticks),
        )


def prune_dagster_history(instance: dg.DagsterInstance, cutoffs: HistoryCutoffs) -> HistoryCounts:
    counts = HistoryCounts()
    _prune_runs(instance, cutoffs, counts)
    counts.ticks_deleted = _prune_ticks(instance, cutoffs)
    return counts


def _prune_runs(instance: dg.DagsterInstance, cutoffs: HistoryCutoffs, counts: HistoryCounts):
    busy_backfills = [
        backfill.backfill_id
        for backfill in instance.get_backfills(
            filters=BulkActionsFilter(statuses=UNFINISHED_BACKFILLS)
        )
    ]
    count_boundary = _oldest_run_id_within_count(instance, cutoffs.max_runs)
    after_id = 0
    while True:
        batch = _expired_runs(instance, cutoffs, count_boundary, busy_backfills, after_id)
        if not batch:
            return
        after_id = batch[-1][0]
        run_ids = [run_id for _, run_id in batch]
        kept = _holding_latest_materializations(instance, run_ids)
        doomed = [run_id for run_id in run_ids if run_id not in kept]
        counts.runs_kept_for_partition_status += len(kept)
        if doomed:
            _delete_runs(instance, doomed, counts)


def _delete_runs(instance: dg.DagsterInstance, run_ids: list[str], counts: HistoryCounts):
    """What `DagsterInstance.delete_run` deletes (the run and its tags, its events and their
    asset tags), plus its check executions, for a batch of runs in a few statements. Runs go
    last: an interrupted batch leaves runs whose leftovers the next pass deletes. Finished runs
    hold no concurrency slots, the other thing `delete_run` releases."""
    events = SqlEventLogStorageTable
    with _events_connection(instance) as conn:
        counts.check_executions_deleted += conn.execute(
            AssetCheckExecutionsTable.delete().where(
                AssetCheckExecutionsTable.c.run_id.in_(run_ids)
            )
        ).rowcount
        conn.execute(
            AssetEventTagsTable.delete().where(
                AssetEventTagsTable.c.event_id.in_(
                    sa.select(events.c.id).where(
                        events.c.run_id.in_(run_ids), events.c.dagster_event_type.in_(ASSET_EVENTS)
                    )
                )
            )
        )
        counts.event_rows_deleted += conn.execute(
            events.delete().where(events.c.run_id.in_(run_ids))
        ).rowcount
    with _runs_connection(instance) as conn:
        counts.runs_deleted += conn.execute(
            RunsTable.delete().where(RunsTable.c.run_id.in_(run_ids))
        ).rowcount


def _oldest_run_id_within_count(instance: dg.DagsterInstance, max_runs: int | None) -> int | None:
    """The row id of the `max_runs`-th newest finished run: older finished runs are over the
    count limit. None when there is no limit or fewer finished runs than that."""
    if max_runs is None:
        return None
    with _runs_connection(instance) as conn:
        return conn.execute(
            sa.select(RunsTable.c.id)
            .where(RunsTable.c.status.in_(FINISHED))
            .order_by(RunsTable.c.id.desc())
            .offset(max_runs - 1)
            .limit(1)
        ).scalar_one_or_none()


def _expired_runs(
    instance: dg.DagsterInstance,
    cutoffs: HistoryCutoffs,
    count_boundary: int | None,
    busy_backfills: Sequence[str],
    after_id: int,
) -> list[tuple[int, str]]:
    # Dagster stores update_timestamp as naive UTC.
    finished_before = cutoffs.runs_finished_before.astimezone(UTC).replace(tzinfo=None)
    expired = RunsTable.c.update_timestamp < finished_before
    if count_boundary is not None:
        expired = sa.or_(expired, RunsTable.c.id < count_boundary)
    query = (
        sa.select(RunsTable.c.id, RunsTable.c.run_id)
        .where(RunsTable.c.status.in_(FINISHED), RunsTable.c.id > after_id, expired)
        .order_by(RunsTable.c.id)
        .limit(RUNS_PER_BATCH)
    )
    if busy_backfills:
        query = query.where(
            sa.or_(
                RunsTable.c.backfill_id.is_(None), RunsTable.c.backfill_id.not_in(busy_backfills)
            )
        )
    with _runs_connection(instance) as conn:
        return [(row.id, row.run_id) for row in conn.execute(query)]


def _holding_latest_materializations(instance: dg.DagsterInstance, run_ids: list[str]) -> set[str]:
    """The runs among `run_ids` with a materialization no later event of the same asset and
    partition supersedes. Each lookup is one probe of Dagster's (asset, type, partition, id)
    index."""
    event = SqlEventLogStorageTable.alias("event")
    later = SqlEventLogStorageTable.alias("later")
    same_partition = sa.or_(
        sa.and_(event.c.partition.is_not(None), later.c.partition == event.c.partition),
        sa.and_(event.c.partition.is_(None), later.c.partition.is_(None)),
    )
    superseded = (
        sa.select(later.c.id)
        .where(
            later.c.asset_key == event.c.asset_key,
            later.c.dagster_event_type == MATERIALIZATION,
            later.c.id > event.c.id,
            same_partition,
        )
        .exists()
    )
    query = (
        sa.select(event.c.run_id)
        .distinct()
        .where(
            event.c.run_id.in_(run_ids),
            event.c.dagster_event_type == MATERIALIZATION,
            ~superseded,
        )
    )
    with _events_connection(instance) as conn:
        return set(conn.execute(query).scalars())


def _prune_ticks(instance: dg.DagsterInstance, cutoffs: HistoryCutoffs) -> int:
    """Per schedule or sensor that has ticks (including one since removed from the code)."""
    with _ticks_connection(instance) as conn:
        instigators = conn.execute(
            sa.select(JobTickTable.c.job_origin_id, JobTickTable.c.selector_id).distinct()
        ).all()
    deleted = 0
    for origin_id, selector_id in instigators:
        ticks = sa.and_(
            JobTickTable.c.job_origin_id == origin_id, JobTickTable.c.selector_id == selector_id
        )
        before = cutoffs.ticks_before.timestamp()
        boundary = _oldest_tick_within_count(instance, ticks, cutoffs.max_ticks)
        if boundary is not None:
            before = max(before, boundary.timestamp())
        remaining = _tick_count(instance, ticks)
        instance.purge_ticks(origin_id, selector_id, before, PURGEABLE_TICKS)
        deleted += remaining - _tick_count(instance, ticks)
    return deleted


def _oldest_tick_within_count(
    instance: dg.DagsterInstance, ticks: sa.ColumnElement[bool], max_ticks: int | None
) -> datetime | None:
    """The time of the `max_ticks`-th newest tick (Dagster stores tick times as naive UTC)."""
    if max_ticks is None:
        return None
    with _ticks_connection(instance) as conn:
        timestamp = conn.execute(
            sa.select(JobTickTable.c.timestamp)
            .where(ticks)
            .order_by(JobTickTable.c.timestamp.desc())
            .offset(max_ticks - 1)
            .limit(1)
        ).scalar_one_or_none()
    return None if timestamp is None else timestamp.replace(tzinfo=UTC)


def _tick_count(instance: dg.DagsterInstance, ticks: sa.ColumnElement[bool]) -> int:
    with _ticks_connection(instance) as conn:
        return conn.execute(sa.select(sa.func.count()).where(ticks)).scalar_one()


def _runs_connection(instance: dg.DagsterInstance) -> AbstractContextManager[sa.Connection]:
    return instance.run_storage.connect()


def _events_connection(instance: dg.DagsterInstance) -> AbstractContextManager[sa.Connection]:
    return instance.event_log_storage.index_connection()


def _ticks_connection(instance: dg.DagsterInstance) -> AbstractContextManager[sa.Connection]:
    return instance.schedule_storage.connect()
