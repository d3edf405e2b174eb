"""Example ERP's contract tests: its wire format served on loopback, synced into a real CRM
database by the real steps, with nothing but `recompra_pipelines.testing`."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from example_erp.connector import ExampleErpConnector

from recompra_pipelines.testing import (
    ErpAnswer,
    ErpRequest,
    SyncError,
    contract_problem,
    erp_server,
    run_connector_day,
)

DAY = date(2026, 11, 20)
KEY = "example-key-0123456789"


def sale(n: int, status: str = "pago", total: str | None = None) -> dict:
    value = total or f"{10 * n}.50"
    return {
        "id": f"V{n}", "status": status, "total": value, "hora": f"1{n}:00",
        "cliente": f"Cliente {n}", "fone": f"(11) 9{n}123-4567",
        "itens": [{"sku": "CAFE", "nome": "Café", "qtd": "1", "valor": value}],
    }  # fmt: skip


def answering(*sales: dict, complete: bool = True):
    def answer(request: ErpRequest) -> ErpAnswer:
        if request.headers.get("X-Api-Key") != KEY:
            return ErpAnswer(401, {"erro": f"chave invalida {request.headers.get('X-Api-Key')}"})
        return ErpAnswer(200, {"vendas": list(sales), "completo": complete})

    return answer


def integration(url: str, **extra) -> dict:
    return {"store_code": "LJ1", "server_url": url, "api_key": KEY, **extra}


def test_the_connector_meets_the_contract():
    assert contract_problem(ExampleErpConnector()) is None


def test_a_day_is_fetched_mapped_and_stored_with_bad_records_quarantined(engine):
    bad = {**sale(4), "total": "muito"}
    with erp_server(answering(sale(1), sale(2), sale(3, status="cancelado"), bad)) as erp:
        run = run_connector_day(engine, ExampleErpConnector(), integration(erp.url), DAY)

    [request] = erp.requests
    assert (request.path, request.query) == ("/api/vendas", {"loja": "LJ1", "data": "2026-11-20"})
    assert run.normalized.staged == 3 and run.normalized.quarantined == 1
    assert set(run.sales) == {"V1", "V2", "V3"}
    assert run.sales["V1"].total == Decimal("10.50") and run.sales["V1"].valid
    assert run.sales["V1"].nature == "SN01" and run.sales["V1"].client_name
    assert not run.sales["V3"].valid  # cancelled at the ERP: stored, never counted
    [quarantined] = run.quarantined
    assert (quarantined.external_id, quarantined.field) == ("V4", "total")


def test_a_rerun_of_an_unchanged_day_writes_nothing(engine):
    connector = ExampleErpConnector()
    with erp_server(answering(sale(1), sale(2))) as erp:
        first = run_connector_day(engine, connector, integration(erp.url), DAY, org_id="rerun")
        again = run_connector_day(engine, connector, integration(erp.url), DAY, org_id="rerun")
    assert first.extract.new_content and first.loaded.inserted == 2
    assert not again.extract.new_content and again.normalized.already_staged
    assert again.sales == first.sales


def test_a_sale_missing_from_two_complete_answers_is_removed(engine):
    connector = ExampleErpConnector()
    with erp_server(answering(sale(1), sale(2))) as erp:
        run_connector_day(engine, connector, integration(erp.url), DAY, org_id="vanish")
    with erp_server(answering(sale(1))) as erp:
        run_connector_day(engine, connector, integration(erp.url), DAY, org_id="vanish")
        run = run_connector_day(engine, connector, integration(erp.url), DAY, org_id="vanish")
    assert run.sales["V2"].removed and not run.sales["V1"].removed


def test_a_refused_key_fails_the_day_without_showing_the_key(engine):
    with erp_server(answering(sale(1))) as erp:
        config = integration(erp.url, api_key="wrong-key-9876543210")
        with pytest.raises(SyncError, match="HTTP 401") as raised:
            run_connector_day(engine, ExampleErpConnector(), config, DAY, org_id="refused")
    assert "wrong-key-9876543210" not in str(raised.value)
