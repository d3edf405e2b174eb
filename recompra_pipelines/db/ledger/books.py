"""Opening the accounts a ledger operation touches and writing what their books decided.

``open_books`` locks the balance rows (``FOR UPDATE``, in id order, so two writers never
deadlock) and only then reads the open lots and debts: every writer of a client's lots holds
that client's balance lock, so what is read cannot change underneath. ``write_books`` writes
entries, allocations and lot consumption in bulk and moves each balance by SQL increments
(``saldo = saldo + delta``), never by writing back a value read earlier (the old absolute
writes lost concurrent point-of-sale redemptions:
docs/decisions.md#d-09-balances-move-by-sql-increments). Every writer of the ledger goes
through it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from recompra_pipelines.db.bulk import analyze_after_bulk_write, copy_new_rows, copy_rows
from recompra_pipelines.db.ordering import lot_key, lot_origin
from recompra_pipelines.domain.cashback import Book, CashbackError, Debt, OpenLot
from recompra_pipelines.domain.vocabulary import LedgerEntryKind, LotStatus

AccountKey = tuple[UUID, UUID]  # (programa_id, cliente_id)

ENTRY_COLUMNS = (
    "id", "organizacao_id", "programa_id", "cliente_id", "tipo", "status", "valor",
    "valor_restante", "saldo_valor_anterior", "saldo_valor_posterior", "expiracao_data",
    "transacao_origem_id", "valor_baixa", "venda_id", "venda_valor", "venda_revisao",
    "venda_conteudo_revisao", "campanha_id", "chave_idempotencia", "metadados",
    "data_efetivacao",
)  # fmt: skip
ALLOCATION_COLUMNS = ("organizacao_id", "transacao_id", "lote_transacao_id", "valor")
KEY_CONSTRAINT = "uq_cashback_program_transactions_chave_idempotencia"
# What the next steps filter and join the ledger on (purchases' accruals, balances, lots,
# the ledger audit): statistics for those columns, not for the keys, amounts and metadata.
# Stale allocation statistics alone turned the audit of a 200,000-entry ledger from a second
# into forty.
ANALYZED_TABLES = (
    "cashback_program_transactions (organizacao_id, programa_id, cliente_id, tipo, status,"
    " venda_id, venda_revisao, campanha_id, transacao_origem_id, valor_restante, expiracao_data)",
    "cashback_program_balances",
)
ANALYZED_ALLOCATIONS = (
    "cashback_program_transaction_allocations (organizacao_id, transacao_id, lote_transacao_id)"
)
# The (program, client) pairs of a statement, as a relation to join on.
_ACCOUNTS = (
    "unnest(CAST(:programs AS uuid[]), CAST(:clients AS uuid[])) AS k(programa_id, cliente_id)"
)


class LedgerConflict(RuntimeError):
    """An entry's idempotency key appeared between our read and our write: someone wrote the
    ledger without the locks. The transaction is rolled back rather than guessing."""


@dataclass(frozen=True)
class Program:
    id: UUID
    accrual_kind: str
    accrual_rate: Decimal
    partner_rate: Decimal
    minimum_sale_value: Decimal
    via_integration: bool
    validity_days: int | None
    limit_kind: str | None
    limit_value: Decimal | None
    reversal_policy: str


# ------------------------------------------------------------------------------ reads


def active_program(conn: sa.Connection, org_id: str) -> Program | None:
    """The organization's active program (at most one, by a partial unique index)."""
    row = conn.execute(
        sa.text(
            """
            SELECT id, acumulo_tipo, acumulo_valor, acumulo_valor_parceiro,
                   acumulo_regra_valor_minimo, acumulo_permitir_via_integracao,
                   expiracao_regra_validade_valor, resgate_limite_tipo, resgate_limite_valor,
                   cancelamento_consumido_politica
            FROM cashback_programs WHERE organizacao_id = :org AND ativo
            """
        ),
        {"org": org_id},
    ).first()
    if row is None:
        return None
    return Program(
        id=row.id,
        accrual_kind=row.acumulo_tipo,
        accrual_rate=row.acumulo_valor,
        partner_rate=row.acumulo_valor_parceiro,
        minimum_sale_value=row.acumulo_regra_valor_minimo,
        via_integration=row.acumulo_permitir_via_integracao,
        validity_days=row.expiracao_regra_validade_valor,
        limit_kind=row.resgate_limite_tipo,
        limit_value=row.resgate_limite_valor,
        reversal_policy=row.cancelamento_consumido_politica,
    )


def org_settings(conn: sa.Connection, org_id: str) -> tuple[ZoneInfo, date | None]:
    """The organization's timezone and effects start."""
    row = conn.execute(
        sa.text("SELECT fuso_horario, efeitos_data_inicio FROM organizations WHERE id = :org"),
        {"org": org_id},
    ).first()
    if row is None:
        raise CashbackError(f"organization {org_id!r} does not exist")
    return ZoneInfo(row.fuso_horario), row.efeitos_data_inicio


def entry_by_key(conn: sa.Connection, org_id: str, key: str):
    return conn.execute(
        sa.text(
            "SELECT id, cliente_id, valor, saldo_valor_posterior FROM cashback_program_transactions "
            "WHERE organizacao_id = :org AND chave_idempotencia = :key"
        ),
        {"org": org_id, "key": key},
    ).first()


# ------------------------------------------------------------------------------ opening


def ensure_balances(conn: sa.Connection, org_id: str, keys: Iterable[AccountKey]) -> int:
    """A balance row for every (program, client) about to receive an entry: the old code
    silently skipped buyers without one
    (docs/decisions.md#d-10-every-buyer-gets-a-balance-row)."""
    keys = sorted(set(keys))
    if not keys:
        return 0
    result = conn.execute(
        sa.text(
            f"""
            INSERT INTO cashback_program_balances (organizacao_id, programa_id, cliente_id)
            SELECT :org, k.programa_id, k.cliente_id FROM {_ACCOUNTS}
            ON CONFLICT (organizacao_id, programa_id, cliente_id) DO NOTHING
            """
        ),
        _account_params(org_id, keys),
    )
    return result.rowcount


def open_books(
    conn: sa.Connection,
    org_id: str,
    keys: Iterable[AccountKey],
    *,
    lots_for: Collection[AccountKey],
) -> dict[AccountKey, Book]:
    """Lock the balance rows (id order) and load each account's outstanding debts, and the
    open lots of the accounts in ``lots_for``: those a debit (reversal, redemption, expiry)
    takes from. An account that only accrues needs none of its lots (an accrual only repays
    debts), and a client's lots pile up over the whole validity period."""
    keys = sorted(set(keys))
    books = _lock_balances(conn, org_id, keys)
    for r in _open_lots(conn, org_id, sorted(set(lots_for))):
        books[(r.programa_id, r.cliente_id)].lots.append(
            OpenLot(r.id, r.valor_restante, r.expiracao_data, r.data_efetivacao, r.ordem)
        )
    for r in _outstanding_debts(conn, org_id, keys):
        books[(r.programa_id, r.cliente_id)].debts.append(Debt(r.id, r.outstanding))
    return books


def _lock_balances(
    conn: sa.Connection, org_id: str, keys: Sequence[AccountKey]
) -> dict[AccountKey, Book]:
    balances = conn.execute(
        sa.text(
            f"""
            SELECT b.programa_id, b.cliente_id, b.saldo_valor_disponivel
            FROM cashback_program_balances b JOIN {_ACCOUNTS}
              ON k.programa_id = b.programa_id AND k.cliente_id = b.cliente_id
            WHERE b.organizacao_id = :org
            ORDER BY b.id
            FOR UPDATE OF b
            """
        ),
        _account_params(org_id, keys),
    ).all()
    return {
        (r.programa_id, r.cliente_id): Book(balance=r.saldo_valor_disponivel, lots=[])
        for r in balances
    }


def _open_lots(conn: sa.Connection, org_id: str, keys: Sequence[AccountKey]) -> list:
    if not keys:
        return []
    return conn.execute(
        sa.text(
            f"""
            SELECT t.id, t.programa_id, t.cliente_id, t.valor_restante, t.expiracao_data,
                   t.data_efetivacao, {lot_key("t", "s", "ca")} AS ordem
            FROM cashback_program_transactions t JOIN {_ACCOUNTS}
              ON k.programa_id = t.programa_id AND k.cliente_id = t.cliente_id
            {lot_origin("t")}
            WHERE t.organizacao_id = :org AND t.tipo = '{LedgerEntryKind.ACCRUAL}'
              AND t.status = '{LotStatus.ACTIVE}' AND t.valor_restante > 0
            """
        ),
        _account_params(org_id, keys),
    ).all()


def _outstanding_debts(conn: sa.Connection, org_id: str, keys: Sequence[AccountKey]) -> list:
    return conn.execute(
        sa.text(
            f"""
            SELECT d.id, d.programa_id, d.cliente_id,
                   -d.valor - COALESCE(sum(a.valor), 0) AS outstanding
            FROM cashback_program_transactions d JOIN {_ACCOUNTS}
              ON k.programa_id = d.programa_id AND k.cliente_id = d.cliente_id
            LEFT JOIN cashback_program_transaction_allocations a
              ON a.organizacao_id = d.organizacao_id AND a.transacao_id = d.id
            -- A debt is the reversal of a lot: debts of one moment go in their lots' order.
            LEFT JOIN cashback_program_transactions t
              ON t.organizacao_id = d.organizacao_id AND t.id = d.transacao_origem_id
            {lot_origin("t")}
            WHERE d.organizacao_id = :org AND d.tipo = '{LedgerEntryKind.REVERSAL}'
            GROUP BY d.id, s.integracao_tipo, s.id_externo, t.venda_revisao, t.venda_conteudo_revisao,
                     t.metadados, ca.chave
            HAVING -d.valor - COALESCE(sum(a.valor), 0) > 0
            ORDER BY d.data_efetivacao, d.data_insercao, {lot_key("t", "s", "ca")}, d.id
            """
        ),
        _account_params(org_id, keys),
    ).all()


def _account_params(org_id: str, keys: Sequence[AccountKey]) -> dict[str, Any]:
    return {"org": org_id, "programs": [k[0] for k in keys], "clients": [k[1] for k in keys]}


# ------------------------------------------------------------------------------ writing


def write_books(
    conn: sa.Connection, org_id: str, books: dict[AccountKey, Book], now: datetime
) -> None:
    """Entries and allocations by COPY, lot consumption and balance increments each in one
    statement."""
    entries = _insert_entries(conn, org_id, books, now)
    if not entries:
        return
    _insert_allocations(conn, org_id, books)
    _consume_lots(conn, org_id, books)
    _move_balances(conn, org_id, books)
    # Every writer of the ledger goes through here (sync, campaigns, expiry, redemption).
    analyze_after_bulk_write(conn, entries, *ANALYZED_TABLES)


def _insert_entries(
    conn: sa.Connection, org_id: str, books: dict[AccountKey, Book], now: datetime
) -> int:
    entries = [
        (
            e.id, org_id, program_id, client_id, e.kind, e.status, e.amount, e.remaining,
            e.balance_before, e.balance_after, e.expires_at, e.origin_id, e.written_off,
            e.attributes.get("venda_id"),
            e.attributes.get("venda_valor"),
            e.attributes.get("venda_revisao"),
            e.attributes.get("venda_conteudo_revisao"),
            e.attributes.get("campanha_id"),
            e.attributes["chave_idempotencia"],
            e.attributes.get("metadados"),
            e.attributes.get("data_efetivacao", now),
        )
        for (program_id, client_id), book in books.items()
        for e in book.entries
    ]  # fmt: skip
    if entries:
        copy_new_rows(
            conn,
            "cashback_program_transactions",
            ENTRY_COLUMNS,
            entries,
            unique_key=KEY_CONSTRAINT,
            conflict=LedgerConflict(
                f"organization {org_id}: a ledger entry's idempotency key already existed when "
                "written; rolled back"
            ),
            json_columns=("metadados",),
        )
    return len(entries)


def _insert_allocations(conn: sa.Connection, org_id: str, books: dict[AccountKey, Book]) -> None:
    allocations = [
        (org_id, a.debit_id, a.lot_id, a.amount)
        for book in books.values()
        for a in book.allocations
    ]
    if allocations:
        copy_rows(conn, "cashback_program_transaction_allocations", ALLOCATION_COLUMNS, allocations)
        analyze_after_bulk_write(conn, len(allocations), ANALYZED_ALLOCATIONS)


def _consume_lots(conn: sa.Connection, org_id: str, books: dict[AccountKey, Book]) -> None:
    """What each debit took from each lot, and the status of a lot it emptied."""
    consumed = [
        (lot_id, amount, book.emptied_status.get(lot_id, LotStatus.ACTIVE))
        for book in books.values()
        for lot_id, amount in book.consumed.items()
    ]
    if not consumed:
        return
    conn.execute(
        sa.text(
            """
            UPDATE cashback_program_transactions t
            SET valor_restante = t.valor_restante - u.consumido,
                status = CASE WHEN t.valor_restante - u.consumido = 0 THEN u.status ELSE t.status END,
                data_atualizacao = now()
            FROM unnest(CAST(:ids AS uuid[]), CAST(:amounts AS numeric[]), CAST(:statuses AS text[]))
                 AS u(id, consumido, status)
            WHERE t.organizacao_id = :org AND t.id = u.id
            """
        ),
        {
            "org": org_id,
            "ids": [c[0] for c in consumed],
            "amounts": [c[1] for c in consumed],
            "statuses": [c[2] for c in consumed],
        },
    )


def _move_balances(conn: sa.Connection, org_id: str, books: dict[AccountKey, Book]) -> None:
    moved = [(key, book) for key, book in books.items() if book.entries]
    conn.execute(
        sa.text(
            """
            UPDATE cashback_program_balances b
            SET saldo_valor_disponivel = b.saldo_valor_disponivel + u.delta,
                saldo_valor_acumulado_total = b.saldo_valor_acumulado_total + u.acumulado,
                saldo_valor_resgatado_total = b.saldo_valor_resgatado_total + u.resgatado,
                data_atualizacao = now()
            FROM unnest(CAST(:programs AS uuid[]), CAST(:clients AS uuid[]), CAST(:deltas AS numeric[]),
                        CAST(:accrued AS numeric[]), CAST(:redeemed AS numeric[]))
                 AS u(programa_id, cliente_id, delta, acumulado, resgatado)
            WHERE b.organizacao_id = :org AND b.programa_id = u.programa_id AND b.cliente_id = u.cliente_id
            """
        ),
        {
            "org": org_id,
            "programs": [key[0] for key, _ in moved],
            "clients": [key[1] for key, _ in moved],
            "deltas": [book.delta for _, book in moved],
            "accrued": [book.accrued_delta for _, book in moved],
            "redeemed": [book.redeemed_delta for _, book in moved],
        },
    )
