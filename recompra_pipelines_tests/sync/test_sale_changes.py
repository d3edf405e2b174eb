"""Sales that change at the ERP: cancellation, re-validation, times, troco lines, overlap."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from recompra_pipelines.domain.parsing import parse_br_datetime
from recompra_pipelines.sync import steps
from recompra_pipelines_tests.helpers import count, fast_erp, materialize_day, metadata, new_org

DAY = date(2026, 11, 19)
SP = ZoneInfo("America/Sao_Paulo")


def _sale(engine, org_id, external_id):
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT * FROM sales WHERE organizacao_id = :o AND id_externo = :e"),
            {"o": org_id, "e": external_id},
        ).one()


def _first_valid(records):
    return next(
        r
        for r in records
        if r["natureza"] == "SN01" and r["cliente"].strip().upper() != "AO CONSUMIDOR"
    )


def test_cancelled_sale_is_recorded_and_a_revalidated_one_gets_a_new_revision(
    engine, database_url, erp_simulator, instance
):
    simulator, url = erp_simulator
    org_id, token = new_org(engine, url)
    simulator.configure(token, sales_per_day=10, cancel_fraction=0.0, troco_fraction=0.0)
    target = _first_valid(simulator.sales_for(token, DAY))
    assert materialize_day(instance, database_url, org_id, DAY).success
    client_id = _sale(engine, org_id, target["id"]).cliente_id
    purchases_before = count(
        engine, "SELECT metadata_total_compras FROM clients WHERE id = :c", c=client_id
    )

    simulator.configure(token, overrides={target["id"]: {"natureza": "SN02", "situacao": "02"}})
    cancelled = materialize_day(instance, database_url, org_id, DAY)

    sales = metadata(cancelled, "crm_sales")
    assert (sales["cancelled"], sales["updated"], sales["inserted"]) == (1, 1, 0)
    row = _sale(engine, org_id, target["id"])
    assert row.cancelada and not row.valida and row.data_cancelamento is not None
    assert row.validade_revisao == 0
    # Purchase totals come from valid sales only.
    assert (
        count(engine, "SELECT metadata_total_compras FROM clients WHERE id = :c", c=client_id)
        == purchases_before - 1
    )

    simulator.configure(token, overrides={})
    revalidated = materialize_day(instance, database_url, org_id, DAY)

    assert metadata(revalidated, "crm_sales")["revalidated"] == 1
    row = _sale(engine, org_id, target["id"])
    assert row.valida and not row.cancelada and row.data_cancelamento is None
    assert row.validade_revisao == 1
    assert (
        count(engine, "SELECT metadata_total_compras FROM clients WHERE id = :c", c=client_id)
        == purchases_before
    )


def test_a_zero_value_is_a_cancellation_too(engine, database_url, erp_simulator, instance):
    simulator, url = erp_simulator
    org_id, token = new_org(engine, url)
    simulator.configure(token, sales_per_day=5, cancel_fraction=0.0, troco_fraction=0.0)
    target = _first_valid(simulator.sales_for(token, DAY))
    assert materialize_day(instance, database_url, org_id, DAY).success

    simulator.configure(token, overrides={target["id"]: {"valor": "0.00"}})
    assert materialize_day(instance, database_url, org_id, DAY).success

    assert _sale(engine, org_id, target["id"]).cancelada


def test_sale_time_keeps_the_best_known_time(engine, database_url, erp_simulator):
    simulator, url = erp_simulator
    org_id, token = new_org(engine, url)
    today = datetime.now(SP).date()
    simulator.set_now(
        datetime.combine(today, datetime.max.time()).replace(tzinfo=SP) - timedelta(minutes=1)
    )
    try:
        simulator.configure(
            token, sales_per_day=30, datahora_fraction=0.5, cancel_fraction=0.0, troco_fraction=0.0
        )
        records = {r["id"]: r for r in simulator.sales_for(token, today)}
        with_time = next(r for r in records.values() if r.get("datahora"))
        without_time = next(r for r in records.values() if not r.get("datahora"))
        first_seen = datetime.now(UTC)
        _sync_steps(database_url, engine, org_id, today, now=first_seen)

        erp_row = _sale(engine, org_id, with_time["id"])
        assert erp_row.data_venda_precisao == "ERP"
        assert erp_row.data_venda == parse_br_datetime(with_time["datahora"]).replace(tzinfo=SP)
        captured = _sale(engine, org_id, without_time["id"])
        assert captured.data_venda_precisao == "CAPTURA"
        assert abs(captured.data_venda - first_seen) < timedelta(seconds=1)

        # A later change of the sale keeps the captured time (the old code reset it to midnight).
        simulator.configure(token, overrides={without_time["id"]: {"situacao": "04"}})
        _sync_steps(database_url, engine, org_id, today, now=first_seen + timedelta(hours=2))
        changed = _sale(engine, org_id, without_time["id"])
        assert changed.situacao == "04"
        assert (
            changed.data_venda == captured.data_venda and changed.data_venda_precisao == "CAPTURA"
        )
    finally:
        simulator.set_now(None)


def test_backfilled_sale_without_time_is_dated_local_midnight(engine, database_url, erp_simulator):
    simulator, url = erp_simulator
    org_id, token = new_org(engine, url)
    simulator.configure(token, sales_per_day=10, datahora_fraction=0.0)
    _sync_steps(database_url, engine, org_id, DAY, now=datetime.now(UTC))
    with engine.connect() as conn:
        times = conn.execute(
            sa.text(
                "SELECT DISTINCT data_venda, data_venda_precisao FROM sales WHERE organizacao_id = :o"
            ),
            {"o": org_id},
        ).all()
    assert times == [(datetime(2026, 11, 19, tzinfo=SP), "DIA")]


def test_repeated_ids_keep_the_real_sale_and_drop_the_troco_line(
    engine, database_url, erp_simulator, instance
):
    simulator, url = erp_simulator
    org_id, token = new_org(engine, url)
    base = simulator.sales_for(token, DAY)[0]
    item = {
        **base["itens"][0],
        "qtde": "1",
        "valorunit": "24.25",
        "vprod": "24.25",
        "vdesc": "0.00",
    }
    real = {**base, "id": "troco-1", "valor": "24.25", "natureza": "SN01", "itens": [item]}
    troco = {**real, "valor": "75.75"}
    ambiguous = [
        {**real, "id": "amb-1", "valor": "10.00"},
        {**real, "id": "amb-1", "valor": "11.00"},
    ]
    simulator.configure(
        token, sales_per_day=3, troco_fraction=0.0, extra_sales=[troco, real, *ambiguous]
    )

    result = materialize_day(instance, database_url, org_id, DAY)

    assert result.success
    normalized = metadata(result, "erp_normalized_sales")
    assert normalized["troco_lines_dropped"] == 1
    assert normalized["quarantined"] == 2
    kept = _sale(engine, org_id, "troco-1")
    assert str(kept.valor_total) == "24.25"
    assert (
        count(
            engine,
            "SELECT count(*) FROM sales WHERE organizacao_id = :o AND id_externo = 'troco-1'",
            o=org_id,
        )
        == 1
    )
    assert (
        count(
            engine,
            "SELECT count(*) FROM sales WHERE organizacao_id = :o AND id_externo = 'amb-1'",
            o=org_id,
        )
        == 0
    )
    reasons = count(
        engine,
        "SELECT min(motivo) FROM erp_quarantine WHERE organizacao_id = :o AND id_externo = 'amb-1'",
        o=org_id,
    )
    assert "repeated 2 times" in reasons


def test_two_overlapping_runs_of_one_partition_leave_no_duplicates(
    engine, database_url, erp_simulator
):
    simulator, url = erp_simulator
    org_id, token = new_org(engine, url)
    simulator.configure(token, sales_per_day=80, latency_seconds=0.2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            _sync_steps(database_url, engine, org_id, DAY, now=datetime.now(UTC))
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    simulator.configure(token, latency_seconds=0.0)

    assert errors == []
    distinct = len({r["id"] for r in simulator.sales_for(token, DAY)})
    assert (
        count(engine, "SELECT count(*) FROM sales WHERE organizacao_id = :o", o=org_id) == distinct
    )
    for table, key in (
        ("sales", "id_externo"),
        ("clients", "telefone_base"),
        ("products", "codigo"),
        ("sellers", "identificador"),
    ):
        assert (
            count(
                engine,
                f"SELECT count(*) FROM (SELECT {key} FROM {table} WHERE organizacao_id = :o AND {key} IS NOT NULL "
                f"GROUP BY {key} HAVING count(*) > 1) d",
                o=org_id,
            )
            == 0
        ), table
    assert (
        count(
            engine,
            "SELECT count(*) FROM (SELECT venda_id, linha FROM sale_items WHERE organizacao_id = :o GROUP BY 1, 2 HAVING count(*) > 1) d",
            o=org_id,
        )
        == 0
    )


def _sync_steps(database_url, engine, org_id, day, *, now):
    steps.fetch_raw_extract(engine, org_id, day, fast_erp().fetch_settings())
    steps.normalize_sales(engine, org_id, day, now=now)
    steps.upsert_day_entities(engine, org_id, day)
    steps.load_day_sales(engine, org_id, day)
