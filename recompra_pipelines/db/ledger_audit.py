"""Ledger invariants as one set-based audit, shared by the asset checks and the tests.

`audit_ledger` answers everything the four ledger checks need (balances equal their entries,
negative balances, cancelled sales reversed, edited sales re-decided) in one statement that reads the organization's
entries and allocations once: the checks of one run share its result instead of each
scanning a 200,000-entry ledger again. Each figure is a count of offending rows, so a check
can page with a count and the property tests can assert zero after every step.

It stays cheap only while the planner's statistics of the ledger tables are fresh: the
ledger's writers refresh them after bulk writes (db.bulk.analyze_after_bulk_write).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

# Per client and program: the cached balance equals the sum of its entries AND the remaining
# value of its active lots minus outstanding claw-back debt (every debit's value not covered
# by allocations); the lifetime totals equal the sums of their entries: accrued = accruals
# minus the value of reversed lots, redeemed = redemptions. Every lot: value − remaining =
# what debits took from it, and only an active lot has a remainder. Negative balances the
# program does not allow (claw-back is policy SALDO-NEGATIVO). An accrual of a cancelled (or no
# longer valid) sale that is still active or was never reversed. A buyer's or partner's accrual
# never reversed although the ERP edited its sale's value since it was decided (entries without
# a content revision were decided at revision 0).
#
# One pass: the organization's entries are read once and joined by hash to what each one
# needs (its allocations as a lot and as a debit, whether a reversal names it, whether its
# sale is cancelled, all gathered in one aggregate), then summed per account.
_AUDIT = """
WITH account AS (
  SELECT t.programa_id, t.cliente_id,
         sum(t.valor) AS soma,
         sum(t.valor_restante) FILTER (WHERE t.tipo = 'ACÚMULO' AND t.status = 'ATIVO') AS restante,
         sum(t.valor) FILTER (WHERE t.tipo = 'ACÚMULO') AS acumulado,
         sum(-t.valor) FILTER (WHERE t.tipo = 'RESGATE') AS resgatado,
         sum(-t.valor) FILTER (WHERE t.tipo <> 'ACÚMULO') AS debitos,
         sum(t.valor) FILTER (WHERE x.estornos > 0) AS estornado,
         sum(x.do_debito) AS alocado,
         count(*) FILTER (WHERE t.tipo = 'ACÚMULO' AND (
             t.valor - t.valor_restante <> COALESCE(x.do_lote, 0)
             OR (t.status <> 'ATIVO' AND t.valor_restante <> 0))) AS lotes_divergentes,
         count(*) FILTER (WHERE t.tipo = 'ACÚMULO' AND (NOT s.valida OR s.cancelada)
                          AND (t.status = 'ATIVO' OR x.estornos IS NULL)) AS acumulos_nao_estornados,
         count(*) FILTER (WHERE t.tipo = 'ACÚMULO' AND t.campanha_id IS NULL
                          AND s.valida AND NOT s.cancelada AND t.venda_revisao = s.validade_revisao
                          AND COALESCE(t.venda_conteudo_revisao, 0) <> s.conteudo_revisao
                          AND x.estornos IS NULL) AS acumulos_vivos_editados
  FROM cashback_program_transactions t
  LEFT JOIN (
      SELECT id, sum(do_lote) AS do_lote, sum(do_debito) AS do_debito, sum(estornos) AS estornos
      FROM (
          SELECT lote_transacao_id AS id, valor AS do_lote, 0 AS do_debito, NULL::int AS estornos
          FROM cashback_program_transaction_allocations WHERE organizacao_id = :org
          UNION ALL
          SELECT transacao_id, 0, valor, NULL
          FROM cashback_program_transaction_allocations WHERE organizacao_id = :org
          UNION ALL
          SELECT transacao_origem_id, 0, 0, 1
          FROM cashback_program_transactions WHERE organizacao_id = :org AND tipo = 'CANCELAMENTO'
      ) parts
      GROUP BY id
  ) x ON x.id = t.id
  -- Only sales an invariant can involve: cancelled, invalid or edited (an accrual records its
  -- sale's content revision, which only grows: against an unedited sale it is 0).
  LEFT JOIN sales s ON s.organizacao_id = :org AND s.id = t.venda_id
   AND (NOT s.valida OR s.cancelada OR s.conteudo_revisao > 0)
  WHERE t.organizacao_id = :org
  GROUP BY t.programa_id, t.cliente_id
)
SELECT count(*) FILTER (WHERE
           b.saldo_valor_disponivel <> COALESCE(a.soma, 0)
        OR b.saldo_valor_disponivel <> COALESCE(a.restante, 0)
                                       - (COALESCE(a.debitos, 0) - COALESCE(a.alocado, 0))
        OR b.saldo_valor_acumulado_total <> COALESCE(a.acumulado, 0) - COALESCE(a.estornado, 0)
        OR b.saldo_valor_resgatado_total <> COALESCE(a.resgatado, 0)) AS saldos_divergentes,
       (SELECT CAST(COALESCE(sum(lotes_divergentes), 0) AS bigint) FROM account) AS lotes_divergentes,
       count(*) FILTER (WHERE b.saldo_valor_disponivel < 0) AS negativos,
       count(*) FILTER (WHERE b.saldo_valor_disponivel < 0
                        AND p.cancelamento_consumido_politica <> 'SALDO-NEGATIVO')
           AS negativos_nao_permitidos,
       (SELECT CAST(COALESCE(sum(acumulos_nao_estornados), 0) AS bigint) FROM account)
           AS acumulos_ativos_de_vendas_canceladas,
       (SELECT CAST(COALESCE(sum(acumulos_vivos_editados), 0) AS bigint) FROM account)
           AS acumulos_vivos_de_vendas_editadas
FROM cashback_program_balances b
JOIN cashback_programs p ON p.id = b.programa_id
LEFT JOIN account a ON a.programa_id = b.programa_id AND a.cliente_id = b.cliente_id
WHERE b.organizacao_id = :org
"""


@dataclass(frozen=True)
class LedgerAudit:
    balance_mismatches: int
    lot_mismatches: int
    negative_balances: int
    negative_balances_not_allowed: int
    active_accruals_of_cancelled_sales: int
    live_accruals_of_edited_sales: int

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
    """Every ledger invariant of the organization, in one statement.

    Without JIT compilation and parallel workers: the audit runs in every sync run, many at
    once on a small machine, where compiling the plan (~1.5 s) costs more than running it and
    workers only compete with the other runs' steps.
    """
    conn.execute(sa.text("SET LOCAL jit = off"))
    conn.execute(sa.text("SET LOCAL max_parallel_workers_per_gather = 0"))
    row = conn.execute(sa.text(_AUDIT), {"org": org_id}).one()
    return LedgerAudit(
        balance_mismatches=row.saldos_divergentes,
        lot_mismatches=row.lotes_divergentes,
        negative_balances=row.negativos,
        negative_balances_not_allowed=row.negativos_nao_permitidos,
        active_accruals_of_cancelled_sales=row.acumulos_ativos_de_vendas_canceladas,
        live_accruals_of_edited_sales=row.acumulos_vivos_de_vendas_editadas,
    )
