"""Money is deterministic: two databases synced with the same ERP answers hold the same ledger,
balances, interactions and first/last purchases, row for row, ids aside.

The day is a backfilled one without ERP times, so every sale sits at local midnight and the
choices the sync makes among them ("first purchase", the n-th purchase, the order of a
client's accruals and their balances before and after, which campaign the daily cap lets
through) must fall to business keys, not to random ids.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from recompra_pipelines.db.engine import create_crm_engine, ensure_database
from recompra_pipelines.db.migrate import upgrade
from recompra_pipelines.orgfile.organization import OrgFile
from recompra_pipelines.orgfile_store.writer import apply_org_file
from recompra_pipelines.sync import campaign_steps, steps
from recompra_pipelines.sync.ledger_steps import reconcile_day_cashback

DAY = datetime.now(ZoneInfo("America/Sao_Paulo")).date() - timedelta(days=1)
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Columns that say when a row was written, not what it is.
WRITTEN_AT = {
    "data_insercao",
    "data_atualizacao",
    "data_efetivacao",
    "envio_reservado_data",
    "envio_proxima_tentativa_data",
}


def org_file(org_id: str, url: str, token: str) -> OrgFile:
    template = {"name": "ola", "parameters": ["clientName"], "body": "Olá {{1}}!"}
    campaigns = [
        {"key": "primeira", "title": "Primeira", "trigger": "PRIMEIRA-COMPRA",
         "frequency": {"allow_repeat": False}, "template": "ola",
         "cashback": {"type": "FIXO", "value": "7.00"}},
        {"key": "nova", "title": "Nova", "trigger": "NOVA-COMPRA", "template": "ola",
         "cashback": {"type": "PERCENTUAL", "value": "3"}},
        {"key": "terceira", "title": "Terceira",
         "trigger": {"type": "QUANTIDADE-TOTAL-COMPRAS", "purchase_count": 3}, "template": "ola"},
    ]  # fmt: skip
    return OrgFile.model_validate(
        {
            "id": org_id,
            "name": "Loja Determinista",
            "effects_start": "2026-01-01",
            "integration": {"type": "ONLINE-SOFTWARE", "server_url": url, "token": token},
            "cashback_program": {
                "accrual_type": "PERCENTUAL",
                "accrual_value": 5,
                "expiry_days": 30,
                "reversal_of_redeemed": "claw_back",
            },
            "campaign_settings": {"daily_message_cap": 2},
            "whatsapp": {
                "connection": {"phone_number_id": "1", "business_account_id": "2", "token": token},
                "templates": [template],
            },
            "campaigns": campaigns,
        }
    )


@pytest.fixture
def two_databases(database_server_url: str) -> Iterator[list[sa.Engine]]:
    names = [f"recompra_twin_{secrets.token_hex(4)}" for _ in range(2)]
    engines = []
    for name in names:
        url = ensure_database(database_server_url, name)
        upgrade(url)
        engines.append(create_crm_engine(url))
    yield engines
    for engine in engines:
        engine.dispose()
    admin = sa.create_engine(
        database_server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
    )
    with admin.connect() as conn:
        for name in names:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def sync(engine: sa.Engine, org_id: str) -> None:
    """The day's sync graph, step by step, as its assets run it."""
    now = datetime.now(UTC)
    steps.fetch_raw_extract(engine, org_id, DAY)
    steps.normalize_sales(engine, org_id, DAY, now=now)
    steps.upsert_day_entities(engine, org_id, DAY)
    steps.load_day_sales(engine, org_id, DAY)
    reconcile_day_cashback(engine, org_id, DAY)
    campaign_steps.create_purchase_interactions(engine, org_id, DAY, now)
    campaign_steps.attribute_sales(engine, org_id, DAY)


LABELS = {
    "clients": "'client:' || concat_ws('|', id_externo, telefone_base, cpf_cnpj, nome_chave)",
    "sales": "'sale:' || integracao_tipo || ':' || id_externo",
    "campaigns": "'campaign:' || chave",
    "cashback_programs": "'program'",
    "whatsapp_templates": "'template:' || nome",
    "whatsapp_connections": "'connection:' || whatsapp_telefone_id",
    "products": "'product:' || codigo",
}


def snapshot(engine: sa.Engine) -> dict[str, list[str]]:
    """Ledger, balances, interactions and clients' purchase references as sorted text rows,
    every id replaced by the business key of what it names (ledger entries and interactions
    by their idempotency keys, themselves so rewritten)."""
    with engine.connect() as conn:
        labels = {}
        for table, label in LABELS.items():
            labels |= dict(conn.execute(sa.text(f"SELECT id::text, {label} FROM {table}")).all())
        for table in ("interactions", "cashback_program_transactions"):
            for row_id, key in conn.execute(
                sa.text(f"SELECT id::text, chave_idempotencia FROM {table} ORDER BY 2")
            ):
                labels[row_id] = f"{table}:{_relabel(key, labels)}"

        def rows(sql: str) -> list[str]:
            result = conn.execute(sa.text(sql))
            return sorted(
                json.dumps(
                    {
                        name: _relabel(json.dumps(value, default=str, sort_keys=True), labels)
                        for name, value in row._mapping.items()
                        if name not in WRITTEN_AT and name != "id"
                    },
                    sort_keys=True,
                )
                for row in result
            )

        return {
            "ledger": rows("SELECT * FROM cashback_program_transactions"),
            "allocations": rows("SELECT * FROM cashback_program_transaction_allocations"),
            "balances": rows("SELECT * FROM cashback_program_balances"),
            "interactions": rows("SELECT * FROM interactions"),
            "purchases": rows(
                "SELECT nome_chave, telefone_base, primeira_compra_id, primeira_compra_data,"
                " ultima_compra_id, ultima_compra_data, metadata_total_compras FROM clients"
            ),
        }


def _relabel(text: str, labels: dict[str, str]) -> str:
    return UUID.sub(lambda match: labels.get(match.group(), "unknown-id"), text)


def test_two_databases_fed_the_same_day_hold_the_same_ledger_and_interactions(
    two_databases, erp_simulator
):
    simulator, url = erp_simulator
    token = f"twin-{secrets.token_hex(6)}"
    # No ERP times (every sale at local midnight) and few clients, buying several times a day.
    simulator.configure(
        token, sales_per_day=120, datahora_fraction=0.0, customer_pool_size=25, cancel_fraction=0
    )
    org_id = f"twin-{secrets.token_hex(3)}"
    cancelled = [s["id"] for s in simulator.sales_for(token, DAY)[:6]]

    for engine in two_databases:
        simulator.configure(token, overrides={})
        with engine.begin() as conn:
            apply_org_file(conn, org_file(org_id, url, token))
        sync(engine, org_id)
        # Later, some of the day's sales are cancelled: their cashback is reversed.
        simulator.configure(token, overrides={i: {"natureza": "CANCELADA"} for i in cancelled})
        sync(engine, org_id)

    first, second = (snapshot(engine) for engine in two_databases)
    assert len(first["ledger"]) > 100 and len(first["interactions"]) > 50
    assert any('"tipo": "\\"CANCELAMENTO\\""' in row for row in first["ledger"])
    for part in first:
        only_first = sorted(set(first[part]) - set(second[part]))
        only_second = sorted(set(second[part]) - set(first[part]))
        assert (only_first, only_second) == ([], []), part
