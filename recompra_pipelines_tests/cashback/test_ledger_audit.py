"""The one-statement ledger audit finds each broken invariant, and only it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import sqlalchemy as sa

from recompra_pipelines.db import ledger
from recompra_pipelines.db.ledger_audit import LedgerAudit, audit_ledger
from recompra_pipelines_tests.cashback.ledger_helpers import (
    add_client,
    add_sale,
    cancel_sale,
    make_org,
)

DAY = date(2026, 3, 10)
CLEAN = LedgerAudit(0, 0, 0, 0, 0, 0)


def audit(engine: sa.Engine, org_id: str) -> LedgerAudit:
    with engine.connect() as conn:
        return audit_ledger(conn, org_id)


def corrupt(engine: sa.Engine, sql: str, **params) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def test_each_broken_invariant_is_counted_and_nothing_else(engine):
    org_id = make_org(engine)
    buyers = [add_client(engine, org_id) for _ in range(4)]
    sales = [add_sale(engine, org_id, buyer, "100.00", DAY) for buyer in buyers]
    with engine.begin() as conn:
        ledger.reconcile_sales(conn, org_id, DAY, datetime.now(UTC))
        ledger.redeem(
            conn, org_id=org_id, client_id=buyers[0], amount=Decimal("4.00"), reference="r1"
        )
    assert audit(engine, org_id) == CLEAN

    corrupt(
        engine,
        "UPDATE cashback_program_balances SET saldo_valor_disponivel = saldo_valor_disponivel"
        " + 0.01 WHERE organizacao_id = :o AND cliente_id = :c",
        o=org_id,
        c=buyers[1],
    )
    assert audit(engine, org_id) == LedgerAudit(1, 0, 0, 0, 0, 0)

    # The redeemed lot claims to have more left than its allocations leave it.
    corrupt(
        engine,
        "UPDATE cashback_program_transactions SET valor_restante = valor"
        " WHERE organizacao_id = :o AND cliente_id = :c AND tipo = 'ACÚMULO'",
        o=org_id,
        c=buyers[0],
    )
    assert audit(engine, org_id) == LedgerAudit(2, 1, 0, 0, 0, 0)

    # A negative balance the program (write-off policy) does not allow.
    corrupt(
        engine,
        "UPDATE cashback_program_balances SET saldo_valor_disponivel = -1"
        " WHERE organizacao_id = :o AND cliente_id = :c",
        o=org_id,
        c=buyers[2],
    )
    assert audit(engine, org_id) == LedgerAudit(3, 1, 1, 1, 0, 0)

    # A cancelled sale the ledger step has not reversed yet.
    cancel_sale(engine, sales[3])
    assert audit(engine, org_id) == LedgerAudit(3, 1, 1, 1, 1, 0)

    # A sale whose value the ERP edited, its accrual not decided again yet.
    corrupt(
        engine,
        "UPDATE sales SET valor_total = 50, conteudo_revisao = 1 WHERE id = :s",
        s=sales[1],
    )
    assert audit(engine, org_id) == LedgerAudit(3, 1, 1, 1, 1, 1)
    with engine.begin() as conn:
        ledger.reconcile_sales(conn, org_id, DAY, datetime.now(UTC))
    after = audit(engine, org_id)
    assert (after.active_accruals_of_cancelled_sales, after.live_accruals_of_edited_sales) == (0, 0)
