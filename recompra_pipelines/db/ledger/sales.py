"""The ledger follows the day's sales: accruals for valid sales, reversals for those that no
longer hold, revisions for those the ERP edited."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from recompra_pipelines.db import key_sql
from recompra_pipelines.db.ledger import books as ledger_books
from recompra_pipelines.db.ledger.books import AccountKey, Program, active_program, org_settings
from recompra_pipelines.db.ledger.reversals import (
    LedgerCounts,
    expired_part,
    not_reversed,
    reversal_attributes,
    reversible,
)
from recompra_pipelines.db.ordering import lot_key, sale_order
from recompra_pipelines.domain.cashback import Book, ReversalReason, accrual_amount, lot_expiry
from recompra_pipelines.domain.vocabulary import LedgerEntryKind

BUYER = "COMPRADOR"
PARTNER = "PARCEIRO"

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
                  WHEN t.campanha_id IS NULL AND t.metadados->>'ator' = '{BUYER}'
                       AND t.cliente_id IS DISTINCT FROM s.cliente_id THEN :beneficiary
                  WHEN t.campanha_id IS NULL AND t.metadados->>'ator' = '{PARTNER}'
                       AND t.cliente_id IS DISTINCT FROM pa.cliente_id THEN :beneficiary
                  WHEN t.campanha_id IS NULL
                       AND COALESCE(t.venda_conteudo_revisao, 0) <> s.conteudo_revisao THEN :edited
             END AS motivo
      FROM cashback_program_transactions t
      JOIN sales s ON s.organizacao_id = t.organizacao_id AND s.id = t.venda_id
      JOIN cashback_programs p ON p.organizacao_id = t.organizacao_id AND p.id = t.programa_id
      LEFT JOIN partners pa ON pa.organizacao_id = s.organizacao_id AND pa.id = s.parceiro_id
      LEFT JOIN campaigns ca ON ca.organizacao_id = t.organizacao_id AND ca.id = t.campanha_id
      WHERE t.organizacao_id = :org AND s.data_referencia = :day
        AND t.tipo = '{LedgerEntryKind.ACCRUAL}' AND {not_reversed("t")}
    )
    SELECT c.*, {expired_part("c.id")} AS expirado
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
      SELECT e.*, '{BUYER}' AS ator, e.cliente_id AS beneficiario_id
      FROM eligible e WHERE e.cliente_id IS NOT NULL
      UNION ALL
      SELECT e.*, '{PARTNER}', e.parceiro_cliente_id
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
    timezone, effects_start = org_settings(conn, org_id)
    program = active_program(conn, org_id)
    stale = conn.execute(
        _STALE_ACCRUALS, {"org": org_id, "day": day, **{k: v.value for k, v in _REASONS.items()}}
    ).all()
    accruals = _pending_accruals(conn, org_id, day, program, effects_start)
    counts = LedgerCounts()
    if not stale and not accruals:
        return counts
    revisions, accruals = _pair_revisions(stale, accruals, program)
    revised_ids = {r.id for r, _, _ in revisions}
    new_accounts = {(program.id, row.beneficiario_id) for row, _ in accruals} if program else set()
    reversed_accounts = {(r.programa_id, r.cliente_id) for r in stale}
    counts.balances_created = ledger_books.ensure_balances(conn, org_id, new_accounts)
    books = ledger_books.open_books(
        conn, org_id, new_accounts | reversed_accounts, lots_for=reversed_accounts
    )
    for r in stale:
        if r.id not in revised_ids:
            counts.add_reversal(
                books[(r.programa_id, r.cliente_id)].reverse(
                    reversible(r), r.politica, reversal_attributes(r)
                )
            )
    # Every sale is of `day`: their lots expire together.
    expires_at = lot_expiry(day, program.validity_days, timezone) if program else None
    for r, row, amount in revisions:
        reversal, _ = books[(r.programa_id, r.cliente_id)].revise(
            reversible(r),
            amount,
            r.politica,
            reversal=reversal_attributes(r),
            accrual=_accrual_attributes(row),
            expires_at=expires_at,
            effective_at=row.data_venda,
        )
        counts.add_revision(reversal, amount)
    _accrue(books, program, accruals, expires_at, counts)
    ledger_books.write_books(conn, org_id, books, now)
    return counts


def _pending_accruals(
    conn: sa.Connection, org_id: str, day: date, program: Program | None, effects_start
) -> list[tuple[Any, Decimal]]:
    """The day's (sale, beneficiary) rows not accrued yet, each with what it earns; nothing
    without a program that accrues from the integration."""
    if program is None or not program.via_integration:
        return []
    pending = conn.execute(
        _PENDING_ACCRUALS, {"org": org_id, "day": day, "effects_start": effects_start}
    ).all()
    accruals = []
    for row in pending:
        rate = program.accrual_rate if row.ator == BUYER else program.partner_rate
        amount = accrual_amount(
            program.accrual_kind, rate, row.valor_total, program.minimum_sale_value
        )
        if amount > 0:
            accruals.append((row, amount))
    return accruals


def _pair_revisions(stale: list, accruals: list, program: Program | None) -> tuple[list, list]:
    """An edited sale's stale accrual and its replacement, by (sale, role, account): revised
    together, not reversed and re-accrued. Returns (revisions, the other accruals)."""
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
    return revisions, list(replacements.values())


def _accrue(
    books: dict[AccountKey, Book],
    program: Program | None,
    accruals: list,
    expires_at: datetime | None,
    counts: LedgerCounts,
) -> None:
    for row, amount in accruals:
        books[(program.id, row.beneficiario_id)].accrue(
            amount,
            expires_at=expires_at,
            effective_at=row.data_venda,
            attributes=_accrual_attributes(row),
        )
        counts.accruals += row.ator == BUYER
        counts.partner_accruals += row.ator == PARTNER
        counts.accrued += amount


def _accrual_attributes(row) -> dict[str, Any]:
    """A program accrual of a sale for one beneficiary (``row``: a pending accrual)."""
    metadata: dict[str, Any] = {"ator": row.ator}
    if row.ator == PARTNER:
        metadata |= {
            "parceiro_id": str(row.parceiro_id),
            "cliente_comprador_id": None if row.cliente_id is None else str(row.cliente_id),
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
