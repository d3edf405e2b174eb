"""CardápioWeb: contract tests against the simulator over loopback HTTP, the mapper, the buckets."""

from __future__ import annotations

import json
import secrets
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import sqlalchemy as sa

from recompra_pipelines.connectors.cardapio_web.client import CardapioWebClient, day_window
from recompra_pipelines.connectors.cardapio_web.envelope import (
    DayExtract,
    history_is_complete,
    order_records,
    read_day_extract,
)
from recompra_pipelines.connectors.cardapio_web.mapper import map_order
from recompra_pipelines.connectors.http import FetchSettings, RetrySettings
from recompra_pipelines.connectors.rate_limit import TokenBucket
from recompra_pipelines.domain.sales import RecordRejected, SaleStatus
from recompra_pipelines.orgfile.organization import OrgFile
from recompra_pipelines.orgfile_store.writer import apply_org_file
from recompra_pipelines_tests.helpers import count, materialize_day, metadata, row_versions

DAY = date(2026, 11, 20)
SP = ZoneInfo("America/Sao_Paulo")


@pytest.fixture(scope="module")
def cw_simulator():
    from recompra_pipelines.simulators.erp_cardapio_web import CardapioWebSimulator

    simulator = CardapioWebSimulator(now=datetime(2026, 11, 21, 3, 0, tzinfo=SP))
    with simulator.run_in_thread() as base_url:
        yield simulator, base_url


def new_cw_org(engine, url: str, **org_fields) -> tuple[str, str]:
    """A CardápioWeb organization with fast limits; returns (org id, merchant id)."""
    org_id = f"cw-{secrets.token_hex(4)}"
    merchant_id = str(secrets.randbelow(10**6))
    org_file = OrgFile.model_validate(
        {
            "id": org_id,
            "name": f"Restaurante {org_id}",
            "integration": {
                "type": "cardapio-web",
                "server_url": url,
                "merchant_id": merchant_id,
                "api_key": f"key-{org_id}",
                "history_per_minute": 6000,
                "details_per_minute": 60000,
            },
            **org_fields,
        }
    )
    with engine.begin() as conn:
        apply_org_file(conn, org_file)
    return org_id, merchant_id


def sales(engine, org_id: str) -> dict[str, sa.Row]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT * FROM sales WHERE organizacao_id = :o"), {"o": org_id}
        ).all()
    return {row.id_externo: row for row in rows}


def detail_calls(simulator, merchant_id: str) -> int:
    return sum(
        1
        for r in simulator.requests
        if r["merchant_id"] == merchant_id and r["family"] == "details"
    )


def test_a_day_of_many_pages_syncs_every_order_with_its_details(
    engine, database_url, cw_simulator, instance
):
    simulator, url = cw_simulator
    org_id, merchant_id = new_cw_org(engine, url)
    simulator.configure(merchant_id, orders_per_day=230, api_key=f"key-{org_id}")
    expected = simulator.orders_for(merchant_id, DAY)

    result = materialize_day(instance, database_url, org_id, DAY)

    pages = [
        r
        for r in simulator.requests
        if r["merchant_id"] == merchant_id and r["family"] == "history"
    ]
    assert [p["page"] for p in pages] == [1, 2, 3]
    stored = sales(engine, org_id)
    assert set(stored) == {str(o["id"]) for o in expected}
    assert metadata(result, "erp_normalized_sales")["quarantined"] == 0
    cancelled = [o for o in expected if o["status"] == "canceled"]
    assert all(not stored[str(o["id"])].valida for o in cancelled)
    delivery = next(o for o in expected if o["order_type"] == "delivery" and o["customer"])
    row = stored[str(delivery["id"])]
    assert row.entrega_modalidade == "ENTREGA" and row.valor_taxa_entrega == Decimal("7.00")
    assert row.pagamentos[0]["payment_method"] == delivery["payments"][0]["payment_method"]
    assert (
        count(engine, "SELECT count(*) FROM client_locations WHERE organizacao_id = :o", o=org_id)
        > 0
    )
    # Lines with an external code are kept, under that code (the old code dropped them:
    # docs/decisions.md#d-26-cardápioweb-every-line-kept-values-never-reject-a-page).
    assert (
        count(
            engine,
            "SELECT count(*) FROM sale_items i JOIN products p ON p.id = i.produto_id "
            "WHERE i.organizacao_id = :o AND p.codigo = 'PZ-MARG'",
            o=org_id,
        )
        > 0
    )

    calls_before = detail_calls(simulator, merchant_id)
    versions = row_versions(engine, org_id)
    materialize_day(instance, database_url, org_id, DAY)
    # The cheap change check: unchanged history summaries reuse the stored details.
    assert detail_calls(simulator, merchant_id) == calls_before
    assert row_versions(engine, org_id) == versions


def test_a_failed_detail_leaves_the_order_pending_for_the_next_run(
    engine, database_url, cw_simulator, instance
):
    simulator, url = cw_simulator
    org_id, merchant_id = new_cw_org(engine, url)
    simulator.configure(merchant_id, orders_per_day=8)
    orders = [o for o in simulator.orders_for(merchant_id, DAY) if o["status"] == "closed"]
    first, second = orders[0]["id"], orders[1]["id"]
    simulator.configure(merchant_id, failing_details={first})

    result = materialize_day(instance, database_url, org_id, DAY)

    assert str(first) not in sales(engine, org_id)
    assert metadata(result, "erp_raw_extract")["pending_records"] == 1
    assert metadata(result, "erp_normalized_sales")["pending"] == 1

    # The order already synced fails its detail and is cancelled at the ERP meanwhile:
    # still pending, so it is neither lost nor taken as cancelled until its detail arrives.
    simulator.configure(merchant_id, failing_details={second}, cancelled={second})
    materialize_day(instance, database_url, org_id, DAY)
    stored = sales(engine, org_id)
    assert str(first) in stored
    assert stored[str(second)].valida and not stored[str(second)].cancelada
    # Listed by the history, so not missing either: a pending order never starts to vanish.
    assert stored[str(second)].ausente_desde is None

    simulator.configure(merchant_id, failing_details=set())
    result = materialize_day(instance, database_url, org_id, DAY)
    stored = sales(engine, org_id)
    # Cancellation: the sale becomes cancelada (the cashback reversal is the ledger's step).
    assert stored[str(second)].cancelada and not stored[str(second)].valida
    assert stored[str(second)].natureza == "CANCELADO"
    assert metadata(result, "crm_sales")["cancelled"] == 1


def test_a_cancelled_order_reverses_its_cashback(engine, database_url, cw_simulator, instance):
    simulator, url = cw_simulator
    org_id, merchant_id = new_cw_org(
        engine,
        url,
        effects_start=str(DAY),
        cashback_program={"accrual_type": "PERCENTUAL", "accrual_value": 10, "expiry_days": 30},
    )
    simulator.configure(merchant_id, orders_per_day=6)
    assert materialize_day(instance, database_url, org_id, DAY).success
    with engine.connect() as conn:
        accrual = conn.execute(
            sa.text(
                """SELECT t.id, t.valor, s.id_externo FROM cashback_program_transactions t
                   JOIN sales s ON s.id = t.venda_id
                   WHERE t.organizacao_id = :o AND t.tipo = 'ACÚMULO' ORDER BY s.id_externo LIMIT 1"""
            ),
            {"o": org_id},
        ).one()

    simulator.configure(merchant_id, cancelled={int(accrual.id_externo)})
    assert materialize_day(instance, database_url, org_id, DAY).success

    with engine.connect() as conn:
        reversal = conn.execute(
            sa.text(
                "SELECT valor FROM cashback_program_transactions WHERE organizacao_id = :o "
                "AND chave_idempotencia = :k"
            ),
            {"o": org_id, "k": f"estorno:{accrual.id}"},
        ).scalar_one()
    assert reversal == -accrual.valor
    assert sales(engine, org_id)[accrual.id_externo].cancelada


def test_unknown_enum_values_load_with_a_warning_instead_of_failing(
    engine, database_url, cw_simulator, instance
):
    simulator, url = cw_simulator
    org_id, merchant_id = new_cw_org(engine, url)
    simulator.configure(merchant_id, orders_per_day=10, drift_every=5)

    result = materialize_day(instance, database_url, org_id, DAY)

    normalized = metadata(result, "erp_normalized_sales")
    assert normalized["quarantined"] == 0 and normalized["unknown_values"] >= 2
    drifted = [r for r in sales(engine, org_id).values() if r.canal == "tiktok_shop"]
    assert len(drifted) == 2


def test_429_holds_the_bucket_for_retry_after_then_succeeds(cw_simulator):
    simulator, url = cw_simulator
    merchant_id = str(secrets.randbelow(10**6))
    simulator.configure(merchant_id, orders_per_day=3, force_429=1, retry_after_seconds=7)
    clock = FakeClock()
    client = CardapioWebClient(
        merchant_id=merchant_id,
        api_key="k",
        base_url=url,
        settings=FetchSettings(
            retry=RetrySettings(max_attempts=3, backoff_seconds=0.01, max_backoff_seconds=0.01)
        ),
        history_bucket=TokenBucket(5, clock=clock.now, sleep=clock.sleep),
        details_bucket=TokenBucket(280, clock=clock.now, sleep=clock.sleep),
        sleep=clock.sleep,
    )

    extract = client.fetch_day(DAY, SP)

    # Nothing goes out before the Retry-After; the emptied bucket may add its own pacing.
    assert clock.sleeps[0] >= 7
    assert len(order_records(extract.text)) == 3
    assert "k" not in str(extract.request.values())


def test_the_enforced_limit_answers_429_and_the_client_waits_it_out(cw_simulator):
    simulator, url = cw_simulator
    merchant_id = str(secrets.randbelow(10**6))
    simulator.configure(merchant_id, orders_per_day=3, details_per_minute=2)
    clock = FakeClock()
    client = CardapioWebClient(
        merchant_id=merchant_id,
        api_key="k",
        base_url=url,
        settings=FetchSettings(
            retry=RetrySettings(
                max_attempts=2,
                backoff_seconds=0.01,
                max_backoff_seconds=0.01,
                max_retry_after_seconds=0,
            )
        ),
        history_bucket=TokenBucket(600, clock=clock.now, sleep=clock.sleep),
        details_bucket=TokenBucket(600, clock=clock.now, sleep=clock.sleep),
        sleep=clock.sleep,
    )
    extract = client.fetch_day(DAY, SP)
    # The third detail is refused by the server's limit (our fake clock does not move its
    # clock): after the allowed attempts it is pending, not lost.
    assert read_day_extract(extract.text).failed_details == {
        str(simulator.orders_for(merchant_id, DAY)[2]["id"]): "HTTP 429 after 2 attempts"
    }


def test_a_history_cut_short_is_not_a_complete_answer():
    def page(number: int, total: int) -> dict:
        pagination = {"current_page": number, "total_pages": total, "total_orders": 250}
        return {"orders": [], "pagination": pagination}

    def extract(*pages: dict) -> DayExtract:
        return DayExtract(history_pages=list(pages), details=[], failed_details={"9": "HTTP 500"})

    # Pending details do not make an answer partial: those orders are listed.
    assert history_is_complete(extract(page(1, 3), page(2, 3), page(3, 3)))
    assert not history_is_complete(extract(page(1, 3), page(2, 3)))
    # More pages appeared while paging: the last announcement counts.
    assert not history_is_complete(extract(page(1, 2), page(2, 3)))
    assert not history_is_complete(extract())


def test_the_fetch_window_is_the_organization_local_day():
    assert day_window(DAY, SP) == ("2026-11-20T03:00:00.000Z", "2026-11-21T03:00:00.000Z")


class FakeClock:
    def __init__(self):
        self.t = 1000.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


def test_token_bucket_spends_its_burst_then_paces_at_its_rate():
    clock = FakeClock()
    bucket = TokenBucket(5, clock=clock.now, sleep=clock.sleep)
    for _ in range(5):
        assert bucket.acquire() == 0
    assert bucket.acquire() == pytest.approx(12)
    bucket.hold(30)
    assert bucket.acquire() == pytest.approx(30 + 12)


# -- the mapper ---------------------------------------------------------------------------------


def order(**changes):
    base = {
        "id": 42,
        "status": "closed",
        "order_type": "delivery",
        "sales_channel": "ifood",
        "total": 61.3,
        "delivery_fee": 5,
        "created_at": "2026-11-20T23:30:00Z",  # 20:30 in São Paulo
        "customer": {"id": 7, "name": "Ana Souza", "phone": "(11) 98765-4321"},
        "items": [
            {"item_id": 1, "external_code": "PZ", "name": "Pizza", "quantity": 2,
             "unit_price": 25, "total_price": 56.3, "kind": "regular_item", "status": "ok",
             "options": [{"option_id": 9, "name": "Borda", "quantity": 1, "unit_price": 3.15,
                          "option_group_id": 3}]},
            {"item_id": 2, "external_code": None, "name": "Suco", "quantity": 1,
             "unit_price": 8, "total_price": 8, "kind": "regular_item", "status": "canceled"},
        ],
        "discounts": [{"kind": "discount", "category": "coupon", "total": 1.0}],
        "payments": [{"total": 61.3, "payment_method": "pix", "payment_type": "online", "status": "paid"}],
    }  # fmt: skip
    return {**base, **changes}


def test_mapper_multiplies_options_by_quantity_and_keeps_external_codes():
    sale = map_order(order(), day=DAY, timezone=SP)
    (item,) = sale.items
    assert item.product_code == "PZ" and item.line == 1
    assert item.gross == Decimal("56.30") and item.net == Decimal("56.30")
    assert item.discount == Decimal("0.00")
    assert sale.erp_time == datetime(2026, 11, 20, 20, 30, tzinfo=SP)
    assert (sale.channel, sale.delivery_mode, sale.stored_nature) == ("iFood", "ENTREGA", "SN01")
    assert sale.status is SaleStatus.COMPLETED and sale.valid
    assert sale.client_external_id == "7" and sale.discount_total == Decimal("1.00")
    assert sale.delivery_fee == Decimal("5.00") and sale.warnings == ()


def test_mapper_tolerates_enum_drift_and_rejects_bad_amounts_by_field():
    drifted = map_order(
        order(sales_channel="tiktok", status="refunded_partially"), day=DAY, timezone=SP
    )
    assert drifted.channel == "tiktok" and drifted.stored_nature == "REFUNDED_PARTIALLY"
    assert drifted.status is SaleStatus.NOT_A_SALE and not drifted.valid
    assert "sales_channel: unknown value 'tiktok'" in drifted.warnings
    with pytest.raises(RecordRejected) as rejected:
        map_order(order(total="abc"), day=DAY, timezone=SP)
    assert rejected.value.field == "total"
    with pytest.raises(RecordRejected) as rejected:
        map_order(order(created_at="2026-11-21T04:00:00Z"), day=DAY, timezone=SP)
    assert rejected.value.field == "created_at"


def test_placeholder_customers_are_anonymous():
    from recompra_pipelines.domain.normalization import client_evidence

    sale = map_order(
        order(customer={"id": 1, "name": "CLIENTE CARDAPIO WEB", "phone": None}),
        day=DAY,
        timezone=SP,
    )
    assert client_evidence(sale) is None


def test_org_file_validates_cardapio_web_config_per_type(monkeypatch):
    monkeypatch.setenv("CW_KEY", "secret-key")
    org = OrgFile.model_validate(
        {
            "id": "x",
            "name": "x",
            "integration": {"type": "CARDAPIO-WEB", "merchant_id": 12, "api_key_env": "CW_KEY"},
        }
    )
    # Stored by reference: the key is read from the environment when a run fetches.
    assert org.integration.stored_config() == {"merchant_id": "12", "api_key_env": "CW_KEY"}
    with pytest.raises(ValueError, match="merchant_id"):
        OrgFile.model_validate(
            {"id": "x", "name": "x", "integration": {"type": "cardapio-web", "token": "t"}}
        )


def _products(engine, org_id: str) -> dict[str, sa.Row]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT * FROM products WHERE organizacao_id = :o"), {"o": org_id}
        ).all()
    return {row.codigo: row for row in rows}


def _sync_catalog(instance, database_url, org_id: str):
    from recompra_pipelines.assets.catalog import erp_catalog
    from recompra_pipelines.partitions import ORGANIZATIONS
    from recompra_pipelines.resources.crm_database import CrmDatabase
    from recompra_pipelines_tests.helpers import fast_erp

    if not instance.has_dynamic_partition(ORGANIZATIONS, org_id):
        instance.add_dynamic_partitions(ORGANIZATIONS, [org_id])
    result = dg.materialize(
        [erp_catalog],
        partition_key=org_id,
        instance=instance,
        resources={"crm_db": CrmDatabase(url=database_url), "erp": fast_erp()},
    )
    return metadata(result, "erp_catalog")


def test_the_catalog_and_the_orders_share_one_product_row_and_a_removed_item_turns_inactive(
    engine, database_url, cw_simulator, instance
):
    simulator, url = cw_simulator
    org_id, merchant_id = new_cw_org(engine, url)
    simulator.configure(merchant_id, orders_per_day=12)

    counts = _sync_catalog(instance, database_url, org_id)

    # Nine menu items, the combo skipped; codes are the merchant's, else the item id.
    assert (counts["products"], counts["products_inserted"], counts["combos_skipped"]) == (8, 8, 1)
    products = _products(engine, org_id)
    assert sorted(products) == sorted(
        ["PZ-MARG", "PZ-CALA", "502", "BG-CLAS", "BG-BACON", "506", "SUCO-LAR", "AÇAÍ-500"]
    )
    pizza = products["PZ-MARG"]
    assert (pizza.id_externo, pizza.ativo, pizza.grupo, pizza.preco_venda, pizza.quantidade) == (
        "500", True, "Pizzas", Decimal("54.90"), Decimal("40"),
    )  # fmt: skip
    assert pizza.imagem_capa_url.endswith("/500.jpg") and pizza.data_ultima_sincronizacao
    assert (
        count(engine, "SELECT count(*) FROM product_add_ons WHERE organizacao_id = :o", o=org_id)
        == 1
    )
    assert (
        count(
            engine,
            "SELECT count(*) FROM product_add_on_references WHERE organizacao_id = :o",
            o=org_id,
        )
        == 3
    )  # the three pizzas offer the add-ons

    # The day's orders use the same products: one row per code, the catalog's facts kept.
    assert materialize_day(instance, database_url, org_id, DAY).success
    after_orders = _products(engine, org_id)
    ordered = {
        code
        for order in simulator.orders_for(merchant_id, DAY)
        for code in (item["external_code"] or str(item["item_id"]) for item in order["items"])
    }
    assert set(after_orders) == set(products) | ordered
    assert after_orders["PZ-MARG"].id == pizza.id and after_orders["PZ-MARG"].grupo == "Pizzas"
    assert (
        count(
            engine,
            "SELECT count(*) FROM sale_items i JOIN products p ON p.id = i.produto_id"
            " WHERE i.organizacao_id = :o AND p.codigo = 'PZ-MARG' AND p.id <> :pid",
            o=org_id,
            pid=pizza.id,
        )
        == 0
    )

    # X-Bacon leaves the menu: inactive, never deleted. A re-run writes nothing.
    simulator.configure(merchant_id, off_the_menu={504})
    assert _sync_catalog(instance, database_url, org_id)["products_deactivated"] == 1
    bacon = _products(engine, org_id)["BG-BACON"]
    assert bacon.ativo is False
    versions = {code: row.data_atualizacao for code, row in _products(engine, org_id).items()}
    again = _sync_catalog(instance, database_url, org_id)
    assert (
        again["products_inserted"],
        again["products_updated"],
        again["products_deactivated"],
    ) == (0, 0, 0)
    assert {
        code: row.data_atualizacao for code, row in _products(engine, org_id).items()
    } == versions
    # Back on the menu: active again, the same row.
    simulator.configure(merchant_id, off_the_menu=set())
    assert _sync_catalog(instance, database_url, org_id)["products_updated"] == 1
    assert _products(engine, org_id)["BG-BACON"].ativo is True


def test_an_unreadable_catalog_entry_is_named_and_deactivates_nothing():
    from recompra_pipelines.connectors.cardapio_web.catalog import read_catalog
    from recompra_pipelines.connectors.errors import ErpPayloadError
    from recompra_pipelines.simulators.erp_cardapio_web import MerchantConfig, catalog

    body = catalog(MerchantConfig())
    body["categories"][0]["items"][1]["price"] = "abc"
    del body["categories"][1]["items"][0]["name"]

    read = read_catalog(json.dumps(body))

    assert not read.complete and len(read.products) == 6
    assert [str(entry) for entry in read.rejected] == [
        "categories[0].items[1] (item 501).price: not a number: 'abc'",
        "categories[1].items[0] (item 503).name: missing",
    ]
    with pytest.raises(ErpPayloadError, match="not an object with a 'categories' list"):
        read_catalog('{"categorias": []}')


def test_the_catalog_schedule_asks_for_each_cardapio_web_organization_once_a_day(
    engine, database_url, cw_simulator, erp_simulator, instance
):
    from recompra_pipelines.automation.catalog import erp_catalog_schedule
    from recompra_pipelines.partitions import ORGANIZATIONS
    from recompra_pipelines.resources.crm_database import CrmDatabase
    from recompra_pipelines_tests.helpers import new_org

    cw_org, _ = new_cw_org(engine, cw_simulator[1])
    os_org, _ = new_org(engine, erp_simulator[1])
    instance.add_dynamic_partitions(ORGANIZATIONS, [cw_org, os_org])
    with dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=datetime(2026, 11, 21, 4, 0, tzinfo=SP),
        resources={"crm_db": CrmDatabase(url=database_url)},
    ) as context:
        requests = erp_catalog_schedule(context)

    mine = [r for r in requests if r.partition_key in (cw_org, os_org)]
    assert [(r.partition_key, r.run_key) for r in mine] == [
        (cw_org, f"catalog:{cw_org}:2026-11-21")
    ]
