"""Direct-SQL fixtures for ledger tests: an organization with a program, clients, sales.

The ledger reads only the CRM tables, so its tests write sales the way `crm_sales` leaves
them (valid, cancelled, re-validated with a new revision) without a round trip to the ERP.
"""

from __future__ import annotations

import dataclasses
import secrets
from datetime import date, datetime, time
from decimal import Decimal
from uuid import UUID
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from recompra_pipelines.db.ledger_audit import audit_ledger
from recompra_pipelines_tests.helpers import new_org

SP = ZoneInfo("America/Sao_Paulo")


def make_org(engine: sa.Engine, effects_start: str = "2024-01-01", **program) -> str:
    """An organization with a cashback program (PERCENTUAL 10 % unless told otherwise)."""
    cashback_program = {"accrual_type": "PERCENTUAL", "accrual_value": "10"} | program
    org_id, _ = new_org(
        engine,
        "http://127.0.0.1:9",
        effects_start=effects_start,
        cashback_program=cashback_program,
    )
    return org_id


def add_client(engine: sa.Engine, org_id: str, name: str | None = None) -> UUID:
    name = name or f"Cliente {secrets.token_hex(3)}"
    with engine.begin() as conn:
        return conn.scalar(
            sa.text(
                "INSERT INTO clients (organizacao_id, nome, nome_chave) VALUES (:o, :n, lower(:n)) "
                "RETURNING id"
            ),
            {"o": org_id, "n": name},
        )


def add_partner(engine: sa.Engine, org_id: str, client_id: UUID | None) -> UUID:
    code = secrets.token_hex(3)
    with engine.begin() as conn:
        return conn.scalar(
            sa.text(
                "INSERT INTO partners (organizacao_id, nome, identificador, codigo_afiliacao, "
                "cliente_id) VALUES (:o, :n, :i, :i, :c) RETURNING id"
            ),
            {"o": org_id, "n": f"Parceiro {code}", "i": code, "c": client_id},
        )


def add_sale(
    engine: sa.Engine,
    org_id: str,
    client_id: UUID | None,
    value: str | Decimal,
    day: date,
    *,
    partner_id: UUID | None = None,
    at: time = time(12, 0),
) -> UUID:
    with engine.begin() as conn:
        return conn.scalar(
            sa.text(
                """
                INSERT INTO sales (organizacao_id, integracao_tipo, id_externo, data_referencia,
                  data_venda, data_venda_precisao, cliente_id, parceiro_id, valor_total,
                  custo_total, valida, hash_conteudo)
                VALUES (:o, 'ONLINE-SOFTWARE', :e, :d, :t, 'ERP', :c, :p, :v, 0, true, 'h')
                RETURNING id
                """
            ),
            {
                "o": org_id,
                "e": secrets.token_hex(6),
                "d": day,
                "t": datetime.combine(day, at, tzinfo=SP),
                "c": client_id,
                "p": partner_id,
                "v": Decimal(value),
            },
        )


def cancel_sale(engine: sa.Engine, sale_id: UUID) -> None:
    """What `crm_sales` does when a valid sale turns invalid."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE sales SET valida = false, cancelada = valida OR cancelada, "
                "data_cancelamento = now() WHERE id = :s"
            ),
            {"s": sale_id},
        )


def revalidate_sale(engine: sa.Engine, sale_id: UUID) -> None:
    """What `crm_sales` does when a cancelled (or removed) sale becomes valid again, or
    reappears: a new revision."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE sales SET valida = true, validade_revisao = validade_revisao + "
                "CASE WHEN cancelada THEN 1 ELSE 0 END, cancelada = false, "
                "data_cancelamento = NULL, ausente_desde = NULL, data_remocao = NULL, "
                "remocao_motivo = NULL WHERE id = :s"
            ),
            {"s": sale_id},
        )


def edit_sale(engine: sa.Engine, sale_id: UUID, value: str | Decimal) -> None:
    """What `crm_sales` does when the ERP edits a sale's value: a valid sale gets a new content
    revision; a cancelled one only takes the value (its next validity revision accrues it)."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE sales SET conteudo_revisao = conteudo_revisao + CASE WHEN valida AND"
                " NOT cancelada AND valor_total <> :v THEN 1 ELSE 0 END, valor_total = :v"
                " WHERE id = :s"
            ),
            {"s": sale_id, "v": Decimal(value)},
        )


def reassign_sale(engine: sa.Engine, sale_id: UUID, client_id: UUID | None) -> None:
    """The ERP now names another buyer."""
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE sales SET cliente_id = :c WHERE id = :s"),
            {"s": sale_id, "c": client_id},
        )


def remove_sale(engine: sa.Engine, sale_id: UUID) -> None:
    """What `crm_sales` does when a sale's absence from the ERP's answers is confirmed."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE sales SET cancelada = valida OR cancelada, data_cancelamento = CASE WHEN"
                " valida THEN now() ELSE data_cancelamento END, valida = false,"
                " ausente_desde = now(), data_remocao = now(), remocao_motivo = 'AUSENTE_DO_ERP'"
                " WHERE id = :s"
            ),
            {"s": sale_id},
        )


def balance(engine: sa.Engine, org_id: str, client_id: UUID):
    """(disponível, acumulado total, resgatado total), or None without a balance row."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT saldo_valor_disponivel, saldo_valor_acumulado_total, "
                "saldo_valor_resgatado_total FROM cashback_program_balances "
                "WHERE organizacao_id = :o AND cliente_id = :c"
            ),
            {"o": org_id, "c": client_id},
        ).first()
    return None if row is None else tuple(row)


def entries(engine: sa.Engine, org_id: str, client_id: UUID | None = None) -> list:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT * FROM cashback_program_transactions WHERE organizacao_id = :o "
                "AND (CAST(:c AS uuid) IS NULL OR cliente_id = :c) ORDER BY data_insercao, id"
            ),
            {"o": org_id, "c": client_id},
        ).all()


def ledger_versions(engine: sa.Engine, org_id: str) -> dict:
    """Every ledger row with its xmin: a re-run that writes nothing leaves this unchanged."""
    with engine.connect() as conn:
        return {
            table: dict(
                conn.execute(
                    sa.text(f"SELECT id, xmin::text FROM {table} WHERE organizacao_id = :o"),
                    {"o": org_id},
                ).all()
            )
            for table in (
                "cashback_program_balances",
                "cashback_program_transactions",
                "cashback_program_transaction_allocations",
            )
        }


def assert_consistent(engine: sa.Engine, org_id: str, *, changes_reconciled: bool = True) -> None:
    """Every ledger invariant; a cancellation or edit the ledger step has not seen yet may
    still hold its accrual (`changes_reconciled=False`)."""
    with engine.connect() as conn:
        audit = audit_ledger(conn, org_id)
    if not changes_reconciled:
        audit = dataclasses.replace(
            audit, active_accruals_of_cancelled_sales=0, live_accruals_of_edited_sales=0
        )
    assert audit.consistent, audit
