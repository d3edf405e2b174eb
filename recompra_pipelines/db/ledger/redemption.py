"""Point-of-sale redemption: a client spends cashback, earliest-expiring lots first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

import sqlalchemy as sa

from recompra_pipelines.db.ledger import books as ledger_books
from recompra_pipelines.db.ledger.books import active_program, entry_by_key
from recompra_pipelines.domain.cashback import (
    InsufficientBalance,
    RedemptionRejected,
    redemption_cap,
)
from recompra_pipelines.domain.keys import redemption_key
from recompra_pipelines.domain.parsing import quantize_money


@dataclass(frozen=True)
class Redemption:
    """The result of ``redeem``: the RESGATE entry, and which lots paid for it."""

    transaction_id: UUID
    amount: Decimal
    balance_after: Decimal
    allocations: list[tuple[UUID, Decimal]]
    replayed: bool = False


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
    books = ledger_books.open_books(conn, org_id, [account], lots_for=[account])
    key = redemption_key(reference)
    existing = entry_by_key(conn, org_id, key)
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
    ledger_books.write_books(conn, org_id, books, now)
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
