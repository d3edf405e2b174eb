"""The daily expiry: its partitioned asset (with the ledger checks) and its schedule."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal as D

import dagster as dg
from dagster._core.storage.tags import RUN_KEY_TAG
from dagster._core.test_utils import create_run_for_test

from recompra_pipelines.assets.cashback_expiry import cashback_expiry
from recompra_pipelines.automation.cashback_expiry import cashback_expiry_schedule
from recompra_pipelines.checks.cashback_checks import CASHBACK_CHECKS
from recompra_pipelines.definitions import defs
from recompra_pipelines.partitions import ORGANIZATIONS, org_day_key
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.resources.settings import RecompraSettings
from recompra_pipelines.sync.ledger_steps import reconcile_day_cashback
from recompra_pipelines_tests.cashback.ledger_helpers import (
    SP,
    add_client,
    add_sale,
    balance,
    make_org,
)
from recompra_pipelines_tests.helpers import metadata


def _expire(instance, database_url, org_id, day):
    return dg.materialize(
        [cashback_expiry, *CASHBACK_CHECKS],
        selection=dg.AssetSelection.assets(cashback_expiry),
        partition_key=str(org_day_key(org_id, day)),
        instance=instance,
        resources={"crm_db": CrmDatabase(url=database_url)},
    )


def test_expiry_partitions_backfill_a_range_once(engine, database_url, instance):
    org = make_org(engine, expiry_days=3)
    client = add_client(engine, org)
    add_sale(engine, org, client, "100", date(2026, 1, 5))
    reconcile_day_cashback(engine, org, date(2026, 1, 5))
    instance.add_dynamic_partitions(ORGANIZATIONS, [org])

    results = [_expire(instance, database_url, org, date(2026, 1, d)) for d in range(7, 10)]

    assert [metadata(r, "cashback_expiry")["expired_lots"] for r in results] == [0, 1, 0]
    assert metadata(results[1], "cashback_expiry")["expired_centavos"] == 1000
    assert balance(engine, org, client)[0] == D("0.00")
    assert all(check.passed for r in results for check in r.get_asset_check_evaluations())


def test_schedule_requests_each_orgs_local_day_once_its_expiry_hour_passed(
    engine, database_url, instance
):
    org = make_org(engine)
    instance.add_dynamic_partitions(ORGANIZATIONS, [org])
    tick = datetime(2026, 3, 5, 0, 5, tzinfo=SP)
    with dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=tick,
        resources={"crm_db": CrmDatabase(url=database_url), "settings": RecompraSettings()},
        repository_def=defs.get_repository_def(),
    ) as context:
        requests = cashback_expiry_schedule.evaluate_tick(context).run_requests
    ours = [r for r in requests if r.partition_key == str(org_day_key(org, date(2026, 3, 5)))]
    assert len(ours) == 1
    assert ours[0].run_key == f"cashback-expiry:{org}:2026-03-05"


def test_a_day_with_a_successful_or_running_run_is_not_requested_again_a_failed_one_is(
    engine, database_url, instance
):
    """The hourly schedule sees the same day 24 times; Dagster deduplicates a schedule's run
    keys only within one tick, so the day's own runs decide."""
    org = make_org(engine)
    instance.add_dynamic_partitions(ORGANIZATIONS, [org])
    key = str(org_day_key(org, date(2026, 3, 5)))

    def requested_at(hour: int) -> bool:
        with dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=datetime(2026, 3, 5, hour, 5, tzinfo=SP),
            resources={"crm_db": CrmDatabase(url=database_url), "settings": RecompraSettings()},
            repository_def=defs.get_repository_def(),
        ) as context:
            requests = cashback_expiry_schedule.evaluate_tick(context).run_requests
        return any(r.partition_key == key for r in requests)

    def run_of_the_day(status: dg.DagsterRunStatus) -> None:
        run_key = f"cashback-expiry:{org}:2026-03-05"
        create_run_for_test(
            instance, job_name="cashback_daily", tags={RUN_KEY_TAG: run_key}, status=status
        )

    assert requested_at(1)
    run_of_the_day(dg.DagsterRunStatus.FAILURE)
    assert requested_at(2)
    run_of_the_day(dg.DagsterRunStatus.STARTED)
    assert not requested_at(3)
    run_of_the_day(dg.DagsterRunStatus.SUCCESS)
    assert not requested_at(4)
