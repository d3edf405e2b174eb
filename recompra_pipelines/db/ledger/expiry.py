"""The daily expiry: what is left of each lot due by the start of a local day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa

from recompra_pipelines.db.ledger import books as ledger_books
from recompra_pipelines.db.ledger.books import org_settings
from recompra_pipelines.db.ordering import lot_key, lot_origin
from recompra_pipelines.domain.cashback import ZERO, expiry_cutoff
from recompra_pipelines.domain.keys import expiry_key
from recompra_pipelines.domain.vocabulary import LedgerEntryKind, LotStatus


@dataclass
class ExpiryCounts:
    expired_lots: int = 0
    expired: Decimal = ZERO
    clients: int = 0


_DUE_LOTS = sa.text(
    f"""
    SELECT t.id, t.programa_id, t.cliente_id FROM cashback_program_transactions t
    {lot_origin("t")}
    WHERE t.organizacao_id = :org AND t.tipo = '{LedgerEntryKind.ACCRUAL}'
      AND t.status = '{LotStatus.ACTIVE}'
      AND t.valor_restante > 0 AND t.expiracao_data <= :cutoff
    ORDER BY t.expiracao_data, t.data_efetivacao, {lot_key("t", "s", "ca")}, t.id
    """
)


def expire_due_lots(conn: sa.Connection, org_id: str, day: date, now: datetime) -> ExpiryCounts:
    """One EXPIRAÇÃO per lot due by the start of local day ``day``, for exactly what is left
    of it, linked to it. Lots already expired (key ``expiracao:<lot>``) or spent are skipped,
    so the run is idempotent and any past day can be backfilled. Unlike the old cron, a lot
    whose client had no balance row is not skipped forever
    (docs/decisions.md#d-14-expiry-writes-off-what-is-left-of-each-lot-linked-to-it)."""
    timezone, _ = org_settings(conn, org_id)
    due = conn.execute(_DUE_LOTS, {"org": org_id, "cutoff": expiry_cutoff(day, timezone)}).all()
    counts = ExpiryCounts()
    if not due:
        return counts
    accounts = {(r.programa_id, r.cliente_id) for r in due}
    ledger_books.ensure_balances(conn, org_id, accounts)
    books = ledger_books.open_books(conn, org_id, accounts, lots_for=accounts)
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
    ledger_books.write_books(conn, org_id, books, now)
    return counts
