"""The 5-minute schedule and the organizations sensor, evaluated through Dagster's contexts."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import sqlalchemy as sa

from recompra_pipelines.automation.cashback_expiry import cashback_expiry_schedule
from recompra_pipelines.automation.erp_sync import (
    CONTENT_HASH_TAG,
    erp_sync_schedule,
    organizations_sensor,
)
from recompra_pipelines.automation.lifecycle import lifecycle_schedule
from recompra_pipelines.definitions import defs
from recompra_pipelines.domain.sync_plan import SyncCadence, days_to_sync
from recompra_pipelines.orgfile.organization import OrgFile
from recompra_pipelines.orgfile_store.writer import apply_org_file
from recompra_pipelines.partitions import ORGANIZATIONS
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.resources.settings import RecompraSettings
from recompra_pipelines_tests.helpers import new_org

SP = ZoneInfo("America/Sao_Paulo")


@pytest.fixture
def orgs(engine, erp_simulator):
    _, url = erp_simulator
    active_a, _ = new_org(engine, url)
    active_b, _ = new_org(engine, url, timezone="America/Manaus")
    inactive, _ = new_org(engine, url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE organizations SET integracao_ativa = false WHERE id = :o"),
            {"o": inactive},
        )
    return active_a, active_b, inactive


def _tick(instance, database_url, when: datetime):
    with dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=when,
        resources={"crm_db": CrmDatabase(url=database_url), "settings": RecompraSettings()},
        repository_def=defs.get_repository_def(),
    ) as context:
        return erp_sync_schedule.evaluate_tick(context)


def _keys(tick, org_ids):
    return sorted(
        r.partition_key for r in tick.run_requests if r.partition_key.split("|")[1] in org_ids
    )


def test_each_tick_syncs_today_for_every_active_registered_org(instance, database_url, orgs):
    active_a, active_b, inactive = orgs
    instance.add_dynamic_partitions(ORGANIZATIONS, list(orgs))

    tick = _tick(instance, database_url, datetime(2026, 11, 29, 14, 35, tzinfo=SP))

    assert _keys(tick, orgs) == sorted([f"2026-11-29|{active_a}", f"2026-11-29|{active_b}"])
    request = next(r for r in tick.run_requests if r.partition_key.endswith(active_a))
    assert request.tags["dagster/partition/org"] == active_a
    assert request.run_key == f"2026-11-29|{active_a}@20261129T1735"


def test_lookback_days_at_the_lower_cadence_and_right_after_midnight(instance, database_url, orgs):
    active_a, _, _ = orgs
    instance.add_dynamic_partitions(ORGANIZATIONS, [active_a])

    half_hour = _tick(instance, database_url, datetime(2026, 11, 29, 14, 30, tzinfo=SP))
    midnight = _tick(instance, database_url, datetime(2026, 11, 29, 0, 0, tzinfo=SP))

    assert _keys(half_hour, {active_a}) == [f"2026-11-28|{active_a}", f"2026-11-29|{active_a}"]
    assert _keys(midnight, {active_a}) == [f"2026-11-28|{active_a}", f"2026-11-29|{active_a}"]


def test_organization_timezone_decides_its_today(instance, database_url, orgs):
    _, manaus, _ = orgs
    instance.add_dynamic_partitions(ORGANIZATIONS, [manaus])
    # 00:30 in São Paulo is still 23:30 of the day before in Manaus.
    tick = _tick(instance, database_url, datetime(2026, 11, 29, 0, 35, tzinfo=SP))
    assert _keys(tick, {manaus}) == [f"2026-11-28|{manaus}"]


def test_unregistered_orgs_are_left_to_the_sensor_without_failing_the_tick(
    instance, database_url, orgs
):
    active_a, active_b, _ = orgs
    instance.add_dynamic_partitions(ORGANIZATIONS, [active_a])
    tick = _tick(instance, database_url, datetime(2026, 11, 29, 14, 35, tzinfo=SP))
    assert _keys(tick, orgs) == [f"2026-11-29|{active_a}"]


def test_a_partition_with_a_run_in_progress_is_not_piled_up(instance, database_url, orgs):
    active_a, active_b, _ = orgs
    instance.add_dynamic_partitions(ORGANIZATIONS, [active_a, active_b])
    busy_key = f"2026-11-29|{active_a}"
    instance.add_run(
        dg.DagsterRun(
            job_name="erp_sync",
            run_id=str(uuid.uuid4()),
            status=dg.DagsterRunStatus.STARTED,
            tags={"dagster/partition": busy_key, "dagster/partition/org": active_a},
        )
    )
    tick = _tick(instance, database_url, datetime(2026, 11, 29, 14, 35, tzinfo=SP))
    assert _keys(tick, orgs) == [f"2026-11-29|{active_b}"]


def test_sensor_registers_new_active_orgs_and_syncs_their_today(instance, database_url, orgs):
    active_a, active_b, inactive = orgs
    with dg.build_sensor_context(
        instance=instance, resources={"crm_db": CrmDatabase(url=database_url)}
    ) as context:
        result = organizations_sensor(context)

    (add_request,) = result.dynamic_partitions_requests
    assert add_request.partitions_def_name == ORGANIZATIONS
    assert {active_a, active_b} <= set(add_request.partition_keys)
    assert inactive not in add_request.partition_keys
    run_keys = {r.run_key for r in result.run_requests}
    assert {f"new-org:{active_a}", f"new-org:{active_b}"} <= run_keys

    instance.add_dynamic_partitions(ORGANIZATIONS, list(add_request.partition_keys))
    with dg.build_sensor_context(
        instance=instance, resources={"crm_db": CrmDatabase(url=database_url)}
    ) as context:
        again = organizations_sensor(context)
    assert isinstance(again, dg.SkipReason)


def test_daily_jobs_serve_every_organization_with_cashback_or_campaigns_whatever_its_erp(
    instance, database_url, engine, erp_simulator
):
    _, url = erp_simulator
    program = {"accrual_type": "FIXO", "accrual_value": "5"}
    erp_off, _ = new_org(engine, url, cashback_program=program)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE organizations SET integracao_ativa = false WHERE id = :o"),
            {"o": erp_off},
        )
        no_erp = f"crm-{uuid.uuid4().hex[:8]}"
        apply_org_file(
            conn,
            OrgFile.model_validate(
                {"id": no_erp, "name": "Só CRM", "campaigns": [
                    {"key": "niver", "title": "Niver", "trigger": "ANIVERSARIO_CLIENTE"}]}
            ),
        )  # fmt: skip
    with dg.build_sensor_context(
        instance=instance, resources={"crm_db": CrmDatabase(url=database_url)}
    ) as context:
        result = organizations_sensor(context)
    (add_request,) = result.dynamic_partitions_requests
    assert {erp_off, no_erp} <= set(add_request.partition_keys)
    assert not {f"new-org:{erp_off}", f"new-org:{no_erp}"} & {
        r.run_key for r in result.run_requests
    }
    instance.add_dynamic_partitions(ORGANIZATIONS, list(add_request.partition_keys))

    tick = datetime(2026, 11, 20, 3, 10, tzinfo=SP)
    for schedule, prefix in (
        (lifecycle_schedule, "lifecycle"),
        (cashback_expiry_schedule, "cashback-expiry"),
    ):
        with dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=tick,
            resources={"crm_db": CrmDatabase(url=database_url), "settings": RecompraSettings()},
        ) as context:
            keys = {r.run_key.rsplit(":", 1)[0] for r in schedule(context)}
        assert {f"{prefix}:{erp_off}", f"{prefix}:{no_erp}"} <= keys


@pytest.mark.parametrize(
    "local, expected_days",
    [
        ("2026-11-29T14:35", 1),
        ("2026-11-29T14:30", 2),
        ("2026-11-29T14:34", 2),
        ("2026-11-29T00:00", 2),
        ("2026-11-29T00:05", 1),
    ],
)
def test_days_to_sync(local, expected_days):
    tick = datetime.fromisoformat(local).replace(tzinfo=SP)
    days = days_to_sync(tick, SP, SyncCadence(lookback_days=1, lookback_every_minutes=30))
    assert len(days) == expected_days and days[0].isoformat() == "2026-11-29"


def test_cadence_is_validated():
    with pytest.raises(ValueError):
        SyncCadence(lookback_every_minutes=1)
    with pytest.raises(ValueError):
        SyncCadence(lookback_days=-1)


def test_an_unchanged_erp_day_launches_no_run_until_it_changes(
    instance, database_url, engine, erp_simulator
):
    simulator, url = erp_simulator
    org_id, token = new_org(engine, url)
    simulator.configure(token, sales_per_day=8)
    instance.add_dynamic_partitions(ORGANIZATIONS, [org_id])
    day = datetime(2026, 11, 20, 14, 35, tzinfo=SP)  # a past, closed day: its data is final
    key = f"2026-11-20|{org_id}"

    first = _tick(instance, database_url, day)
    (request,) = [r for r in first.run_requests if r.partition_key == key]
    assert request.tags[CONTENT_HASH_TAG]
    run = defs.resolve_job_def("erp_sync").execute_in_process(
        instance=instance, partition_key=key, tags=request.tags
    )
    assert run.success

    unchanged = _tick(instance, database_url, day + timedelta(minutes=5))
    assert key not in [r.partition_key for r in unchanged.run_requests]

    # A sale that one answer lacked is removed only by a second answer: the day is synced
    # again even though the ERP's answer has not changed.
    first_sale = simulator.sales_for(token, date(2026, 11, 20))[0]["id"]
    absence = "UPDATE sales SET ausente_desde = {} WHERE organizacao_id = :o AND id_externo = :e"
    with engine.begin() as conn:
        conn.execute(sa.text(absence.format("now()")), {"o": org_id, "e": first_sale})
    awaiting = _tick(instance, database_url, day + timedelta(minutes=5))
    assert key in [r.partition_key for r in awaiting.run_requests]
    with engine.begin() as conn:
        conn.execute(sa.text(absence.format("NULL")), {"o": org_id, "e": first_sale})

    simulator.configure(token, overrides={first_sale: {"situacao": "04"}})
    changed = _tick(instance, database_url, day + timedelta(minutes=10))
    (again,) = [r for r in changed.run_requests if r.partition_key == key]
    assert again.tags[CONTENT_HASH_TAG] != request.tags[CONTENT_HASH_TAG]


def test_the_change_check_can_be_switched_off(
    instance, database_url, engine, erp_simulator, monkeypatch
):
    _, url = erp_simulator
    org_id, _ = new_org(engine, url)
    instance.add_dynamic_partitions(ORGANIZATIONS, [org_id])
    monkeypatch.setenv("RECOMPRA_SYNC_CHANGE_CHECK", "off")
    tick = _tick(instance, database_url, datetime(2026, 11, 20, 14, 35, tzinfo=SP))
    (request,) = [r for r in tick.run_requests if r.partition_key.endswith(org_id)]
    assert CONTENT_HASH_TAG not in request.tags
