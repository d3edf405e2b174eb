"""What reconciling a day's sales and campaign cashback share: the counts they report, the
lots they reverse or revise, and how a reversal entry is keyed and described."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from recompra_pipelines.db import key_sql
from recompra_pipelines.domain.cashback import ZERO, PlannedEntry, ReversibleLot
from recompra_pipelines.domain.keys import reversal_key
from recompra_pipelines.domain.vocabulary import LedgerEntryKind


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

    def add_reversal(self, entry: PlannedEntry) -> None:
        self.reversals += 1
        self.reversed -= entry.amount
        self.written_off += entry.written_off

    def add_revision(self, reversal: PlannedEntry, accrued: Decimal) -> None:
        self.revisions += 1
        self.reversed -= reversal.amount
        self.written_off += reversal.written_off
        self.accrued += accrued


def not_reversed(lot: str) -> str:
    """SQL: the lot ``lot`` (an alias of cashback_program_transactions) has no reversal yet."""
    return (
        "NOT EXISTS (SELECT 1 FROM cashback_program_transactions r"
        f" WHERE r.organizacao_id = :org AND r.chave_idempotencia = {key_sql.reversal_key(lot + '.id')})"
    )


def expired_part(lot_id: str) -> str:
    """SQL: how much of lot ``lot_id`` (a column) expiry entries took."""
    return f"""COALESCE((SELECT sum(a.valor)
                     FROM cashback_program_transaction_allocations a
                     JOIN cashback_program_transactions e ON e.id = a.transacao_id
                     WHERE a.organizacao_id = :org AND a.lote_transacao_id = {lot_id}
                       AND e.tipo = '{LedgerEntryKind.EXPIRY}'), 0)"""


def reversible(row) -> ReversibleLot:
    """A stale lot as the book reverses it (``row``: from a stale-lot query)."""
    return ReversibleLot(row.id, row.valor, row.valor_restante, row.expirado, row.status)


def reversal_attributes(row) -> dict[str, Any]:
    return {
        "chave_idempotencia": reversal_key(row.id),
        "venda_id": row.venda_id,
        "venda_valor": row.venda_valor,
        "venda_revisao": row.venda_revisao,
        "campanha_id": row.campanha_id,
        "metadados": {"motivo": row.motivo},
    }
