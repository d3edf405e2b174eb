"""Re-run safety of the ledger: re-runs, crashes, overlapping runs, backfills, and a
point-of-sale redemption racing a sync on the same client."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D
from uuid import uuid4

import dagster as dg
import pytest
import sqlalchemy as sa

from recompra_pipelines.automation.erp_sync import SYNC_GRAPH
from recompra_pipelines.db import ledger
from recompra_pipelines.db.ledger import books
from recompra_pipelines.sync.ledger_steps import reconcile_day_cashback
from recompra_pipelines_tests.cashback.ledger_helpers import (
    add_client,
    add_sale,
    assert_consistent,
    balance,
    cancel_sale,
    ledger_versions,
    make_org,
)
from recompra_pipelines_tests.helpers import count, materialize_day, metadata, new_org

DAY = date(2026, 3, 2)


def _org_with_sales(engine, n=5):
    org = make_org(engine)
    clients = [add_client(engine, org) for _ in range(n)]
    for client in clients:
        add_sale(engine, org, client, "100", DAY)
    return org, clients


def test_a_rerun_over_unchanged_sales_writes_nothing(engine):
    org, _ = _org_with_sales(engine)
    reconcile_day_cashback(engine, org, DAY)
    before = ledger_versions(engine, org)
    counts = reconcile_day_cashback(engine, org, DAY)
    assert (counts.accruals, counts.reversals) == (0, 0)
    assert ledger_versions(engine, org) == before


@pytest.mark.parametrize("crash_at", ["write_books", "open_books", "ensure_balances"])
def test_a_crash_anywhere_in_the_step_rolls_back_and_the_retry_accrues_once(
    engine, monkeypatch, crash_at
):
    org, clients = _org_with_sales(engine)
    original = getattr(books, crash_at)

    def crash_after(*args, **kwargs):
        original(*args, **kwargs)
        raise RuntimeError("worker died")

    monkeypatch.setattr(books, crash_at, crash_after)
    with pytest.raises(RuntimeError, match="worker died"):
        reconcile_day_cashback(engine, org, DAY)
    monkeypatch.setattr(books, crash_at, original)
    assert (
        count(
            engine,
            "SELECT count(*) FROM cashback_program_transactions WHERE organizacao_id = :o",
            o=org,
        )
        == 0
    )

    assert reconcile_day_cashback(engine, org, DAY).accruals == len(clients)
    assert reconcile_day_cashback(engine, org, DAY).accruals == 0
    assert all(balance(engine, org, c)[0] == D("10.00") for c in clients)
    assert_consistent(engine, org)


def test_two_overlapping_runs_accrue_once(engine):
    org, clients = _org_with_sales(engine, n=20)
    results, errors = [], []

    def run():
        try:
            results.append(reconcile_day_cashback(engine, org, DAY))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert sorted(r.accruals for r in results) == [0, 20]
    assert all(balance(engine, org, c) == (D("10.00"), D("10.00"), D("0.00")) for c in clients)
    assert_consistent(engine, org)


def test_a_backfill_over_days_already_synced_changes_nothing(engine):
    org = make_org(engine)
    client = add_client(engine, org)
    days = [DAY + timedelta(days=i) for i in range(4)]
    for day in days:
        add_sale(engine, org, client, "50", day)
    for day in days[:2]:
        reconcile_day_cashback(engine, org, day)
    cancel_sale(engine, add_sale(engine, org, client, "70", days[0]))

    for _ in range(2):  # the backfill, then the same backfill again
        for day in days:
            reconcile_day_cashback(engine, org, day)

    assert balance(engine, org, client) == (D("20.00"), D("20.00"), D("0.00"))
    before = ledger_versions(engine, org)
    for day in days:
        reconcile_day_cashback(engine, org, day)
    assert ledger_versions(engine, org) == before
    assert_consistent(engine, org)


def _blocked_on_a_lock(engine, application_name: str) -> bool:
    return bool(
        count(
            engine,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = :a "
            "AND wait_event_type = 'Lock'",
            a=application_name,
        )
    )


def test_a_redemption_and_a_sync_on_the_same_client_lose_nothing(engine, database_url):
    org = make_org(engine)
    client = add_client(engine, org)
    add_sale(engine, org, client, "100", DAY)
    reconcile_day_cashback(engine, org, DAY)
    add_sale(engine, org, client, "50", DAY)  # the next sync accrues 5.00 more
    sync_engine = sa.create_engine(
        engine.url.render_as_string(hide_password=False),
        connect_args={"application_name": "ledger-sync-under-test"},
        poolclass=sa.pool.NullPool,
    )
    # The point of sale redeems and holds its transaction open while the sync starts.
    with engine.begin() as pos:
        ledger.redeem(
            pos,
            org_id=org,
            client_id=client,
            amount=D("7.00"),
            reference=uuid4().hex,
            now=datetime.now(UTC),
        )
        sync = threading.Thread(target=reconcile_day_cashback, args=(sync_engine, org, DAY))
        sync.start()
        waited = threading.Event()
        for _ in range(500):
            if _blocked_on_a_lock(engine, "ledger-sync-under-test"):
                waited.set()
                break
            threading.Event().wait(0.01)
    sync.join()
    sync_engine.dispose()

    assert waited.is_set(), "the sync should have waited for the redemption's row lock"
    assert balance(engine, org, client) == (D("8.00"), D("15.00"), D("7.00"))
    assert_consistent(engine, org)


def test_many_redemptions_racing_syncs_keep_every_centavo(engine):
    org = make_org(engine, accrual_type="FIXO", accrual_value="3")
    client = add_client(engine, org)
    for _ in range(10):
        add_sale(engine, org, client, "10", DAY)
    reconcile_day_cashback(engine, org, DAY)  # 30.00
    for _ in range(6):
        add_sale(engine, org, client, "10", DAY + timedelta(days=1))
    errors = []

    def redeem_one():
        try:
            with engine.begin() as conn:
                ledger.redeem(
                    conn,
                    org_id=org,
                    client_id=client,
                    amount=D("1.50"),
                    reference=uuid4().hex,
                    now=datetime.now(UTC),
                )
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=redeem_one) for _ in range(8)]
    threads.append(
        threading.Thread(target=reconcile_day_cashback, args=(engine, org, DAY + timedelta(days=1)))
    )
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert balance(engine, org, client) == (D("36.00"), D("48.00"), D("12.00"))
    assert_consistent(engine, org)


def _sync_with_ledger(instance, database_url, org_id, day):
    """The sync graph up to the ledger (and their checks), as one partition run."""
    return materialize_day(
        instance,
        database_url,
        org_id,
        day,
        selection=SYNC_GRAPH & dg.AssetSelection.assets("cashback_ledger").upstream(),
    )


def test_the_ledger_runs_in_the_sync_graph_and_a_rerun_accrues_nothing(
    engine, database_url, erp_simulator, instance
):
    simulator, url = erp_simulator
    org, token = new_org(
        engine,
        url,
        effects_start="2024-01-01",
        cashback_program={"accrual_type": "PERCENTUAL", "accrual_value": "5"},
    )
    simulator.configure(token, sales_per_day=15, cancel_fraction=0.0, troco_fraction=0.0)
    day = date(2026, 2, 10)

    first = _sync_with_ledger(instance, database_url, org, day)
    again = _sync_with_ledger(instance, database_url, org, day)

    accrued = metadata(first, "cashback_ledger")
    assert accrued["accruals"] > 0
    expected = count(
        engine,
        "SELECT COALESCE(sum(round(valor_total * 5 / 100, 2)), 0) * 100 FROM sales "
        "WHERE organizacao_id = :o AND valida AND cliente_id IS NOT NULL",
        o=org,
    )
    assert accrued["accrued_centavos"] == expected
    assert metadata(again, "cashback_ledger")["accruals"] == 0
    checks = [
        e for e in again.get_asset_check_evaluations() if e.asset_key.path == ["cashback_ledger"]
    ]
    assert len(checks) == 4 and all(c.passed for c in checks)
    assert_consistent(engine, org)
