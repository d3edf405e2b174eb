"""The cashback ledger's SQL: reconciliation of a day's sales, campaign cashback, redemption
and expiry, all written through one path.

Every operation follows the same four moves, inside the caller's transaction:

1. decide *what should exist* with set-based queries and find what is missing by its
   idempotency key (``acumulo:<sale>:r<revision>:<role>:<client>``, ``estorno:<lot>``,
   ``expiracao:<lot>``, ``campanha:<campaign>:interacao:<interaction>``,
   ``resgate:<reference>``); an unchanged re-run finds nothing and writes nothing;
2. lock the affected balance rows (``FOR UPDATE``, in id order, so two writers never
   deadlock) and only then read the open lots and debts — every writer of a client's lots
   holds that client's balance lock, so what is read cannot change underneath;
3. let ``domain.cashback.Book`` apply the rules (amounts, FIFO, reversal split);
4. write entries, allocations and lot consumption in bulk, and move each balance by SQL
   increments (``saldo = saldo + delta``), never by writing back a value read earlier
   (the old absolute writes lost concurrent point-of-sale redemptions:
   docs/decisions.md#d-09-balances-move-by-sql-increments).

The sync and expiry steps also hold the organization's advisory lock
(``db.bulk.lock_organization``); a point-of-sale redemption needs only the client's balance row
lock.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from recompra_pipelines.db import key_sql
from recompra_pipelines.db.bulk import analyze_after_bulk_write, copy_new_rows, copy_rows
from recompra_pipelines.db.ordering import lot_key, lot_origin, sale_order
from recompra_pipelines.domain.cashback import (
    ZERO,
    Book,
    CashbackError,
    Debt,
    InsufficientBalance,
    OpenLot,
    RedemptionRejected,
    ReversalReason,
    ReversibleLot,
    accrual_amount,
    expiry_cutoff,
    local_midnight,
    lot_expiry,
    rate_amount,
    redemption_cap,
)
from recompra_pipelines.domain.keys import (
    campaign_grant_key,
    expiry_key,
    redemption_key,
    reversal_key,
)
from recompra_pipelines.domain.parsing import quantize_money

AccountKey = tuple[UUID, UUID]  # (programa_id, cliente_id)


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


@dataclass
class LedgerCounts:
    """What one reconciliation wrote (money in reais; assets report centavos)."""

    accruals: int = 0
    partner_accruals: int = 0
    reversals: int = 0
    # Accruals re-decided because the ERP edited the sale's value (reversal and new accrual).
    revisions: int = 0
    balances_created: int = 0
    accrued: Decimal = ZERO
    reversed: Decimal = ZERO
    written_off: Decimal = ZERO


@dataclass(frozen=True)
class Redemption:
    """The result of ``redeem``: the RESGATE entry, and which lots paid for it."""

    transaction_id: UUID
    amount: Decimal
    balance_after: Decimal
    allocations: list[tuple[UUID, Decimal]]
    replayed: bool = False


@dataclass
class ExpiryCounts:
    expired_lots: int = 0
    expired: Decimal = ZERO
    clients: int = 0


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


def _org_settings(conn: sa.Connection, org_id: str) -> tuple[ZoneInfo, date | None]:
    row = conn.execute(
        sa.text("SELECT fuso_horario, efeitos_data_inicio FROM organizations WHERE id = :org"),
        {"org": org_id},
    ).first()
    if row is None:
        raise CashbackError(f"organization {org_id!r} does not exist")
    return ZoneInfo(row.fuso_horario), row.efeitos_data_inicio


def _entry_id_by_key(conn: sa.Connection, org_id: str, key: str):
    return conn.execute(
        sa.text(
            "SELECT id, cliente_id, valor, saldo_valor_posterior FROM cashback_program_transactions "
            "WHERE organizacao_id = :org AND chave_idempotencia = :key"
        ),
        {"org": org_id, "key": key},
    ).first()


# ------------------------------------------------------------------------------ books


def _ensure_balances(conn: sa.Connection, org_id: str, keys: Iterable[AccountKey]) -> int:
    """A balance row for every (program, client) about to receive an entry: the old code
    silently skipped buyers without one
    (docs/decisions.md#d-10-every-buyer-gets-a-balance-row)."""
    keys = sorted(set(keys))
    if not keys:
        return 0
    result = conn.execute(
        sa.text(
            """
            INSERT INTO cashback_program_balances (organizacao_id, programa_id, cliente_id)
            SELECT :org, k.programa_id, k.cliente_id
            FROM unnest(CAST(:programs AS uuid[]), CAST(:clients AS uuid[])) AS k(programa_id, cliente_id)
            ON CONFLICT (organizacao_id, programa_id, cliente_id) DO NOTHING
            """
        ),
        _account_params(org_id, keys),
    )
    return result.rowcount


def _open_books(
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
    accounts = (
        "unnest(CAST(:programs AS uuid[]), CAST(:clients AS uuid[])) AS k(programa_id, cliente_id)"
    )
    balances = conn.execute(
        sa.text(
            f"""
            SELECT b.programa_id, b.cliente_id, b.saldo_valor_disponivel
            FROM cashback_program_balances b JOIN {accounts}
              ON k.programa_id = b.programa_id AND k.cliente_id = b.cliente_id
            WHERE b.organizacao_id = :org
            ORDER BY b.id
            FOR UPDATE OF b
            """
        ),
        _account_params(org_id, keys),
    ).all()
    books = {
        (r.programa_id, r.cliente_id): Book(balance=r.saldo_valor_disponivel, lots=[])
        for r in balances
    }
    lot_keys = sorted(set(lots_for))
    lots = (
        conn.execute(
            sa.text(
                f"""
                SELECT t.id, t.programa_id, t.cliente_id, t.valor_restante, t.expiracao_data,
                       t.data_efetivacao, {lot_key("t", "s", "ca")} AS ordem
                FROM cashback_program_transactions t JOIN {accounts}
                  ON k.programa_id = t.programa_id AND k.cliente_id = t.cliente_id
                {lot_origin("t")}
                WHERE t.organizacao_id = :org AND t.tipo = 'ACÚMULO' AND t.status = 'ATIVO'
                  AND t.valor_restante > 0
                """
            ),
            _account_params(org_id, lot_keys),
        ).all()
        if lot_keys
        else []
    )
    for r in lots:
        books[(r.programa_id, r.cliente_id)].lots.append(
            OpenLot(r.id, r.valor_restante, r.expiracao_data, r.data_efetivacao, r.ordem)
        )
    debts = conn.execute(
        sa.text(
            f"""
            SELECT d.id, d.programa_id, d.cliente_id,
                   -d.valor - COALESCE(sum(a.valor), 0) AS outstanding
            FROM cashback_program_transactions d JOIN {accounts}
              ON k.programa_id = d.programa_id AND k.cliente_id = d.cliente_id
            LEFT JOIN cashback_program_transaction_allocations a
              ON a.organizacao_id = d.organizacao_id AND a.transacao_id = d.id
            -- A debt is the reversal of a lot: debts of one moment go in their lots' order.
            LEFT JOIN cashback_program_transactions t
              ON t.organizacao_id = d.organizacao_id AND t.id = d.transacao_origem_id
            {lot_origin("t")}
            WHERE d.organizacao_id = :org AND d.tipo = 'CANCELAMENTO'
            GROUP BY d.id, s.integracao_tipo, s.id_externo, t.venda_revisao, t.venda_conteudo_revisao,
                     t.metadados, ca.chave
            HAVING -d.valor - COALESCE(sum(a.valor), 0) > 0
            ORDER BY d.data_efetivacao, d.data_insercao, {lot_key("t", "s", "ca")}, d.id
            """
        ),
        _account_params(org_id, keys),
    ).all()
    for r in debts:
        books[(r.programa_id, r.cliente_id)].debts.append(Debt(r.id, r.outstanding))
    return books


def _account_params(org_id: str, keys: Sequence[AccountKey]) -> dict[str, Any]:
    return {"org": org_id, "programs": [k[0] for k in keys], "clients": [k[1] for k in keys]}


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


def _write_books(
    conn: sa.Connection, org_id: str, books: dict[AccountKey, Book], now: datetime
) -> None:
    """Entries and allocations by COPY, lot consumption and balance increments each in one
    statement."""
    entries = [
        (
            e.id,
            org_id,
            program_id,
            client_id,
            e.kind,
            e.status,
            e.amount,
            e.remaining,
            e.balance_before,
            e.balance_after,
            e.expires_at,
            e.origin_id,
            e.written_off,
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
    ]
    if not entries:
        return
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
    allocations = [
        (org_id, a.debit_id, a.lot_id, a.amount)
        for book in books.values()
        for a in book.allocations
    ]
    if allocations:
        copy_rows(conn, "cashback_program_transaction_allocations", ALLOCATION_COLUMNS, allocations)
        analyze_after_bulk_write(conn, len(allocations), ANALYZED_ALLOCATIONS)
    consumed = [
        (lot_id, amount, book.emptied_status.get(lot_id, "ATIVO"))
        for book in books.values()
        for lot_id, amount in book.consumed.items()
    ]
    if consumed:
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
    # Every writer of the ledger goes through here (sync, campaigns, expiry, redemption).
    analyze_after_bulk_write(conn, len(entries), *ANALYZED_TABLES)


# ------------------------------------------------------------------------------ sales


_ACCRUAL_KEY = key_sql.accrual_key(
    "b.id", "b.validade_revisao", "b.conteudo_revisao", "b.ator", "b.beneficiario_id"
)


# The sale's accruals that no longer hold, with why. Entries written before content revisions
# existed are of content revision 0. A campaign's cashback follows its interaction: an edit
# re-decides it in the campaign step (``reconcile_campaign_grants``), not here.
_STALE_ACCRUALS = sa.text(
    f"""
    WITH candidates AS (
      SELECT t.id, t.programa_id, t.cliente_id, t.valor, t.valor_restante, t.status,
             t.venda_id, t.venda_valor, t.venda_revisao, t.campanha_id, t.data_efetivacao,
             t.metadados->>'ator' AS ator, {lot_key("t", "s", "ca")} AS ordem,
             p.cancelamento_consumido_politica AS politica,
             CASE WHEN s.data_remocao IS NOT NULL THEN :removed
                  WHEN NOT s.valida OR s.cancelada THEN :cancelled
                  WHEN t.venda_revisao IS DISTINCT FROM s.validade_revisao THEN :revised
                  WHEN t.campanha_id IS NULL AND t.metadados->>'ator' = 'COMPRADOR'
                       AND t.cliente_id IS DISTINCT FROM s.cliente_id THEN :beneficiary
                  WHEN t.campanha_id IS NULL AND t.metadados->>'ator' = 'PARCEIRO'
                       AND t.cliente_id IS DISTINCT FROM pa.cliente_id THEN :beneficiary
                  WHEN t.campanha_id IS NULL
                       AND COALESCE(t.venda_conteudo_revisao, 0) <> s.conteudo_revisao THEN :edited
             END AS motivo
      FROM cashback_program_transactions t
      JOIN sales s ON s.organizacao_id = t.organizacao_id AND s.id = t.venda_id
      JOIN cashback_programs p ON p.organizacao_id = t.organizacao_id AND p.id = t.programa_id
      LEFT JOIN partners pa ON pa.organizacao_id = s.organizacao_id AND pa.id = s.parceiro_id
      LEFT JOIN campaigns ca ON ca.organizacao_id = t.organizacao_id AND ca.id = t.campanha_id
      WHERE t.organizacao_id = :org AND s.data_referencia = :day AND t.tipo = 'ACÚMULO'
        AND NOT EXISTS (SELECT 1 FROM cashback_program_transactions r
                        WHERE r.organizacao_id = :org AND r.chave_idempotencia = {key_sql.reversal_key("t.id")})
    )
    SELECT c.*,
           COALESCE((SELECT sum(a.valor)
                     FROM cashback_program_transaction_allocations a
                     JOIN cashback_program_transactions e ON e.id = a.transacao_id
                     WHERE a.organizacao_id = :org AND a.lote_transacao_id = c.id
                       AND e.tipo = 'EXPIRAÇÃO'), 0) AS expirado
    FROM candidates c
    WHERE c.motivo IS NOT NULL
    ORDER BY c.data_efetivacao, c.ordem, c.id
    """
)
_REASONS = {
    "removed": ReversalReason.SALE_REMOVED,
    "cancelled": ReversalReason.SALE_CANCELLED,
    "revised": ReversalReason.SALE_REVISED,
    "beneficiary": ReversalReason.BENEFICIARY_CHANGED,
    "edited": ReversalReason.SALE_EDITED,
}

# One row per (valid sale, beneficiary) of the day whose accrual key is not in the ledger.
# The buyer earns; so does the partner's linked client when it is not the buyer
# (docs/business-rules.md#partner-cashback).
_PENDING_ACCRUALS = sa.text(
    f"""
    WITH eligible AS (
      SELECT s.id, s.validade_revisao, s.conteudo_revisao, s.cliente_id, s.valor_total,
             s.data_venda, s.data_referencia, s.parceiro_id, pa.cliente_id AS parceiro_cliente_id,
             s.integracao_tipo, s.id_externo
      FROM sales s
      LEFT JOIN partners pa ON pa.organizacao_id = s.organizacao_id AND pa.id = s.parceiro_id
      WHERE s.organizacao_id = :org AND s.data_referencia = :day
        AND s.valida AND NOT s.cancelada
        AND (CAST(:effects_start AS date) IS NULL OR s.data_referencia >= CAST(:effects_start AS date))
    ), beneficiaries AS (
      SELECT e.*, 'COMPRADOR' AS ator, e.cliente_id AS beneficiario_id
      FROM eligible e WHERE e.cliente_id IS NOT NULL
      UNION ALL
      SELECT e.*, 'PARCEIRO', e.parceiro_cliente_id
      FROM eligible e
      WHERE e.parceiro_cliente_id IS NOT NULL AND e.parceiro_cliente_id IS DISTINCT FROM e.cliente_id
    ), keyed AS (
      SELECT b.*, {_ACCRUAL_KEY} AS chave
      FROM beneficiaries b
    )
    SELECT k.* FROM keyed k
    WHERE NOT EXISTS (SELECT 1 FROM cashback_program_transactions t
                      WHERE t.organizacao_id = :org AND t.chave_idempotencia = k.chave)
    ORDER BY {sale_order("k")}, k.ator
    """
)


def reconcile_sales(conn: sa.Connection, org_id: str, day: date, now: datetime) -> LedgerCounts:
    """Bring the ledger in line with the day's sales: reverse every accrual whose sale was
    cancelled, removed, re-revised or re-assigned, re-decide those whose value the ERP edited,
    then accrue every valid sale not yet accrued.

    Reversals come first so that a sale cancelled and valid again between two runs ends
    with exactly one live accrual (of the new revision); an edited sale's accrual is revised
    in place of its replacement (``Book.revise``: the redeemed part is carried over), so each
    content revision accrues once. The caller holds the organization lock. Sales dated before
    the organization's effects start accrue nothing.
    """
    timezone, effects_start = _org_settings(conn, org_id)
    program = active_program(conn, org_id)
    stale = conn.execute(
        _STALE_ACCRUALS, {"org": org_id, "day": day, **{k: v.value for k, v in _REASONS.items()}}
    ).all()
    accruals = []
    if program is not None and program.via_integration:
        pending = conn.execute(
            _PENDING_ACCRUALS, {"org": org_id, "day": day, "effects_start": effects_start}
        ).all()
        for row in pending:
            rate = program.accrual_rate if row.ator == "COMPRADOR" else program.partner_rate
            amount = accrual_amount(
                program.accrual_kind, rate, row.valor_total, program.minimum_sale_value
            )
            if amount > 0:
                accruals.append((row, amount))
    counts = LedgerCounts()
    if not stale and not accruals:
        return counts
    # An edited sale's replacement accrual, by (sale, role, account): revised, not re-accrued.
    replacements = {
        (row.id, row.ator, program.id, row.beneficiario_id): (row, amount)
        for row, amount in accruals
    }
    revisions = []
    for r in stale:
        if r.motivo == ReversalReason.SALE_EDITED:
            found = replacements.pop((r.venda_id, r.ator, r.programa_id, r.cliente_id), None)
            if found is not None:
                revisions.append((r, *found))
    revised_ids = {r.id for r, _, _ in revisions}
    accruals = list(replacements.values())
    new_accounts = {(program.id, row.beneficiario_id) for row, _ in accruals} if program else set()
    reversed_accounts = {(r.programa_id, r.cliente_id) for r in stale}
    counts.balances_created = _ensure_balances(conn, org_id, new_accounts)
    books = _open_books(conn, org_id, new_accounts | reversed_accounts, lots_for=reversed_accounts)
    for r in stale:
        if r.id in revised_ids:
            continue
        entry = books[(r.programa_id, r.cliente_id)].reverse(
            _reversible(r), r.politica, _reversal_attributes(r)
        )
        counts.reversals += 1
        counts.reversed -= entry.amount
        counts.written_off += entry.written_off
    # Every sale is of `day`: their lots expire together.
    expires_at = lot_expiry(day, program.validity_days, timezone) if program else None
    for r, row, amount in revisions:
        reversal, _ = books[(r.programa_id, r.cliente_id)].revise(
            _reversible(r),
            amount,
            r.politica,
            reversal=_reversal_attributes(r),
            accrual=_accrual_attributes(row),
            expires_at=expires_at,
            effective_at=row.data_venda,
        )
        counts.revisions += 1
        counts.reversed -= reversal.amount
        counts.written_off += reversal.written_off
        counts.accrued += amount
    for row, amount in accruals:
        books[(program.id, row.beneficiario_id)].accrue(
            amount,
            expires_at=expires_at,
            effective_at=row.data_venda,
            attributes=_accrual_attributes(row),
        )
        counts.accruals += row.ator == "COMPRADOR"
        counts.partner_accruals += row.ator == "PARCEIRO"
        counts.accrued += amount
    _write_books(conn, org_id, books, now)
    return counts


def _reversible(row) -> ReversibleLot:
    return ReversibleLot(row.id, row.valor, row.valor_restante, row.expirado, row.status)


def _reversal_attributes(row) -> dict[str, Any]:
    return {
        "chave_idempotencia": reversal_key(row.id),
        "venda_id": row.venda_id,
        "venda_valor": row.venda_valor,
        "venda_revisao": row.venda_revisao,
        "campanha_id": row.campanha_id,
        "metadados": {"motivo": row.motivo},
    }


def _accrual_attributes(row) -> dict[str, Any]:
    """A program accrual of a sale for one beneficiary (``row``: a pending accrual)."""
    metadata: dict[str, Any] = {"ator": row.ator}
    if row.ator == "PARCEIRO":
        metadata |= {
            "parceiro_id": str(row.parceiro_id),
            "cliente_comprador_id": _str(row.cliente_id),
        }
    return {
        "chave_idempotencia": row.chave,
        "venda_id": row.id,
        "venda_valor": row.valor_total,
        "venda_revisao": row.validade_revisao,
        "venda_conteudo_revisao": row.conteudo_revisao,
        "metadados": metadata,
        "data_efetivacao": row.data_venda,
    }


def _str(value: object) -> str | None:
    return None if value is None else str(value)


# ------------------------------------------------------------------------------ campaigns


@dataclass(frozen=True)
class CampaignGrant:
    """One campaign cashback credit, due once per interaction
    (docs/business-rules.md#campaign-cashback).

    ``amount`` is the campaign's cashback already computed (``domain.cashback.rate_amount``
    for FIXO/PERCENTUAL of the sale); it is rounded once to centavos. ``expires_on`` is the
    organization-local day whose expiry run writes the lot off (``None``: never). With
    ``sale_id`` the lot is tied to that sale and reversed with it if it is cancelled.
    """

    client_id: UUID
    campaign_id: UUID
    interaction_id: UUID
    amount: Decimal
    expires_on: date | None
    sale_id: UUID | None = None
    # The sale's content revision the amount was decided on (a PERCENTUAL of its value).
    sale_content_revision: int = 0

    @property
    def key(self) -> str:
        return campaign_grant_key(self.campaign_id, self.interaction_id, self.sale_content_revision)


def grant_campaign_cashbacks(
    conn: sa.Connection,
    org_id: str,
    grants: Sequence[CampaignGrant],
    now: datetime | None = None,
) -> list[UUID | None]:
    """Credit campaign cashback, once per interaction: one pass for any number of grants.

    Returns, per grant, the ACÚMULO entry's id — the same id when granted again for the same
    interaction — or ``None`` when nothing is due: no active program, an amount that rounds
    to zero, or a sale that is not valid. Grants are applied in the order given, so each
    client's entries (and their balances before/after) come out as one grant after the
    other would write them. The caller's transaction should hold the organization lock (the
    campaign steps do); the clients' balance rows are locked here, in id order.
    """
    now = now or datetime.now(UTC)
    if not grants:
        return []
    granted: dict[str, UUID] = dict(
        conn.execute(
            sa.text(
                "SELECT chave_idempotencia, id FROM cashback_program_transactions "
                "WHERE organizacao_id = :org AND chave_idempotencia = ANY(:keys)"
            ),
            {"org": org_id, "keys": [grant.key for grant in grants]},
        ).all()
    )
    program = active_program(conn, org_id)
    due = [
        (grant, amount)
        for grant in grants
        if program is not None
        and grant.key not in granted
        and (amount := quantize_money(grant.amount)) > 0
    ]
    sale_ids = sorted({grant.sale_id for grant, _ in due if grant.sale_id is not None}, key=str)
    sales = {}
    if sale_ids:
        sales = {
            row.id: row
            for row in conn.execute(
                sa.text(
                    "SELECT id, valor_total, validade_revisao, conteudo_revisao FROM sales"
                    " WHERE organizacao_id = :org"
                    " AND id = ANY(:ids) AND valida AND NOT cancelada"
                ),
                {"org": org_id, "ids": sale_ids},
            )
        }
        due = [
            (grant, amount)
            for grant, amount in due
            if grant.sale_id is None or grant.sale_id in sales
        ]
    if not due:
        return [granted.get(grant.key) for grant in grants]
    timezone, _ = _org_settings(conn, org_id)
    accounts = {(program.id, grant.client_id) for grant, _ in due}
    _ensure_balances(conn, org_id, accounts)
    books = _open_books(conn, org_id, accounts, lots_for=())
    for grant, amount in due:
        if grant.key in granted:
            continue  # the same interaction twice in one batch: granted once
        attributes: dict[str, Any] = {
            "chave_idempotencia": grant.key,
            "campanha_id": grant.campaign_id,
            "metadados": {"ator": "CAMPANHA", "interacao_id": str(grant.interaction_id)},
            "data_efetivacao": now,
        }
        if grant.sale_id is not None:
            sale = sales[grant.sale_id]
            attributes |= {
                "venda_id": grant.sale_id,
                "venda_valor": sale.valor_total,
                "venda_revisao": sale.validade_revisao,
                "venda_conteudo_revisao": sale.conteudo_revisao,
            }
        entry = books[(program.id, grant.client_id)].accrue(
            amount,
            expires_at=None
            if grant.expires_on is None
            else local_midnight(grant.expires_on, timezone),
            effective_at=now,
            attributes=attributes,
        )
        granted[grant.key] = entry.id
    _write_books(conn, org_id, books, now)
    return [granted.get(grant.key) for grant in grants]


# The day's sale-tied campaign cashback that no longer holds while its sale stays valid:
# its interaction was withdrawn because the sale changed, or the sale's value was edited
# and the campaign gives a percentage of it.
_STALE_CAMPAIGN_GRANTS = sa.text(
    f"""
    SELECT t.id, t.programa_id, t.cliente_id, t.valor, t.valor_restante, t.status,
           t.venda_id, t.venda_valor, t.venda_revisao, t.campanha_id, t.expiracao_data,
           t.data_efetivacao, t.metadados->>'interacao_id' AS interacao_id,
           p.cancelamento_consumido_politica AS politica,
           s.valor_total, s.validade_revisao, s.conteudo_revisao,
           c.cashback_geracao_tipo, c.cashback_geracao_valor,
           CASE WHEN i.status_envio = 'IGNORADO' AND i.erro_codigo = :withdrawn_code
                THEN :withdrawn ELSE :edited END AS motivo,
           COALESCE((SELECT sum(a.valor)
                     FROM cashback_program_transaction_allocations a
                     JOIN cashback_program_transactions e ON e.id = a.transacao_id
                     WHERE a.organizacao_id = :org AND a.lote_transacao_id = t.id
                       AND e.tipo = 'EXPIRAÇÃO'), 0) AS expirado
    FROM cashback_program_transactions t
    JOIN sales s ON s.organizacao_id = t.organizacao_id AND s.id = t.venda_id
    JOIN cashback_programs p ON p.organizacao_id = t.organizacao_id AND p.id = t.programa_id
    JOIN campaigns c ON c.organizacao_id = t.organizacao_id AND c.id = t.campanha_id
    LEFT JOIN interactions i
      ON i.organizacao_id = t.organizacao_id AND i.id = CAST(t.metadados->>'interacao_id' AS uuid)
    WHERE t.organizacao_id = :org AND s.data_referencia = :day AND t.tipo = 'ACÚMULO'
      AND s.valida AND NOT s.cancelada AND t.venda_revisao = s.validade_revisao
      AND NOT EXISTS (SELECT 1 FROM cashback_program_transactions r
                      WHERE r.organizacao_id = :org AND r.chave_idempotencia = {key_sql.reversal_key("t.id")})
      AND ((i.status_envio = 'IGNORADO' AND i.erro_codigo = :withdrawn_code)
           OR (COALESCE(t.venda_conteudo_revisao, 0) <> s.conteudo_revisao
               AND c.cashback_geracao_ativo AND c.cashback_geracao_tipo = 'PERCENTUAL'))
    ORDER BY t.data_efetivacao, {lot_key("t", "s", "c")}, t.id
    """
)


def reconcile_campaign_grants(
    conn: sa.Connection, org_id: str, day: date, now: datetime, withdrawn_code: str
) -> LedgerCounts:
    """Campaign cashback follows its interaction and its sale (the campaign step calls this
    after withdrawing the interactions the day's sales no longer qualify for, recorded with
    ``withdrawn_code``): a withdrawn interaction's cashback is reversed; a PERCENTUAL one
    whose sale the ERP edited is decided again on the new value (``Book.revise``), keyed by
    the sale's content revision. Cancelled, revised or removed sales are the sales
    reconciliation's. The caller holds the organization lock."""
    stale = conn.execute(
        _STALE_CAMPAIGN_GRANTS,
        {
            "org": org_id,
            "day": day,
            "withdrawn_code": withdrawn_code,
            "withdrawn": ReversalReason.INTERACTION_WITHDRAWN.value,
            "edited": ReversalReason.SALE_EDITED.value,
        },
    ).all()
    counts = LedgerCounts()
    if not stale:
        return counts
    accounts = {(r.programa_id, r.cliente_id) for r in stale}
    books = _open_books(conn, org_id, accounts, lots_for=accounts)
    for r in stale:
        book = books[(r.programa_id, r.cliente_id)]
        new_amount = (
            rate_amount(r.cashback_geracao_tipo, r.cashback_geracao_valor, r.valor_total)
            if r.motivo == ReversalReason.SALE_EDITED
            else ZERO
        )
        if new_amount <= 0:
            entry = book.reverse(_reversible(r), r.politica, _reversal_attributes(r))
            counts.reversals += 1
            counts.reversed -= entry.amount
            counts.written_off += entry.written_off
            continue
        reversal, _ = book.revise(
            _reversible(r),
            new_amount,
            r.politica,
            reversal=_reversal_attributes(r),
            accrual={
                "chave_idempotencia": campaign_grant_key(
                    r.campanha_id, r.interacao_id, r.conteudo_revisao
                ),
                "campanha_id": r.campanha_id,
                "metadados": {"ator": "CAMPANHA", "interacao_id": r.interacao_id},
                "venda_id": r.venda_id,
                "venda_valor": r.valor_total,
                "venda_revisao": r.validade_revisao,
                "venda_conteudo_revisao": r.conteudo_revisao,
                "data_efetivacao": r.data_efetivacao,
            },
            expires_at=r.expiracao_data,
            effective_at=r.data_efetivacao,
        )
        counts.revisions += 1
        counts.reversed -= reversal.amount
        counts.written_off += reversal.written_off
        counts.accrued += new_amount
    _write_books(conn, org_id, books, now)
    return counts


def grant_campaign_cashback(
    conn: sa.Connection,
    *,
    org_id: str,
    client_id: UUID,
    campaign_id: UUID,
    interaction_id: UUID,
    amount: Decimal,
    expires_on: date | None,
    sale_id: UUID | None = None,
    now: datetime | None = None,
) -> UUID | None:
    """One ``CampaignGrant`` through ``grant_campaign_cashbacks``: the entry's id, or ``None``."""
    grant = CampaignGrant(client_id, campaign_id, interaction_id, amount, expires_on, sale_id)
    return grant_campaign_cashbacks(conn, org_id, [grant], now)[0]


# ------------------------------------------------------------------------------ redemption


def redeem(
    conn: sa.Connection,
    *,
    org_id: str,
    client_id: UUID,
    amount: Decimal,
    reference: str,
    operator: str | None = None,
    sale_value: Decimal | None = None,
    now: datetime | None = None,
) -> Redemption:
    """Spend a client's cashback at the point of sale
    (docs/decisions.md#d-15-redemption-soonest-expiry-first-limited-replay-safe).

    Takes from lots still valid at ``now``, earliest expiry first, and records an allocation
    per lot. The program's limit applies (``resgate_limite_tipo/valor``: a fixed cap, or a
    percentage of ``sale_value``). ``reference`` is the point of sale's request id: calling
    again with it returns the first result (``replayed=True``); with another client or
    amount it is an error. Locks the client's balance row, so a sync touching the same client
    waits (or is waited for) and nothing is lost. Raises ``InsufficientBalance`` or
    ``RedemptionRejected``; commit is the caller's.
    """
    now = now or datetime.now(UTC)
    if amount != quantize_money(amount):
        raise RedemptionRejected(f"amount {amount} has more than 2 decimal places")
    program = active_program(conn, org_id)
    if program is None:
        raise RedemptionRejected(f"organization {org_id} has no active cashback program")
    cap = redemption_cap(program.limit_kind, program.limit_value, sale_value)
    account = (program.id, client_id)
    books = _open_books(conn, org_id, [account], lots_for=[account])
    key = redemption_key(reference)
    existing = _entry_id_by_key(conn, org_id, key)
    if existing is not None:
        if existing.cliente_id != client_id or -existing.valor != amount:
            raise RedemptionRejected(
                f"reference {reference!r} was already used for another redemption"
            )
        return _replayed(conn, org_id, existing)
    if cap is not None and amount > cap:
        raise RedemptionRejected(f"redemption of {amount} exceeds the program's limit of {cap}")
    book = books.get(account)
    if book is None:
        raise InsufficientBalance(f"client {client_id} has no cashback balance")
    entry = book.redeem(
        amount,
        now=now,
        attributes={
            "chave_idempotencia": key,
            "venda_valor": sale_value,
            "metadados": {"referencia": reference, "operador": operator},
            "data_efetivacao": now,
        },
    )
    _write_books(conn, org_id, books, now)
    return Redemption(
        transaction_id=entry.id,
        amount=amount,
        balance_after=entry.balance_after,
        allocations=[(a.lot_id, a.amount) for a in book.allocations if a.debit_id == entry.id],
    )


def _replayed(conn: sa.Connection, org_id: str, entry) -> Redemption:
    allocations = conn.execute(
        sa.text(
            "SELECT lote_transacao_id, valor FROM cashback_program_transaction_allocations "
            "WHERE organizacao_id = :org AND transacao_id = :id ORDER BY data_insercao, id"
        ),
        {"org": org_id, "id": entry.id},
    ).all()
    return Redemption(
        transaction_id=entry.id,
        amount=-entry.valor,
        balance_after=entry.saldo_valor_posterior,
        allocations=[(a.lote_transacao_id, a.valor) for a in allocations],
        replayed=True,
    )


# ------------------------------------------------------------------------------ expiry


def expire_due_lots(conn: sa.Connection, org_id: str, day: date, now: datetime) -> ExpiryCounts:
    """One EXPIRAÇÃO per lot due by the start of local day ``day``, for exactly what is left
    of it, linked to it. Lots already expired (key ``expiracao:<lot>``) or spent are skipped,
    so the run is idempotent and any past day can be backfilled. Unlike the old cron, a lot
    whose client had no balance row is not skipped forever
    (docs/decisions.md#d-14-expiry-writes-off-what-is-left-of-each-lot-linked-to-it)."""
    timezone, _ = _org_settings(conn, org_id)
    due = conn.execute(
        sa.text(
            f"""
            SELECT t.id, t.programa_id, t.cliente_id FROM cashback_program_transactions t
            {lot_origin("t")}
            WHERE t.organizacao_id = :org AND t.tipo = 'ACÚMULO' AND t.status = 'ATIVO'
              AND t.valor_restante > 0 AND t.expiracao_data <= :cutoff
            ORDER BY t.expiracao_data, t.data_efetivacao, {lot_key("t", "s", "ca")}, t.id
            """
        ),
        {"org": org_id, "cutoff": expiry_cutoff(day, timezone)},
    ).all()
    counts = ExpiryCounts()
    if not due:
        return counts
    accounts = {(r.programa_id, r.cliente_id) for r in due}
    _ensure_balances(conn, org_id, accounts)
    books = _open_books(conn, org_id, accounts, lots_for=accounts)
    for r in due:
        book = books[(r.programa_id, r.cliente_id)]
        if not any(lot.id == r.id for lot in book.lots):
            continue  # spent by a redemption that committed before our lock
        entry = book.expire(
            r.id, {"chave_idempotencia": expiry_key(r.id), "metadados": {"dia": day.isoformat()}}
        )
        counts.expired_lots += 1
        counts.expired -= entry.amount
    counts.clients = sum(1 for book in books.values() if book.entries)
    _write_books(conn, org_id, books, now)
    return counts


__all__ = [
    "CashbackError",
    "CampaignGrant",
    "ExpiryCounts",
    "InsufficientBalance",
    "LedgerConflict",
    "LedgerCounts",
    "Program",
    "Redemption",
    "RedemptionRejected",
    "active_program",
    "expire_due_lots",
    "grant_campaign_cashback",
    "grant_campaign_cashbacks",
    "reconcile_campaign_grants",
    "reconcile_sales",
    "redeem",
]
