"""The Online Software simulator, exercised over real HTTP on loopback."""

from __future__ import annotations

import logging
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest

from recompra_pipelines.simulators.erp_online_software import (
    LISTAR_VENDAS_PATH,
    MALFORMATIONS,
    ROTINA,
    OnlineSoftwareSimulator,
)

DAY = date(2026, 11, 27)  # a Friday
NOW = datetime(2026, 11, 28, 10, 0, 0)  # store-local; DAY is yesterday, complete

SALE_FIELDS = {
    "id",
    "cliente",
    "clientefone",
    "clientecelular",
    "documento",
    "modelo",
    "serie",
    "valor",
    "movimento",
    "data",
    "datahora",
    "vendedor",
    "natureza",
    "tipo",
    "parceiro",
    "situacao",
    "chave",
    "itens",
}
REQUIRED_SALE_FIELDS = SALE_FIELDS - {
    "datahora",
    "clientefone",
    "clientecelular",
    "parceiro",
    "chave",
}
ITEM_STRING_FIELDS = (
    "codigo",
    "descricao",
    "unidade",
    "qtde",
    "valorunit",
    "vprod",
    "vdesc",
    "baseicms",
    "percent",
    "icms",
    "cst_icms",
    "csosn",
    "cst_pis",
    "cfop",
    "vfrete",
    "vseg",
    "voutro",
    "vipi",
    "vicmsst",
    "vicms_desonera",
    "cest",
    "tipo",
    "ncm",
    "grupo",
)
NUMBER = re.compile(r"-?\d+[.,]\d+|-?\d+")
MONEY = re.compile(r"-?\d+[.,]\d{2}")


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[OnlineSoftwareSimulator, str]]:
    simulator = OnlineSoftwareSimulator()
    with simulator.run_in_thread() as base_url:
        yield simulator, base_url


@pytest.fixture
def sim(server: tuple[OnlineSoftwareSimulator, str]) -> OnlineSoftwareSimulator:
    simulator, _ = server
    simulator.reset()
    simulator.set_now(NOW)
    return simulator


@pytest.fixture
def client(server: tuple[OnlineSoftwareSimulator, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server[1], timeout=60) as http:
        yield http


def listar(
    client: httpx.Client, token: str, start: date = DAY, end: date | None = None
) -> httpx.Response:
    return client.post(
        LISTAR_VENDAS_PATH,
        json={
            "token": token,
            "rotina": ROTINA,
            "dtinicio": start.strftime("%d%m%Y"),
            "dtfim": (end or start).strftime("%d%m%Y"),
        },
    )


def sales(
    client: httpx.Client, token: str, start: date = DAY, end: date | None = None
) -> list[dict[str, Any]]:
    response = listar(client, token, start, end)
    assert response.status_code == 200, response.text
    resultado = response.json()["resultado"]
    assert isinstance(resultado, list)
    return resultado


def number(text: str) -> Decimal:
    return Decimal(text.replace(",", "."))


def items_net(sale: dict[str, Any]) -> Decimal:
    total = sum(
        (number(i["valorunit"]) * number(i["qtde"]) - number(i["vdesc"]) for i in sale["itens"]),
        Decimal(0),
    )
    return total.quantize(Decimal("0.01"), ROUND_HALF_UP)


def well_formed(sale: dict[str, Any]) -> bool:
    """What a strict consumer would accept: every field present and parseable."""
    try:
        if not REQUIRED_SALE_FIELDS <= sale.keys() or not isinstance(sale["itens"], list):
            return False
        if not MONEY.fullmatch(sale["valor"]):
            return False
        datetime.strptime(sale["data"], "%d/%m/%Y")
        for item in sale["itens"]:
            if any(not isinstance(item.get(f), str) for f in ITEM_STRING_FIELDS):
                return False
            if not NUMBER.fullmatch(item["qtde"]) or number(item["qtde"]) <= 0:
                return False
        return True
    except (KeyError, TypeError, ValueError):
        return False


def test_envelope_and_field_types(sim: OnlineSoftwareSimulator, client: httpx.Client) -> None:
    response = listar(client, "loja-centro")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert list(response.json()) == ["resultado"]
    records = response.json()["resultado"]
    assert len({s["id"] for s in records}) == 40

    for sale in records:
        assert SALE_FIELDS >= sale.keys() >= REQUIRED_SALE_FIELDS
        assert isinstance(sale["id"], str) and sale["id"].isdigit()
        assert isinstance(sale["valor"], str) and MONEY.fullmatch(sale["valor"])
        assert sale["movimento"] == "RECEITAS"
        assert sale["data"] == "27/11/2026"
        if "datahora" in sale:
            assert re.fullmatch(r"27/11/2026 (0[89]|1\d|2[0-2]):[0-5]\d:[0-5]\d", sale["datahora"])
        assert sale["natureza"] in {"SN01", "SN02", "SN99", "COND"}
        assert sale["situacao"] in {"00", "02"}
        assert sale["modelo"] in {"55", "65", "DV", "02", "3A"}
        if sale["modelo"] in {"55", "65"}:
            assert re.fullmatch(r"\d{44}", sale["chave"])
        else:
            assert sale["chave"] in {None, "N/A", ""}
        for field in ("clientefone", "clientecelular", "parceiro"):
            assert sale[field] is None or isinstance(sale[field], str)
        assert 1 <= len(sale["itens"]) <= 10
        for item in sale["itens"]:
            assert list(item)[:3] == ["codigo", "descricao", "unidade"]
            for field in ITEM_STRING_FIELDS:
                assert isinstance(item[field], str), field
            assert isinstance(item["vcusto"], int | float) and not isinstance(item["vcusto"], bool)
            assert re.fullmatch(r"\d{8}", item["ncm"])
            assert NUMBER.fullmatch(item["qtde"]) and number(item["qtde"]) > 0

    ids = Counter(s["id"] for s in records)
    for sale in records:
        if ids[sale["id"]] == 1 and sale["situacao"] == "00":
            assert number(sale["valor"]) == items_net(sale)


def test_data_is_deterministic_per_token_and_day(
    sim: OnlineSoftwareSimulator, client: httpx.Client
) -> None:
    first = listar(client, "loja-a")
    assert first.content == listar(client, "loja-a").content
    assert first.json()["resultado"] == sim.sales_for("loja-a", DAY)
    other = sales(client, "loja-b")
    assert [s["cliente"] for s in other] != [s["cliente"] for s in first.json()["resultado"]]
    assert sales(client, "loja-a", DAY - timedelta(days=1)) != first.json()["resultado"]
    sim.configure("loja-a", seed_salt="other")
    assert sales(client, "loja-a") != first.json()["resultado"]


def test_multi_day_window_concatenates_days(
    sim: OnlineSoftwareSimulator, client: httpx.Client
) -> None:
    start = DAY - timedelta(days=2)
    window = sales(client, "loja-a", start, DAY)
    by_day = [sales(client, "loja-a", start + timedelta(days=n)) for n in range(3)]
    assert window == by_day[0] + by_day[1] + by_day[2]
    assert sales(client, "loja-a", NOW.date() + timedelta(days=1)) == []


def test_customers_come_back_with_messy_names_and_phones(
    sim: OnlineSoftwareSimulator, client: httpx.Client
) -> None:
    sim.configure("loja-a", sales_per_day=300)
    week = sales(client, "loja-a", DAY - timedelta(days=6), DAY)
    anonymous = [
        s
        for s in week
        if s["cliente"].split() == ["AO", "CONSUMIDOR"]
        or " ".join(s["cliente"].split()).upper() == "AO CONSUMIDOR"
    ]
    assert 0.08 < len(anonymous) / len(week) < 0.25
    assert any(s["cliente"] != "AO CONSUMIDOR" for s in anonymous)

    spellings: defaultdict[str, set[str]] = defaultdict(set)
    for sale in week:
        key = " ".join(sale["cliente"].split()).casefold()
        spellings[key].add(sale["cliente"])
    assert any(len(names) > 1 for names in spellings.values())
    assert any(re.search("[áéíóúâêôãõç]", s["cliente"], re.IGNORECASE) for s in week)

    phones = [s["clientefone"] or s["clientecelular"] for s in week]
    assert any(p and re.fullmatch(r"\(\d\d\) \d{5}-\d{4}", p) for p in phones)
    assert any(p and re.fullmatch(r"\d{11}", p) for p in phones)
    assert any(p and p.startswith("+55 ") for p in phones)
    assert any(p and re.fullmatch(r"55\d{11}", p) for p in phones)
    assert any(not p for p in phones)
    assert any(s["clientecelular"] and not s["clientefone"] for s in week)
    assert {s["vendedor"] for s in week} >= {"N/A", "0"}
    partners = [s["parceiro"] for s in week if s["parceiro"] not in (None, "N/A", "0")]
    assert 0.05 < len(partners) / len(week) < 0.16
    assert all(re.fullmatch(r"\d{11}|\d{14}|[\d./-]{14}|[\d./-]{18}", p) for p in partners)


def test_today_grows_with_the_clock_and_cancellations_appear_later(
    sim: OnlineSoftwareSimulator, client: httpx.Client
) -> None:
    token = "loja-cancela"
    today = NOW.date()
    client.post(f"/_sim/tokens/{token}", json={"sales_per_day": 200, "cancel_fraction": 0.2})

    snapshots: dict[int, dict[str, dict[str, Any]]] = {}
    for hour in (7, 10, 14, 18, 23):
        clock = client.post("/_sim/clock", json={"now": f"{today}T{hour:02d}:00:00-03:00"})
        assert clock.status_code == 200
        snapshots[hour] = {s["id"]: s for s in sales(client, token, today)}
    assert snapshots[7] == {}
    counts = [len(snapshots[h]) for h in (10, 14, 18, 23)]
    assert counts == sorted(counts) and counts[0] < counts[-1]
    assert snapshots[10].keys() <= snapshots[14].keys() <= snapshots[23].keys()

    cancelled_later = [
        sale_id
        for sale_id, sale in snapshots[23].items()
        if sale["situacao"] == "02"
        and sale["natureza"] == "SN02"
        and any(snapshots[h].get(sale_id, {}).get("natureza") == "SN01" for h in (10, 14, 18))
    ]
    assert cancelled_later
    sale_id = cancelled_later[0]

    sim.set_now(datetime.combine(today + timedelta(days=1), datetime.min.time()).replace(hour=9))
    final = {s["id"]: s for s in sales(client, token, today)}
    assert final[sale_id]["situacao"] == "02"
    assert len(final) >= len(snapshots[23])


def test_troco_lines_repeat_ids_at_volume(
    sim: OnlineSoftwareSimulator, client: httpx.Client
) -> None:
    sim.configure("loja-grande", sales_per_day=3000)
    records = sales(client, "loja-grande")
    ids = Counter(s["id"] for s in records)
    repeated = {sale_id for sale_id, n in ids.items() if n > 1}
    assert len(ids) == 3000
    assert 5 <= len(repeated) <= 80
    assert all(ids[sale_id] == 2 for sale_id in repeated)
    by_id: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for sale in records:
        if sale["id"] in repeated:
            by_id[sale["id"]].append(sale)
    cancelled_looking = 0
    for pair in by_id.values():
        assert pair[0]["itens"] == pair[1]["itens"]
        matching = [s for s in pair if abs(number(s["valor"]) - items_net(s)) <= Decimal("0.011")]
        assert len(matching) == 1
        other = next(s for s in pair if s is not matching[0])
        cancelled_looking += other["situacao"] == "02" or number(other["valor"]) <= 0
    assert cancelled_looking >= 1


def test_429_carries_retry_after(sim: OnlineSoftwareSimulator, client: httpx.Client) -> None:
    sim.configure("loja-a", fail_next=[429], retry_after_seconds=7)
    response = listar(client, "loja-a")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert listar(client, "loja-a").status_code == 200


def test_fail_next_is_served_in_order_then_recovers(
    sim: OnlineSoftwareSimulator, client: httpx.Client
) -> None:
    configured = client.post("/_sim/tokens/loja-a", json={"fail_next": [500, 503, 429]})
    assert configured.status_code == 200
    assert [listar(client, "loja-a").status_code for _ in range(4)] == [500, 503, 429, 200]
    assert listar(client, "loja-b").status_code == 200
    assert [r["fault"] for r in sim.requests_for("loja-a")] == [
        "fail_next:500",
        "fail_next:503",
        "fail_next:429",
        None,
    ]


def test_latency_is_applied(sim: OnlineSoftwareSimulator, client: httpx.Client) -> None:
    sim.configure("loja-lenta", latency_seconds=0.3)
    with pytest.raises(httpx.ReadTimeout):
        client.post(
            LISTAR_VENDAS_PATH,
            json={
                "token": "loja-lenta",
                "rotina": ROTINA,
                "dtinicio": "27112026",
                "dtfim": "27112026",
            },
            timeout=0.05,
        )
    # The simulator still answers the abandoned request 0.3 s later: wait for that answer, so it
    # lands in this test's request log and not in whichever test the worker runs next.
    deadline = time.monotonic() + 30
    while not sim.requests_for("loja-lenta") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [entry["status"] for entry in sim.requests_for("loja-lenta")] == [200]


def test_malformed_records(sim: OnlineSoftwareSimulator, client: httpx.Client) -> None:
    sim.configure("loja-a", sales_per_day=80, troco_fraction=0, malformed_records=9)
    records = sales(client, "loja-a")
    bad = [s for s in records if not well_formed(s)]
    assert len(bad) == 9
    malformed = sim.malformed_ids_for("loja-a", DAY)
    assert {s["id"] for s in bad} == set(malformed)
    assert set(malformed.values()) == set(MALFORMATIONS)
    by_id = {s["id"]: s for s in records}
    for sale_id, kind in malformed.items():
        sale = by_id[sale_id]
        if kind == "missing_valor":
            assert "valor" not in sale
        elif kind == "valor_not_a_number":
            assert sale["valor"] == "abc"
        elif kind == "valor_nan":
            assert sale["valor"] == "NaN"
        elif kind == "negative_qtde":
            assert sale["itens"][0]["qtde"] == "-1"
        elif kind == "impossible_data":
            assert sale["data"] == "2026-13-45" and "datahora" not in sale
        elif kind == "item_missing_codigo":
            assert "codigo" not in sale["itens"][0]
        elif kind == "itens_not_a_list":
            assert isinstance(sale["itens"], dict)


def test_non_list_resultado_modes(sim: OnlineSoftwareSimulator, client: httpx.Client) -> None:
    sim.configure("loja-a", non_list_resultado="Nenhuma venda encontrada")
    assert listar(client, "loja-a").json() == {"resultado": "Nenhuma venda encontrada"}

    sim.configure("loja-a", non_list_resultado=None, response_mode="null_resultado")
    assert listar(client, "loja-a").json() == {"resultado": None}

    sim.configure("loja-a", response_mode="missing_resultado")
    assert "resultado" not in listar(client, "loja-a").json()

    sim.configure("loja-a", response_mode="html_error")
    html = listar(client, "loja-a")
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    assert "Fatal error" in html.text
    with pytest.raises(ValueError):
        html.json()

    sim.configure("loja-a", response_mode="normal")
    assert len(sales(client, "loja-a")) >= 40

    sim.configure("loja-fechada", closed_weekdays=[DAY.weekday()])
    assert listar(client, "loja-fechada").json() == {"resultado": []}
    sim.configure("loja-fechada", empty_day_message="Nenhuma venda encontrada")
    assert listar(client, "loja-fechada").json() == {"resultado": "Nenhuma venda encontrada"}


def test_bad_requests_get_400_and_unknown_tokens_401(
    sim: OnlineSoftwareSimulator, client: httpx.Client
) -> None:
    good = {"token": "loja-a", "rotina": ROTINA, "dtinicio": "27112026", "dtfim": "27112026"}
    bad_bodies = [
        {**good, "rotina": "listarVendas002"},
        {**good, "dtinicio": "2026-11-27"},
        {**good, "dtinicio": "31022026"},
        {**good, "dtfim": "26112026"},
        {key: value for key, value in good.items() if key != "dtfim"},
        {key: value for key, value in good.items() if key != "token"},
        ["not", "an", "object"],
    ]
    for body in bad_bodies:
        response = client.post(LISTAR_VENDAS_PATH, json=body)
        assert response.status_code == 400, body
        assert "erro" in response.json()
    assert client.post(LISTAR_VENDAS_PATH, content=b"{not json").status_code == 400

    client.post("/_sim/settings", json={"accept_any_token": False})
    denied = listar(client, "desconhecido")
    assert denied.status_code == 401 and denied.json() == {"erro": "token invalido"}
    sim.configure("conhecido")
    assert listar(client, "conhecido").status_code == 200


def test_extra_sales_and_overrides(sim: OnlineSoftwareSimulator, client: httpx.Client) -> None:
    target = sales(client, "loja-a")[0]
    injected = {**target, "id": "999", "cliente": "Cliente Injetado", "data": "27/11/2026"}
    undated = {"id": "1000", "valor": "abc"}
    sim.configure(
        "loja-a",
        overrides={target["id"]: {"valor": "0.00", "datahora": "__remove__"}},
        extra_sales=[injected, undated, {**injected, "id": "1001", "data": "01/01/2020"}],
    )
    records = sales(client, "loja-a")
    changed = next(s for s in records if s["id"] == target["id"])
    assert changed["valor"] == "0.00" and "datahora" not in changed
    assert changed["itens"] == target["itens"]
    assert records[-2:] == [injected, undated]


def test_twenty_thousand_sales_day(sim: OnlineSoftwareSimulator, client: httpx.Client) -> None:
    sim.configure("loja-enorme", sales_per_day=20_000)
    records = sales(client, "loja-enorme")
    assert len({s["id"] for s in records}) == 20_000


def test_control_endpoints(sim: OnlineSoftwareSimulator, client: httpx.Client) -> None:
    assert client.post("/_sim/tokens/loja-a", json={"no_such_key": 1}).status_code == 400
    assert client.post("/_sim/tokens/loja-a", json={"response_mode": "weird"}).status_code == 400
    assert client.post("/_sim/tokens/loja-a", json={"sales_per_day": 5}).status_code == 200
    assert client.get("/_sim/tokens/loja-a").json()["config"]["sales_per_day"] == 5
    assert len({s["id"] for s in sales(client, "loja-a")}) == 5

    clock = client.post("/_sim/clock", json={"now": "2026-11-28T15:30:00-03:00"}).json()
    assert clock["now"].startswith("2026-11-28T15:30:00")
    assert sim.now() == datetime.fromisoformat("2026-11-28T15:30:00-03:00")
    assert client.post("/_sim/clock", json={"now": "yesterday"}).status_code == 400

    assert client.post("/_sim/reset").status_code == 200
    assert sim.config_for("loja-a").sales_per_day == 40
    assert client.get("/_sim/requests").json() == []


def test_request_log_and_logs_never_show_the_token(
    sim: OnlineSoftwareSimulator, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cr3t-Token-9f8e7d"
    caplog.set_level(logging.DEBUG)
    configured = client.post("/_sim/tokens", json={"token": secret, "fail_next": [503]})
    assert configured.status_code == 200 and secret not in configured.text
    listar(client, secret)
    listar(client, secret)
    client.post(LISTAR_VENDAS_PATH, json={"token": secret, "rotina": "x"})

    log = client.get("/_sim/requests")
    assert log.status_code == 200
    entries = log.json()
    assert [e["status"] for e in entries] == [503, 200, 400]
    assert all(e["token"] == "***" for e in entries)
    assert len({e["token_ref"] for e in entries}) == 1
    assert entries[1]["dtinicio"] == "27112026" and entries[1]["records"] >= 40
    assert secret not in log.text
    assert secret not in repr(sim.requests)
    assert secret not in caplog.text
    assert len(sim.requests_for(secret)) == 3
