"""Hostile ERP records: each one the database would refuse (or a parser would choke on) is
quarantined alone, named by its field, next to good sales that load; the run succeeds; the raw
response is stored byte for byte; and the day replayed from those stored bytes gives the same
CRM rows and the same quarantine."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC, date, datetime

import httpx
import sqlalchemy as sa

from recompra_pipelines.connectors.online_software.schema import LISTAR_VENDAS_PATH
from recompra_pipelines.domain.parsing import format_ddmmyyyy
from recompra_pipelines.sync import steps
from recompra_pipelines_tests.helpers import count, materialize_day, new_org
from recompra_pipelines_tests.loopback import raw_http

DAY = date(2026, 11, 18)
NAN_LITERAL = "__nan__"


def _hostile(good: dict, sale_id: str, **changes) -> dict:
    return {**good, "id": sale_id, **changes}


def _with_item(good: dict, sale_id: str, **item_changes) -> dict:
    return {**good, "id": sale_id, "itens": [{**good["itens"][0], **item_changes}]}


def _nested(depth: int, leaf: object = "x") -> object:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def _text_with(sale: dict, field: str, raw_json: str) -> str:
    """The sale as JSON text whose `field` holds `raw_json` verbatim (what no encoder writes)."""
    return json.dumps({**sale, field: NAN_LITERAL}).replace(f'"{NAN_LITERAL}"', raw_json)


# External id -> (field, a phrase of the reason) each hostile record is quarantined with.
EXPECTED = {
    "h-valor-1e30": ("valor", "1e+30 is beyond any amount the CRM can store"),
    "h-valor-15-digits": ("valor", "'100000000000000' is beyond any amount the CRM can store"),
    "h-valor-nan": ("valor", "not a finite number: nan"),
    "h-valor-5000-digits": ("valor", "is beyond any amount the CRM can store"),
    "h-cliente-nul": ("cliente", "contains a NUL character"),
    "h-cliente-surrogate": ("cliente", "contains an unpaired surrogate"),
    "h-cfop-nul": ("itens[0].cfop", "contains a NUL character"),
    "h-qtde-1e30": ("itens[0].qtde", "1e+30 is beyond any amount the CRM can store"),
    "h-qtde-12-digits": ("itens[0].qtde", "does not fit NUMERIC(15,4)"),
    "h-codigo-5000": ("itens[0].codigo", "5000 characters long"),
    "h-cfop-300-deep": ("itens[0].cfop", "nested deeper than 64 levels"),
    "h-cliente-5000-deep": ("cliente", "expected a text or number value"),
}
LONG_ID = "9" * 5000


def hostile_day(good: dict) -> tuple[list[dict], list[str]]:
    """(sales an encoder can write, record texts only raw JSON can carry)."""
    sales = [
        _hostile(good, "h-valor-15-digits", valor="100000000000000"),
        _hostile(good, "h-cliente-nul", cliente="MARIA\x00 SILVA"),
        _with_item(good, "h-cfop-nul", cfop="5102\x00"),
        _with_item(good, "h-qtde-12-digits", qtde="100000000000"),
        _with_item(good, "h-codigo-5000", codigo="7" * 5000),
        _hostile(good, LONG_ID),
        _with_item(good, "h-cfop-300-deep", cfop=_nested(300)),
        # Deep, but in a field the CRM never reads: the sale loads.
        _hostile(good, "ok-deep-unread-field", anexo=_nested(300)),
    ]
    texts = [
        _text_with(_hostile(good, "h-valor-1e30"), "valor", "1e30"),
        _text_with(_hostile(good, "h-valor-nan"), "valor", "NaN"),
        _text_with(_hostile(good, "h-valor-5000-digits"), "valor", "9" * 5000),
        _text_with(_hostile(good, "h-cliente-surrogate"), "cliente", '"ANA \\ud800"'),
        json.dumps(_with_item(good, "h-qtde-1e30", qtde=NAN_LITERAL)).replace(
            f'"{NAN_LITERAL}"', "1e30"
        ),
        _text_with(_hostile(good, "h-cliente-5000-deep"), "cliente", "[" * 5000 + "]" * 5000),
        # A byte that is not UTF-8 in a name: the sale loads, the stored bytes keep the byte.
        _text_with(
            _hostile(good, "ok-latin1-name", clientefone="", clientecelular=""),
            "cliente",
            '"JOS\udcc9 LIMA"',
        ),
    ]
    return sales, texts


def quarantine(engine: sa.Engine, org_id: str) -> dict[str, tuple]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT id_externo, campo, motivo, registro, registro_bruto, hash_registro"
                " FROM erp_quarantine WHERE organizacao_id = :o"
            ),
            {"o": org_id},
        ).all()
    return {
        row.id_externo: (
            row.campo,
            row.motivo,
            row.registro,
            None if row.registro_bruto is None else bytes(row.registro_bruto),
            row.hash_registro,
        )
        for row in rows
    }


def crm_rows(engine: sa.Engine, org_id: str) -> dict[str, list]:
    """Sales and items of the organization by natural key, without ids and timestamps."""
    with engine.connect() as conn:
        sales = conn.execute(
            sa.text(
                "SELECT id_externo, cliente_id, valor_total, custo_total, natureza, valida,"
                " data_venda, data_venda_precisao, hash_conteudo FROM sales"
                " WHERE organizacao_id = :o ORDER BY id_externo"
            ),
            {"o": org_id},
        ).all()
        items = conn.execute(
            sa.text(
                "SELECT s.id_externo, i.linha, i.produto_id, i.quantidade, i.valor_unitario,"
                " i.valor_venda_total_liquido, i.metadados FROM sale_items i"
                " JOIN sales s ON s.id = i.venda_id WHERE s.organizacao_id = :o"
                " ORDER BY s.id_externo, i.linha"
            ),
            {"o": org_id},
        ).all()
    return {"sales": [tuple(r) for r in sales], "items": [tuple(r) for r in items]}


def test_every_hostile_record_is_quarantined_by_field_while_the_good_sales_load(
    engine, database_url, erp_simulator, instance
):
    simulator, url = erp_simulator
    org_id, token = new_org(engine, url)
    simulator.configure(token, sales_per_day=20)
    good_sales = simulator.sales_for(token, DAY)
    sales, texts = hostile_day(good_sales[0])
    simulator.configure(token, extra_sales=sales, extra_record_texts=texts)

    result = materialize_day(instance, database_url, org_id, DAY)

    assert result.success
    stored = quarantine(engine, org_id)
    assert {i: (campo, motivo) for i, (campo, motivo, *_) in stored.items()}.keys() == {
        *EXPECTED,
        LONG_ID[:255],
    }
    for sale_id, (field, phrase) in EXPECTED.items():
        campo, motivo, *_ = stored[sale_id]
        assert (campo, phrase in motivo) == (field, True), (sale_id, campo, motivo)
    campo, motivo, *_ = stored[LONG_ID[:255]]
    assert (campo, motivo) == ("id", "5000 characters long; the CRM indexes at most 255")
    # What JSONB cannot hold is kept as the record's JSON bytes; everything else as JSONB.
    for sale_id in ("h-valor-nan", "h-cliente-nul", "h-cfop-nul", "h-cliente-surrogate"):
        _, _, registro, registro_bruto, _ = stored[sale_id]
        assert registro is None and sale_id.encode() in registro_bruto
    assert stored["h-valor-15-digits"][2]["valor"] == "100000000000000"

    loaded = {row[0] for row in crm_rows(engine, org_id)["sales"]}
    assert {s["id"] for s in good_sales} | {"ok-deep-unread-field", "ok-latin1-name"} == loaded
    with engine.connect() as conn:
        name = conn.scalar(
            sa.text(
                "SELECT c.nome FROM sales s JOIN clients c ON c.id = s.cliente_id"
                " WHERE s.organizacao_id = :o AND s.id_externo = 'ok-latin1-name'"
            ),
            {"o": org_id},
        )
    assert name == "JOS\ufffd LIMA"

    # The stored extract is the exact bytes the ERP sent, hashed over those bytes.
    served = httpx.post(
        url + LISTAR_VENDAS_PATH,
        json={
            "token": token,
            "rotina": "listarVendas001",
            "dtinicio": format_ddmmyyyy(DAY),
            "dtfim": format_ddmmyyyy(DAY),
        },
    ).content
    assert b"JOS\xc9 LIMA" in served
    with engine.connect() as conn:
        extract = conn.execute(
            sa.text(
                "SELECT conteudo_gzip, hash_conteudo, tamanho_bytes FROM erp_raw_extracts"
                " WHERE organizacao_id = :o"
            ),
            {"o": org_id},
        ).one()
    assert gzip.decompress(extract.conteudo_gzip) == served
    assert extract.hash_conteudo == hashlib.sha256(served).hexdigest()
    assert extract.tamanho_bytes == len(served)

    # Replayed from the stored bytes alone (the ERP is not asked): the same rows again.
    before = (crm_rows(engine, org_id), quarantine(engine, org_id))
    with engine.begin() as conn:
        for table in ("erp_quarantine", "erp_staging_sales", "erp_staging_extracts"):
            conn.execute(sa.text(f"DELETE FROM {table} WHERE organizacao_id = :o"), {"o": org_id})
        conn.execute(sa.text("DELETE FROM sales WHERE organizacao_id = :o"), {"o": org_id})
    simulator.configure(token, fail_next=[500] * 20)  # any call to the ERP would fail
    replay = steps.normalize_sales(engine, org_id, DAY, now=datetime.now(UTC))
    steps.upsert_day_entities(engine, org_id, DAY)
    steps.load_day_sales(engine, org_id, DAY)
    simulator.configure(token, fail_next=[])
    assert replay.quarantined == len(EXPECTED) + 1
    after = (crm_rows(engine, org_id), quarantine(engine, org_id))
    assert after[0]["items"] == before[0]["items"]
    assert [row[:1] + row[2:] for row in after[0]["sales"]] == [
        row[:1] + row[2:] for row in before[0]["sales"]
    ]
    assert after[1] == before[1]


def test_a_response_nested_5000_levels_is_a_recorded_reading_error_that_fails_the_run(
    engine, database_url, instance
):
    body = b"[" * 5000 + b"]" * 5000
    with raw_http(body) as url:
        org_id, _ = new_org(engine, url)
        result = materialize_day(instance, database_url, org_id, DAY, raise_on_error=False)

    assert not result.success
    check = next(
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "erp_raw_extract_is_readable"
    )
    assert not check.passed
    with engine.connect() as conn:
        stored = conn.execute(
            sa.text(
                "SELECT conteudo_gzip, registros, erro_leitura FROM erp_raw_extracts"
                " WHERE organizacao_id = :o"
            ),
            {"o": org_id},
        ).one()
    assert gzip.decompress(stored.conteudo_gzip) == body
    assert stored.registros is None and "not an object with 'resultado'" in stored.erro_leitura
    assert count(engine, "SELECT count(*) FROM sales WHERE organizacao_id = :o", o=org_id) == 0


def test_catalog_values_the_crm_cannot_store_reject_their_item_by_field():
    from recompra_pipelines.connectors.cardapio_web.catalog import read_catalog
    from recompra_pipelines.simulators.erp_cardapio_web import MerchantConfig, catalog

    body = catalog(MerchantConfig())
    pizzas, snacks, drinks = (body["categories"][i]["items"] for i in (0, 1, 3))
    pizzas[0]["name"] = "Pizza\x00"
    pizzas[1]["option_groups"][0]["maximum_quantity"] = 2**31
    pizzas[2]["option_groups"][0]["options"][0]["name"] = "Borda \ud800"
    snacks[0]["external_code"] = "x" * 5000
    drinks[0]["stock"] = "200000000000"  # a price may be this large, a stock may not

    read = read_catalog(json.dumps(body))

    assert [str(entry) for entry in read.rejected] == [
        "categories[0].items[0] (item 500).name: contains a NUL character, which PostgreSQL"
        " text cannot hold",
        f"categories[0].items[1] (item 501).option_groups[0].maximum_quantity: {2**31} does not"
        " fit a PostgreSQL integer",
        "categories[0].items[2] (item 502).option_groups[0].options[0].name: contains an"
        " unpaired surrogate, which is not valid Unicode",
        "categories[1].items[0] (item 503).external_code: 5000 characters long; the CRM indexes"
        " at most 255",
        "categories[3].items[0] (item 506).stock: 200000000000 does not fit NUMERIC(15,4)",
    ]
    assert sorted(product.external_id for product in read.products.values()) == [
        "504", "507", "508",
    ]  # fmt: skip
    assert not read.complete  # so nothing is taken as gone from the catalog
