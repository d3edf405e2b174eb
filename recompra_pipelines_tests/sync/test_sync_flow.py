"""The org x day sync graph end to end: simulator over HTTP -> Dagster materialize -> CRM tables."""

from __future__ import annotations

import gzip
from datetime import date

import sqlalchemy as sa

from recompra_pipelines.domain.names import is_anonymous_client
from recompra_pipelines_tests.helpers import count, materialize_day, metadata, new_org, row_versions

DAY = date(2026, 11, 20)


def test_a_day_loads_every_sale_item_and_entity(engine, database_url, erp_simulator, instance):
    simulator, url = erp_simulator
    org_id, token = new_org(engine, url)
    simulator.configure(token, sales_per_day=60)
    records = simulator.sales_for(token, DAY)
    distinct_ids = {r["id"] for r in records}

    result = materialize_day(instance, database_url, org_id, DAY)

    assert result.success
    checks = result.get_asset_check_evaluations()
    sync_checks = [
        e
        for e in checks
        if e.asset_key.path[0] in {"erp_raw_extract", "erp_normalized_sales", "crm_sales"}
    ]
    assert len(sync_checks) == 5 and all(e.passed for e in checks)
    loaded = metadata(result, "crm_sales")
    assert loaded["inserted"] == len(distinct_ids) == loaded["staged"]
    assert count(engine, "SELECT count(*) FROM sales WHERE organizacao_id = :o", o=org_id) == len(
        distinct_ids
    )
    assert count(
        engine, "SELECT count(DISTINCT id_externo) FROM sales WHERE organizacao_id = :o", o=org_id
    ) == len(distinct_ids)
    anonymous = {r["id"] for r in records if is_anonymous_client(r["cliente"])}
    assert count(
        engine,
        "SELECT count(*) FROM sales WHERE organizacao_id = :o AND cliente_id IS NULL",
        o=org_id,
    ) == len(anonymous)
    assert (
        count(
            engine,
            "SELECT count(*) FROM clients WHERE organizacao_id = :o AND nome ILIKE '%consumidor%'",
            o=org_id,
        )
        == 0
    )
    kept_items = sum(
        len(r["itens"]) for r in {r["id"]: r for r in records if _matches_items(r)}.values()
    )
    assert (
        count(engine, "SELECT count(*) FROM sale_items WHERE organizacao_id = :o", o=org_id)
        == kept_items
    )
    assert count(
        engine, "SELECT count(*) FROM products WHERE organizacao_id = :o", o=org_id
    ) == len({i["codigo"] for r in records for i in r["itens"]})
    # Money is exact: the stored day total equals the sum of the ERP's strings.
    valid_total = count(
        engine,
        "SELECT COALESCE(sum(valor_total), 0) FROM sales WHERE organizacao_id = :o AND valida",
        o=org_id,
    )
    assert loaded["valid_sales_total_centavos"] == int(valid_total * 100)


def _matches_items(record) -> bool:
    from decimal import Decimal

    from recompra_pipelines.domain.parsing import parse_decimal

    net = sum(
        (parse_decimal(i.get("vprod") or "0") - parse_decimal(i.get("vdesc") or "0"))
        for i in record["itens"]
    )
    return (
        abs(parse_decimal(record["valor"]) - net) <= Decimal("0.011")
        or parse_decimal(record["valor"]) <= 0
    )


def test_rerunning_an_unchanged_day_writes_no_row(engine, database_url, erp_simulator, instance):
    simulator, url = erp_simulator
    org_id, token = new_org(engine, url)
    # A busy day from a small customer pool: namesakes with and without phones, repeat buyers.
    simulator.configure(token, sales_per_day=400, customer_pool_size=120)
    assert materialize_day(instance, database_url, org_id, DAY).success
    before = row_versions(engine, org_id)
    assert sum(len(rows) for rows in before.values()) > 1000

    again = materialize_day(instance, database_url, org_id, DAY)

    assert again.success
    assert row_versions(engine, org_id) == before
    assert metadata(again, "erp_raw_extract")["new_content"] is False
    assert metadata(again, "erp_normalized_sales")["already_staged"] is True
    assert metadata(again, "crm_entities")["already_upserted"] is True
    sales = metadata(again, "crm_sales")
    assert (sales["inserted"], sales["updated"], sales["unchanged"]) == (0, 0, sales["staged"])
    assert (
        count(engine, "SELECT count(*) FROM erp_raw_extracts WHERE organizacao_id = :o", o=org_id)
        == 1
    )
    assert (
        count(engine, "SELECT capturas FROM erp_raw_extracts WHERE organizacao_id = :o", o=org_id)
        == 2
    )


def test_entities_are_matched_again_when_the_staged_content_changes(
    engine, database_url, erp_simulator, instance
):
    simulator, url = erp_simulator
    org_id, token = new_org(engine, url)
    simulator.configure(token, sales_per_day=40)
    first = materialize_day(instance, database_url, org_id, DAY)
    assert metadata(first, "crm_entities")["already_upserted"] is False
    newcomer = {**simulator.sales_for(token, DAY)[0], "id": "900000001"}
    newcomer.update(cliente="Cliente Novo Da Silva", clientefone="", clientecelular="11987654321")
    simulator.configure(token, extra_sales=[newcomer])

    again = materialize_day(instance, database_url, org_id, DAY)

    entities = metadata(again, "crm_entities")
    assert entities["already_upserted"] is False
    assert entities["clients_inserted"] == 1
    assert (
        count(
            engine,
            "SELECT count(*) FROM clients WHERE organizacao_id = :o AND nome = :n",
            o=org_id,
            n="Cliente Novo Da Silva",
        )
        == 1
    )


def test_two_organizations_with_identical_erp_data_stay_separate(
    engine, database_url, erp_simulator, instance
):
    simulator, url = erp_simulator
    shared_token = "token-shared-by-two-orgs"
    simulator.configure(shared_token, sales_per_day=30)
    first, _ = new_org(engine, url, token=shared_token)
    second, _ = new_org(engine, url, token=shared_token)

    assert materialize_day(instance, database_url, first, DAY).success
    assert materialize_day(instance, database_url, second, DAY).success

    for table in ("sales", "clients", "products", "sale_items", "sellers"):
        a = count(engine, f"SELECT count(*) FROM {table} WHERE organizacao_id = :o", o=first)
        b = count(engine, f"SELECT count(*) FROM {table} WHERE organizacao_id = :o", o=second)
        assert a == b > 0, table
    # No row of one organization points at another's.
    assert (
        count(
            engine,
            """SELECT count(*) FROM sales s JOIN clients c ON c.id = s.cliente_id
           WHERE s.organizacao_id <> c.organizacao_id""",
        )
        == 0
    )
    assert (
        count(
            engine,
            """SELECT count(*) FROM sale_items i JOIN products p ON p.id = i.produto_id
           WHERE i.organizacao_id <> p.organizacao_id""",
        )
        == 0
    )


def test_the_erp_token_is_never_stored_or_logged(engine, database_url, erp_simulator, instance):
    simulator, url = erp_simulator
    secret = "super-secret-os-token-123"
    org_id, _ = new_org(engine, url, token=secret)
    simulator.configure(secret, sales_per_day=5, fail_next=[503])

    result = materialize_day(instance, database_url, org_id, DAY)

    assert result.success
    logs = " ".join(str(entry) for entry in instance.all_logs(result.run_id))
    assert secret not in logs
    with engine.connect() as conn:
        request, content = conn.execute(
            sa.text(
                "SELECT requisicao::text, conteudo_gzip FROM erp_raw_extracts WHERE organizacao_id = :o"
            ),
            {"o": org_id},
        ).one()
    assert secret not in request and secret not in gzip.decompress(content).decode()
    assert metadata(result, "erp_raw_extract")["http_attempts"] == 2
