"""The Online Software client against the simulator over HTTP, and the wire mapper."""

from __future__ import annotations

import json
import logging
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from recompra_pipelines.connectors.errors import ErpPayloadError, ErpRequestError
from recompra_pipelines.connectors.http import RetrySettings
from recompra_pipelines.connectors.online_software.client import OnlineSoftwareClient, sales_url
from recompra_pipelines.connectors.online_software.envelope import sales_records
from recompra_pipelines.connectors.online_software.mapper import map_sale
from recompra_pipelines.domain.sales import RecordRejected

DAY = date(2026, 11, 20)
SP = ZoneInfo("America/Sao_Paulo")
SECRET = "s3cr3t-token-value"


def client(
    url: str, sleeps: list[float], token: str = SECRET, attempts: int = 4
) -> OnlineSoftwareClient:
    return OnlineSoftwareClient(
        token=token,
        server_url=url,
        timeout_seconds=5,
        retry=RetrySettings(
            max_attempts=attempts,
            backoff_seconds=0.001,
            max_backoff_seconds=0.002,
            max_retry_after_seconds=30,
        ),
        sleep=sleeps.append,
    )


def test_request_is_the_real_wire_format(erp_simulator):
    simulator, url = erp_simulator
    simulator.configure(SECRET, sales_per_day=5)
    extract = client(url, []).list_sales(DAY)
    assert extract.request == {
        "rotina": "listarVendas001",
        "dtinicio": "20112026",
        "dtfim": "20112026",
    }
    assert len(sales_records(extract.text)) >= 5
    logged = simulator.requests_for(SECRET)[-1]
    assert logged["token"] == "***"
    assert SECRET not in repr(simulator.requests)


def test_server_url_may_be_a_base_or_the_full_endpoint():
    assert sales_url("http://h:1/") == "http://h:1/planodecontas/apirestweb/vends/listvends.php"
    assert sales_url("http://h:1/x/listvends.php") == "http://h:1/x/listvends.php"
    assert sales_url(None).startswith("https://onlinesoftware.com.br/")


def test_5xx_and_429_are_retried_honouring_retry_after(erp_simulator):
    simulator, url = erp_simulator
    token = "retry-token"
    simulator.configure(token, sales_per_day=3, fail_next=[500, 429, 503], retry_after_seconds=7)
    sleeps: list[float] = []
    extract = client(url, sleeps, token=token).list_sales(DAY)
    assert extract.attempts == 4
    assert len(sleeps) == 3 and sleeps[1] == 7.0


def test_other_4xx_are_not_retried_and_the_token_never_shows(erp_simulator, caplog):
    simulator, url = erp_simulator
    sleeps: list[float] = []
    caplog.set_level(logging.DEBUG)
    bad = OnlineSoftwareClient(
        token=SECRET,
        server_url=url + "/nao-existe.php",
        retry=RetrySettings(max_attempts=3),
        sleep=sleeps.append,
    )
    with pytest.raises(ErpRequestError) as raised:
        bad.list_sales(DAY)
    assert "HTTP 404" in str(raised.value) and "not retried" in str(raised.value)
    assert sleeps == []
    assert SECRET not in str(raised.value) and SECRET not in repr(bad) and SECRET not in caplog.text


def test_retries_give_up_with_a_clear_error(erp_simulator):
    simulator, url = erp_simulator
    token = "always-failing"
    simulator.configure(token, fail_next=[502, 502, 502])
    with pytest.raises(
        ErpRequestError, match=r"listarVendas001 for 2026-11-20: HTTP 502 after 3 attempts"
    ):
        client(url, [], token=token, attempts=3).list_sales(DAY)


def test_connection_errors_are_retried_then_reported():
    sleeps: list[float] = []
    with pytest.raises(ErpRequestError, match="connection failed"):
        client("http://127.0.0.1:9", sleeps, attempts=2).list_sales(DAY)
    assert len(sleeps) == 1


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"resultado": "Falha na consulta"}', "'resultado' is not a list of sales: 'Falha na"),
        ('{"resultado": null}', "'resultado' is not a list of sales: NoneType"),
        ('{"erro": "x"}', "response has no 'resultado' (keys: erro)"),
        ("<html>Fatal error</html>", "response is not JSON"),
        ("[1, 2]", "response is a JSON list"),
    ],
)
def test_envelope_errors_say_what_came_instead(text, message):
    with pytest.raises(ErpPayloadError, match=message.replace("(", r"\(").replace(")", r"\)")):
        sales_records(text)


@pytest.mark.parametrize(
    "message",
    ["Nenhuma venda encontrada", " NENHUMA VENDA ENCONTRADA. ", "Nenhum registro localizado"],
)
def test_the_no_sales_message_is_an_empty_day(message):
    assert sales_records(json.dumps({"resultado": message})) == []


RECORD = {
    "id": "123", "cliente": "José da Silva", "clientefone": "(34) 3222-1111", "clientecelular": "34999998888",
    "documento": "1", "modelo": "65", "serie": "1", "valor": "45,90", "movimento": "RECEITAS",
    "data": "20/11/2026", "datahora": "20/11/2026 14:05:09", "vendedor": "Maria", "natureza": "sn01",
    "tipo": "Venda de produtos", "parceiro": "N/A", "situacao": "00", "chave": None,
    "itens": [{"codigo": "P1", "descricao": "Camiseta", "unidade": "UN", "qtde": "2.000", "valorunit": "25.00",
               "vprod": "50.00", "vdesc": "4.10", "vcusto": 30.5, "cfop": "5102", "ncm": "61091000",
               "tipo": "Revenda", "grupo": "Roupas"}],
}  # fmt: skip


def test_mapper_reads_strings_commas_and_the_optional_time():
    sale = map_sale(RECORD, day=DAY, timezone=SP)
    assert sale.total == Decimal("45.90") and sale.nature == "SN01"
    assert sale.client_phone == "34999998888"  # the mobile, not the landline
    assert sale.erp_time.isoformat() == "2026-11-20T14:05:09-03:00"
    (item,) = sale.items
    assert (item.quantity, item.gross, item.discount, item.net) == (
        Decimal("2.000"),
        Decimal("50.00"),
        Decimal("4.10"),
        Decimal("45.90"),
    )
    assert item.total_cost == Decimal("30.50") and item.unit_cost == Decimal("15.25")
    assert item.extra == {"cfop": "5102"}


@pytest.mark.parametrize(
    "change, field, reason",
    [
        ({"valor": "abc"}, "valor", "not a number: 'abc'"),
        ({"valor": "Infinity"}, "valor", "not a number"),
        ({"valor": None}, "valor", "missing"),
        ({"data": "2026-11-20"}, "data", ""),
        ({"data": "21/11/2026"}, "data", "outside the requested day"),
        ({"id": ""}, "id", "missing"),
        ({"itens": {"1": {}}}, "itens", "expected a list of items"),
        ({"valor": {"x": 1}}, "valor", "expected a text or number value"),
        # An id beyond 64 bits reaches us as a float (digits lost): never loaded as another id.
        ({"id": 1.2345678901234568e29}, "id", "expected a text or an integer"),
    ],
)
def test_mapper_rejects_a_bad_field_by_name(change, field, reason):
    with pytest.raises(RecordRejected) as raised:
        map_sale({**RECORD, **change}, day=DAY, timezone=SP)
    assert raised.value.field == field and reason in raised.value.reason


def test_mapper_rejects_bad_items_by_position():
    item = RECORD["itens"][0]
    for change, field in (
        ({"qtde": "-1"}, "itens[1].qtde"),
        ({"codigo": " "}, "itens[1].codigo"),
        ({"vcusto": float("nan")}, "itens[1].vcusto"),
    ):
        record = {**RECORD, "itens": [item, {**item, **change}]}
        with pytest.raises(RecordRejected) as raised:
            map_sale(record, day=DAY, timezone=SP)
        assert raised.value.field == field


def test_a_time_on_another_day_or_malformed_is_ignored():
    assert (
        map_sale({**RECORD, "datahora": "21/11/2026 10:00"}, day=DAY, timezone=SP).erp_time is None
    )
    assert (
        map_sale({**RECORD, "datahora": "20/11/2026 25:00"}, day=DAY, timezone=SP).erp_time is None
    )
    assert (
        map_sale({**RECORD, "datahora": "20/11/2026 10:00"}, day=DAY, timezone=SP).erp_time.hour
        == 10
    )
