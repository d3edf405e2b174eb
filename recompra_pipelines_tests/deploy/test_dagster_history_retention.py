"""Retention of Dagster's own history, on a PostgreSQL-backed Dagster instance: old finished
runs go with their event logs and check executions, and old ticks go; recent runs, queued and
running runs and every asset partition's latest materialization stay."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.scheduler.instigation import TickData, TickStatus
from dagster._core.storage.event_log.schema import (
    AssetCheckExecutionsTable,
    AssetEventTagsTable,
)
from dagster._core.storage.runs.schema import RunsTable, RunTagsTable
from dagster._core.test_utils import create_run_for_test

from recompra_pipelines.assets.dagster_history import dagster_history_retention
from recompra_pipelines.db.engine import ensure_database
from recompra_pipelines.definitions import defs
from recompra_pipelines.partitions import ORGANIZATIONS, org_day_key, org_day_partitions
from recompra_pipelines.resources.dagster_history import (
    MAX_RUNS_ENV,
    RUN_DAYS_ENV,
    DagsterHistoryRetention,
)

NOW = datetime.now(UTC)
DAY = NOW.date() - timedelta(days=40)
OLD = timedelta(days=30)


@dg.asset(partitions_def=org_day_partitions)
def synced_day() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"sales": 1})


@dg.asset_check(asset=synced_day, partitions_def=org_day_partitions)
def synced_day_is_complete() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


@dg.asset(partitions_def=org_day_partitions)
def broken_day() -> None:
    raise RuntimeError("the ERP answered garbage")


@pytest.fixture
def pg_instance(database_server_url: str) -> Iterator[dg.DagsterInstance]:
    """A Dagster instance whose runs, event logs and schedules live in a fresh PostgreSQL
    database, as dagster.yaml configures it."""
    name = f"dagster_test_{secrets.token_hex(4)}"
    url = sa.make_url(ensure_database(database_server_url, name))
    storage_url = url.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    try:
        with dg.instance_for_test(
            overrides={"storage": {"postgres": {"postgres_url": storage_url}}}
        ) as instance:
            instance.add_dynamic_partitions(ORGANIZATIONS, ["org-a", "org-b"])
            yield instance
    finally:
        admin = sa.create_engine(
            database_server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
        )
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _sync(instance: dg.DagsterInstance, org: str, day=DAY) -> str:
    result = dg.materialize(
        [synced_day, synced_day_is_complete],
        partition_key=org_day_key(org, day),
        instance=instance,
    )
    assert result.success
    return result.run_id


def _fail(instance: dg.DagsterInstance, org: str) -> str:
    result = dg.materialize(
        [broken_day], partition_key=org_day_key(org, DAY), instance=instance, raise_on_error=False
    )
    assert not result.success
    return result.run_id


def _age(instance: dg.DagsterInstance, run_ids: list[str], by: timedelta) -> None:
    with instance.run_storage.connect() as conn:
        conn.execute(
            RunsTable.update()
            .where(RunsTable.c.run_id.in_(run_ids))
            .values(update_timestamp=RunsTable.c.update_timestamp - by)
        )


def _leftovers(instance: dg.DagsterInstance, run_id: str, event_ids: list[int]) -> tuple[int, int]:
    """The run's tags, and the asset tags of its (former) events."""
    with instance.run_storage.connect() as conn:
        tags = conn.execute(
            sa.select(sa.func.count()).where(RunTagsTable.c.run_id == run_id)
        ).scalar_one()
    with instance.event_log_storage.index_connection() as conn:
        asset_tags = conn.execute(
            sa.select(sa.func.count()).where(AssetEventTagsTable.c.event_id.in_(event_ids))
        ).scalar_one()
    return tags, asset_tags


def _event_ids(instance: dg.DagsterInstance, run_id: str) -> list[int]:
    return [record.storage_id for record in instance.get_records_for_run(run_id).records]


def _check_executions(instance: dg.DagsterInstance, run_id: str) -> int:
    with instance.event_log_storage.index_connection() as conn:
        return conn.execute(
            sa.select(sa.func.count()).where(AssetCheckExecutionsTable.c.run_id == run_id)
        ).scalar_one()


def _tick(instance: dg.DagsterInstance, at: datetime, status=TickStatus.SKIPPED):
    return instance.create_tick(
        TickData(
            instigator_origin_id="erp-sync-schedule-origin",
            instigator_name="erp_sync_schedule",
            instigator_type=InstigatorType.SCHEDULE,
            status=status,
            timestamp=at.timestamp(),
            selector_id="erp-sync-schedule-selector",
        )
    )


def _tick_ids(instance: dg.DagsterInstance) -> set[int]:
    ticks = instance.get_ticks("erp-sync-schedule-origin", "erp-sync-schedule-selector")
    return {tick.tick_id for tick in ticks}


def _metadata(result: dg.ExecuteInProcessResult) -> dict:
    (materialization,) = result.asset_materializations_for_node("dagster_history_retention")
    return {key: value.value for key, value in materialization.metadata.items()}


def test_old_runs_and_ticks_go_recent_running_and_latest_materializations_stay(pg_instance):
    instance = pg_instance
    superseded = _sync(instance, "org-a")  # a later run re-synced the same org x day
    latest_a = _sync(instance, "org-a")
    only_b = _sync(instance, "org-b")  # the only materialization of its partition
    failed = _fail(instance, "org-b")  # materialized nothing
    recent = _sync(instance, "org-a", day=DAY + timedelta(days=1))
    running = create_run_for_test(
        instance, job_name="erp_sync", status=dg.DagsterRunStatus.STARTED
    ).run_id
    _age(instance, [superseded, latest_a, only_b, failed, running], by=OLD)
    old_tick = _tick(instance, NOW - OLD)
    old_started_tick = _tick(instance, NOW - OLD, status=TickStatus.STARTED)
    recent_tick = _tick(instance, NOW - timedelta(hours=1))
    assert instance.all_logs(superseded) and _check_executions(instance, superseded) == 1
    superseded_events = _event_ids(instance, superseded)
    assert all(_leftovers(instance, superseded, superseded_events))

    result = dg.materialize(
        [dagster_history_retention],
        instance=instance,
        resources={"dagster_history": DagsterHistoryRetention(run_days=7, tick_days=7)},
    )

    assert result.success
    remaining = {run.run_id for run in instance.get_runs()}
    assert superseded not in remaining and failed not in remaining
    assert {latest_a, only_b, recent, running, result.run_id} <= remaining
    assert instance.all_logs(superseded) == [] and instance.all_logs(failed) == []
    assert _check_executions(instance, superseded) == 0
    assert _leftovers(instance, superseded, superseded_events) == (0, 0)
    assert instance.all_logs(latest_a) and _check_executions(instance, latest_a) == 1
    # Partition status is rebuilt from the latest materializations (Dagster does so whenever
    # the organizations change): every synced org x day is still materialized.
    assert instance.get_materialized_partitions(synced_day.key) == {
        str(org_day_key("org-a", DAY)),
        str(org_day_key("org-b", DAY)),
        str(org_day_key("org-a", DAY + timedelta(days=1))),
    }
    assert _tick_ids(instance) == {old_started_tick.tick_id, recent_tick.tick_id}
    assert old_tick.tick_id not in _tick_ids(instance)
    counts = _metadata(result)
    assert counts["runs_deleted"] == 2
    assert counts["runs_kept_for_partition_status"] == 2
    assert counts["check_executions_deleted"] == 1
    assert counts["event_rows_deleted"] > 10
    assert counts["ticks_deleted"] == 1

    again = dg.materialize(
        [dagster_history_retention],
        instance=instance,
        resources={"dagster_history": DagsterHistoryRetention(run_days=7, tick_days=7)},
    )
    assert _metadata(again)["runs_deleted"] == 0


def test_count_limits_keep_the_newest_runs_and_ticks(pg_instance):
    instance = pg_instance
    runs = [_sync(instance, "org-a") for _ in range(4)]  # recent, same partition
    ticks = [_tick(instance, NOW - timedelta(minutes=5 * n)) for n in range(4)]

    dg.materialize(
        [dagster_history_retention],
        instance=instance,
        resources={"dagster_history": DagsterHistoryRetention(max_runs=2, max_ticks=2)},
    )

    remaining = {run.run_id for run in instance.get_runs()}
    # The two oldest go; the newest holds the partition's latest materialization anyway.
    assert runs[0] not in remaining and runs[1] not in remaining
    assert {runs[2], runs[3]} <= remaining
    assert _tick_ids(instance) == {ticks[0].tick_id, ticks[1].tick_id}


def test_limits_come_from_the_environment(monkeypatch):
    monkeypatch.delenv(RUN_DAYS_ENV, raising=False)
    monkeypatch.setenv(MAX_RUNS_ENV, "0")
    limits = DagsterHistoryRetention().limits()
    assert limits.run_days == 7 and limits.cutoffs(NOW).max_runs is None
    assert DagsterHistoryRetention(max_runs=5).limits().max_runs == 5  # configured wins
    monkeypatch.setenv(RUN_DAYS_ENV, "0")
    with pytest.raises(ValueError, match=RUN_DAYS_ENV):
        DagsterHistoryRetention().limits()
    monkeypatch.setenv(RUN_DAYS_ENV, "a week")
    with pytest.raises(ValueError, match=RUN_DAYS_ENV):
        DagsterHistoryRetention().limits()


def test_dagster_history_retention_runs_daily_in_the_maintenance_group():
    assert defs.resolve_assets_def("dagster_history_retention").group_names_by_key == {
        dg.AssetKey("dagster_history_retention"): "maintenance"
    }
    schedule = defs.resolve_schedule_def("dagster_history_retention_schedule")
    assert schedule.job_name == "dagster_history_retention_job"
    assert schedule.execution_timezone == "America/Sao_Paulo"
    job = defs.resolve_job_def("dagster_history_retention_job")
    assert job.asset_layer.executable_asset_keys == {dg.AssetKey("dagster_history_retention")}
    erp_job = defs.resolve_job_def("erp_retention_job")
    assert erp_job.asset_layer.executable_asset_keys == {dg.AssetKey("erp_retention")}
