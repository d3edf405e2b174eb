"""Ledger invariants as set-based queries, shared by the asset checks and the tests.

Each query returns the number of offending rows for one organization, so a check can page
with a count and the property tests can assert zero after every step.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

# Per client and program: the cached balance equals the sum of its entries AND the remaining
# value of its active lots minus outstanding claw-back debt (every debit's value not covered
# by allocations); the lifetime totals equal the sums of their entries: accrued = accruals
# minus the value of reversed lots, redeemed = redemptions.
_BALANCE_MISMATCHES = """
WITH entries AS (
  SELECT t.programa_id, t.cliente_id,
         sum(t.valor) AS soma,
         sum(t.valor_restante) FILTER (WHERE t.tipo = 'ACÚMULO' AND t.status = 'ATIVO') AS restante,
         sum(t.valor) FILTER (WHERE t.tipo = 'ACÚMULO') AS acumulado,
         sum(-t.valor) FILTER (WHERE t.tipo = 'RESGATE') AS resgatado,
         sum(-t.valor) FILTER (WHERE t.tipo <> 'ACÚMULO') AS debitos
  FROM cashback_program_transactions t
  WHERE t.organizacao_id = :org
  GROUP BY t.programa_id, t.cliente_id
), reversed AS (
  SELECT c.programa_id, c.cliente_id, sum(l.valor) AS estornado
  FROM cashback_program_transactions c
  JOIN cashback_program_transactions l ON l.id = c.transacao_origem_id
  WHERE c.organizacao_id = :org AND c.tipo = 'CANCELAMENTO'
  GROUP BY c.programa_id, c.cliente_id
), allocated AS (
  SELECT d.programa_id, d.cliente_id, sum(a.valor) AS alocado
  FROM cashback_program_transaction_allocations a
  JOIN cashback_program_transactions d ON d.id = a.transacao_id
  WHERE a.organizacao_id = :org
  GROUP BY d.programa_id, d.cliente_id
)
SELECT count(*) FROM cashback_program_balances b
LEFT JOIN entries e ON e.programa_id = b.programa_id AND e.cliente_id = b.cliente_id
LEFT JOIN reversed r ON r.programa_id = b.programa_id AND r.cliente_id = b.cliente_id
LEFT JOIN allocated a ON a.programa_id = b.programa_id AND a.cliente_id = b.cliente_id
WHERE b.organizacao_id = :org AND (
     b.saldo_valor_disponivel <> COALESCE(e.soma, 0)
  OR b.saldo_valor_disponivel <> COALESCE(e.restante, 0)
                                 - (COALESCE(e.debitos, 0) - COALESCE(a.alocado, 0))
  OR b.saldo_valor_acumulado_total <> COALESCE(e.acumulado, 0) - COALESCE(r.estornado, 0)
  OR b.saldo_valor_resgatado_total <> COALESCE(e.resgatado, 0))
"""

# Every lot: value − remaining = what debits took from it; only an active lot has a remainder.
_LOT_MISMATCHES = """
SELECT count(*) FROM cashback_program_transactions l
LEFT JOIN LATERAL (SELECT COALESCE(sum(a.valor), 0) AS alocado
                   FROM cashback_program_transaction_allocations a
                   WHERE a.organizacao_id = l.organizacao_id AND a.lote_transacao_id = l.id) a ON true
WHERE l.organizacao_id = :org AND l.tipo = 'ACÚMULO'
  AND (l.valor - l.valor_restante <> a.alocado OR (l.status <> 'ATIVO' AND l.valor_restante <> 0))
"""

# Negative balances the program does not allow (claw-back is policy SALDO-NEGATIVO).
_NEGATIVE_BALANCES = """
SELECT count(*) FILTER (WHERE p.cancelamento_consumido_politica <> 'SALDO-NEGATIVO') AS nao_permitidos,
       count(*) AS negativos
FROM cashback_program_balances b
JOIN cashback_programs p ON p.id = b.programa_id
WHERE b.organizacao_id = :org AND b.saldo_valor_disponivel < 0
"""

# An accrual tied to a cancelled (or no longer valid) sale that was not reversed.
_ACTIVE_ACCRUALS_OF_CANCELLED_SALES = """
SELECT count(*) FROM cashback_program_transactions t
JOIN sales s ON s.organizacao_id = t.organizacao_id AND s.id = t.venda_id
WHERE t.organizacao_id = :org AND t.tipo = 'ACÚMULO' AND (NOT s.valida OR s.cancelada)
  AND (t.status = 'ATIVO' OR NOT EXISTS (
        SELECT 1 FROM cashback_program_transactions r
        WHERE r.organizacao_id = :org AND r.chave_idempotencia = 'estorno:' || t.id::text))
"""


# A buyer's or partner's accrual still live although the ERP edited its sale's value since it
# was decided (entries without a content revision were decided at revision 0).
_LIVE_ACCRUALS_OF_EDITED_SALES = """
SELECT count(*) FROM cashback_program_transactions t
JOIN sales s ON s.organizacao_id = t.organizacao_id AND s.id = t.venda_id
WHERE t.organizacao_id = :org AND t.tipo = 'ACÚMULO' AND t.campanha_id IS NULL
  AND s.valida AND NOT s.cancelada AND t.venda_revisao = s.validade_revisao
  AND COALESCE(t.venda_conteudo_revisao, 0) <> s.conteudo_revisao
  AND NOT EXISTS (SELECT 1 FROM cashback_program_transactions r
                  WHERE r.organizacao_id = :org AND r.chave_idempotencia = 'estorno:' || t.id::text)
"""


@dataclass(frozen=True)
class LedgerAudit:
    balance_mismatches: int
    lot_mismatches: int
    negative_balances: int
    negative_balances_not_allowed: int
    active_accruals_of_cancelled_sales: int
    live_accruals_of_edited_sales: int = 0

    @property
    def consistent(self) -> bool:
        return not (
            self.balance_mismatches
            or self.lot_mismatches
            or self.negative_balances_not_allowed
            or self.active_accruals_of_cancelled_sales
            or self.live_accruals_of_edited_sales
        )


def audit_ledger(conn: sa.Connection, org_id: str) -> LedgerAudit:
    params = {"org": org_id}
    negative = conn.execute(sa.text(_NEGATIVE_BALANCES), params).one()
    return LedgerAudit(
        balance_mismatches=conn.scalar(sa.text(_BALANCE_MISMATCHES), params),
        lot_mismatches=conn.scalar(sa.text(_LOT_MISMATCHES), params),
        negative_balances=negative.negativos,
        negative_balances_not_allowed=negative.nao_permitidos,
        active_accruals_of_cancelled_sales=conn.scalar(
            sa.text(_ACTIVE_ACCRUALS_OF_CANCELLED_SALES), params
        ),
        live_accruals_of_edited_sales=conn.scalar(sa.text(_LIVE_ACCRUALS_OF_EDITED_SALES), params),
    )
