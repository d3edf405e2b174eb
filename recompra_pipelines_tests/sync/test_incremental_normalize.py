"""A day that changed since the last tick maps only what changed, and stages exactly what a
from-scratch normalization of the same extract would."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import sqlalchemy as sa

from recompra_pipelines.connectors.online_software.mapper import SALE_NATURES
from recompra_pipelines.sync import steps
from recompra_pipelines_tests.helpers import materialize_day, metadata, new_org

DAY = date(2026, 11, 20)


def staging(engine: sa.Engine, org_id: str) -> list[tuple]:
    """Everything staged for the day but the entity step's client assignment."""
    with engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                sa.text(
                    "SELECT id_externo, hash_conteudo, valor_total, valida, data_venda,"
                    " data_venda_precisao, cliente_nome_chave, cliente_telefone_base,"
                    " vendedor_identificador, parceiro_identificador, itens::text"
                    " FROM erp_staging_sales WHERE organizacao_id = :o AND data_referencia = :d"
                    " ORDER BY id_externo"
                ),
                {"o": org_id, "d": DAY},
            )
        ]


def staged_summary(engine: sa.Engine, org_id: str) -> tuple:
    with engine.connect() as conn:
        return tuple(
            conn.execute(
                sa.text(
                    "SELECT registros_recebidos, registros_validos, registros_quarentena,"
                    " linhas_troco_descartadas, produtos::jsonb"
                    " FROM erp_staging_extracts WHERE organizacao_id = :o AND data_referencia = :d"
                ),
                {"o": org_id, "d": DAY},
            ).one()
        )


def renamed(record: dict, new_id: str) -> dict:
    return {**record, "id": new_id}


def test_a_changed_day_maps_only_the_changes_and_stages_what_a_full_pass_would(
    engine, database_url, erp_simulator, instance
):
    simulator, url = erp_simulator
    org_id, token = new_org(engine, url)
    # No cash-movement lines of its own: the one below is the only repeated id.
    simulator.configure(token, sales_per_day=40, malformed_records=0, troco_fraction=0.0)
    # Valid sales only, so each plays the role the test gives it (no cancelled one among them).
    records = [
        r
        for r in simulator.sales_for(token, DAY)
        if r["natureza"] in SALE_NATURES and Decimal(str(r["valor"]).replace(",", ".")) > 0
    ]
    simulator.configure(
        token, extra_sales=[renamed(records[0], "900001"), renamed(records[1], "900002")]
    )
    assert materialize_day(instance, database_url, org_id, DAY).success

    # Next tick: one sale gone from the listing, one new, one changed value, one bad record,
    # and a cash-movement line repeating the id of an unchanged sale
    # (docs/erp-wire-formats.md#repeated-ids-troco-lines).
    simulator.configure(
        token,
        extra_sales=[
            renamed(records[1], "900002"),
            renamed(records[2], "900003"),
            {**records[5], "valor": "1.00"},
            {**renamed(records[6], "900004"), "valor": "abc"},
        ],
        overrides={records[3]["id"]: {"valor": "999.99"}},
    )
    result = materialize_day(instance, database_url, org_id, DAY)

    assert result.success
    normalized = metadata(result, "erp_normalized_sales")
    # Mapped: the new sale, the changed one, the troco line with its real sale, the bad record.
    assert normalized["mapped"] == 5 and normalized["quarantined"] == 1
    assert normalized["troco_lines_dropped"] >= 1
    assert (
        normalized["unchanged"] + normalized["mapped"] - 1 - normalized["troco_lines_dropped"]
        == normalized["staged"]
    )
    incremental, incremental_summary = staging(engine, org_id), staged_summary(engine, org_id)
    staged_ids = {row[0] for row in incremental}
    assert "900001" not in staged_ids and {"900002", "900003"} <= staged_ids
    assert "900004" not in staged_ids
    with engine.connect() as conn:
        changed_value = conn.scalar(
            sa.text("SELECT valor_total FROM sales WHERE organizacao_id = :o AND id_externo = :id"),
            {"o": org_id, "id": str(records[3]["id"])},
        )
    assert str(changed_value) == "999.99"

    # The same extract normalized from scratch stages the very same rows and summary.
    with engine.begin() as conn:
        for table in ("erp_staging_sales", "erp_staging_extracts"):
            conn.execute(sa.text(f"DELETE FROM {table} WHERE organizacao_id = :o"), {"o": org_id})
    full = steps.normalize_sales(engine, org_id, DAY, now=datetime.now(UTC))
    assert full.unchanged == 0 and full.mapped > 40
    assert staging(engine, org_id) == incremental
    received, valid, quarantined, troco, products = staged_summary(engine, org_id)
    assert (received, valid, quarantined, troco) == incremental_summary[:4]
    # A full pass lists the products of today's sales; the incremental list may also keep
    # products of sales gone from the listing (they exist already, and creating one twice is a
    # no-op).
    assert {p["codigo"] for p in products} <= {p["codigo"] for p in incremental_summary[4]}


def test_the_day_just_fetched_is_parsed_once_and_any_other_is_read_from_storage(
    engine, erp_simulator, monkeypatch
):
    """Fetch and normalize in one process (as a run's steps are): the normalize step takes the
    records the fetch just read. Another fetch in between (another day) hands over nothing for
    this one, which is then read back from its stored extract, and stages the same rows."""
    simulator, url = erp_simulator
    org_id, token = new_org(engine, url)
    simulator.configure(token, sales_per_day=30)
    connector_type = type(steps.connector_for("ONLINE-SOFTWARE"))
    parsed: list[int] = []
    records = connector_type.records
    monkeypatch.setattr(
        connector_type,
        "records",
        lambda self, text: parsed.append(len(text)) or records(self, text),
    )
    now = datetime(2026, 11, 21, 12, tzinfo=UTC)

    steps.fetch_raw_extract(engine, org_id, DAY)
    steps.normalize_sales(engine, org_id, DAY, now)
    assert len(parsed) == 1  # the fetch's reading only
    held = staging(engine, org_id)

    with engine.begin() as conn:
        conn.execute(
            sa.text("DELETE FROM erp_staging_extracts WHERE organizacao_id = :o"), {"o": org_id}
        )
        conn.execute(
            sa.text("DELETE FROM erp_staging_sales WHERE organizacao_id = :o"), {"o": org_id}
        )
    steps.fetch_raw_extract(engine, org_id, DAY)  # stored already: not read again
    steps.fetch_raw_extract(engine, org_id, date(2026, 11, 19))  # read: held instead of DAY
    parsed.clear()
    steps.normalize_sales(engine, org_id, DAY, now)
    assert len(parsed) == 1  # DAY's stored extract, read back
    assert staging(engine, org_id) == held and len(held) > 0


def test_a_whole_sync_is_recorded_only_for_the_content_staging_still_holds(engine, erp_simulator):
    """`recompra sync` records the content its run was started for; if staging holds another
    answer by then (the run fetched a newer one), nothing is recorded and the next call runs."""
    from recompra_pipelines.db.sync_progress import StepMarker, day_progress, mark_done

    simulator, url = erp_simulator
    org_id, token = new_org(engine, url)
    simulator.configure(token, sales_per_day=5)
    steps.fetch_raw_extract(engine, org_id, DAY)
    steps.normalize_sales(engine, org_id, DAY, datetime(2026, 11, 21, 12, tzinfo=UTC))

    def recorded() -> str | None:
        with engine.connect() as conn:
            return day_progress(conn, org_id, DAY).completed[StepMarker.COMPLETE_SYNC]

    with engine.begin() as conn:
        staged = day_progress(conn, org_id, DAY).staged_hash
        mark_done(conn, org_id, DAY, StepMarker.COMPLETE_SYNC, content_hash="0" * 64)
    assert recorded() is None
    with engine.begin() as conn:
        mark_done(conn, org_id, DAY, StepMarker.COMPLETE_SYNC, content_hash=staged)
    assert recorded() == staged
