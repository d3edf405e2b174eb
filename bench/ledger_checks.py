"""The ledger checks on a 200,000-entry ledger, against one plain scan of the same rows.

`python -m bench.ledger_checks` builds an organization of 20,000 clients with ten ledger
entries each (seven accrual lots, a redemption, an expiry and a sale's cancellation, with
their allocations, balances and sales, all consistent) in a throwaway database, refreshes the
planner's statistics as the ledger's writers do after bulk writes, and times:

- the audit behind the four ledger checks (`db.ledger_audit.audit_ledger`, one statement),
  which the checks of one run share once folded into one check step;
- the four checks as separate steps, each running the audit (what a run pays until then);
- the yardstick: one aggregate scan of the organization's entries and allocations, the least
  any audit of every entry must read.

Writes `bench/results/ledger_checks.md`. No target: grouping every entry by account and
joining it to its allocations costs several scans; the figure to watch is the audit's time
next to the 5-minute cadence it runs in, and that it grows linearly with the ledger.
"""

from __future__ import annotations

import statistics
import time
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from bench.database import bench_database
from recompra_pipelines.db.engine import create_crm_engine
from recompra_pipelines.db.ledger_audit import audit_ledger
from recompra_pipelines.orgfile.organization import OrgFile
from recompra_pipelines.orgfile_store.writer import apply_org_file

CLIENTS = 20_000
ORG = "bench-ledger"
DAY = date(2026, 6, 1)
REPEATS = 3
# cashback_balances_match_entries, cashback_negative_balances, cashback_cancelled_sales_reversed,
# cashback_edited_sales_redecided: each reads the audit.
LEDGER_CHECKS = 4
RESULTS = Path(__file__).parent / "results" / "ledger_checks.md"

# Ids are md5-derived so every entry can name its lot, sale and debit without a lookup.
SEED = """
INSERT INTO clients (id, organizacao_id, nome, nome_chave)
SELECT md5('client' || n)::uuid, :org, 'Cliente ' || n, 'cliente ' || n
FROM generate_series(1, :clients) n;
INSERT INTO sales (id, organizacao_id, integracao_tipo, id_externo, data_referencia, data_venda,
                   data_venda_precisao, cliente_id, valor_total, custo_total, valida, cancelada,
                   hash_conteudo)
SELECT md5('sale' || n || '-' || k)::uuid, :org, 'ONLINE-SOFTWARE', n || '-' || k, :day,
       :day + time '12:00', 'ERP', md5('client' || n)::uuid, 100, 0, k <> 3, k = 3, 'h'
FROM generate_series(1, :clients) n, generate_series(1, 7) k;
INSERT INTO cashback_program_transactions (id, organizacao_id, programa_id, cliente_id, tipo,
    status, valor, valor_restante, saldo_valor_anterior, saldo_valor_posterior, expiracao_data,
    venda_id, venda_revisao, chave_idempotencia, data_efetivacao)
SELECT md5('lot' || n || '-' || k)::uuid, :org, :program, md5('client' || n)::uuid, 'ACÚMULO',
       CASE WHEN k IN (2, 3) THEN 'EXPIRADO' ELSE 'ATIVO' END, 10,
       CASE k WHEN 1 THEN 6 WHEN 2 THEN 0 WHEN 3 THEN 0 ELSE 10 END, 0, 10,
       :day + interval '90 days', md5('sale' || n || '-' || k)::uuid, 0,
       'acumulo:' || n || '-' || k, :day
FROM generate_series(1, :clients) n, generate_series(1, 7) k;
INSERT INTO cashback_program_transactions (id, organizacao_id, programa_id, cliente_id, tipo,
    status, valor, saldo_valor_anterior, saldo_valor_posterior, transacao_origem_id, venda_id,
    chave_idempotencia, data_efetivacao)
SELECT md5(d.kind || n)::uuid, :org, :program, md5('client' || n)::uuid, d.tipo, 'ATIVO',
       d.valor, 0, d.valor, d.origin, d.sale, d.key, :day
FROM generate_series(1, :clients) n
CROSS JOIN LATERAL (VALUES
    ('redeem', 'RESGATE', -4, NULL::uuid, NULL::uuid, 'resgate:' || n),
    ('expire', 'EXPIRAÇÃO', -10, md5('lot' || n || '-2')::uuid, NULL::uuid,
     'expiracao:' || md5('lot' || n || '-2')::uuid),
    ('cancel', 'CANCELAMENTO', -10, md5('lot' || n || '-3')::uuid, md5('sale' || n || '-3')::uuid,
     'estorno:' || md5('lot' || n || '-3')::uuid)
) AS d(kind, tipo, valor, origin, sale, key);
INSERT INTO cashback_program_transaction_allocations (organizacao_id, transacao_id,
    lote_transacao_id, valor)
SELECT :org, md5(a.kind || n)::uuid, md5('lot' || n || '-' || a.lot)::uuid, a.valor
FROM generate_series(1, :clients) n
CROSS JOIN (VALUES ('redeem', 1, 4), ('expire', 2, 10), ('cancel', 3, 10)) AS a(kind, lot, valor);
INSERT INTO cashback_program_balances (organizacao_id, programa_id, cliente_id,
    saldo_valor_disponivel, saldo_valor_acumulado_total, saldo_valor_resgatado_total)
SELECT :org, :program, md5('client' || n)::uuid, 46, 60, 4 FROM generate_series(1, :clients) n;
ANALYZE clients; ANALYZE sales; ANALYZE cashback_program_transactions;
ANALYZE cashback_program_transaction_allocations; ANALYZE cashback_program_balances
"""

SCAN = """
SELECT (SELECT count(*) + sum(valor) + sum(valor_restante) FROM cashback_program_transactions
        WHERE organizacao_id = :org),
       (SELECT count(*) + sum(valor) FROM cashback_program_transaction_allocations
        WHERE organizacao_id = :org)
"""


def _seed(engine: sa.Engine) -> int:
    org = OrgFile.model_validate(
        {
            "id": ORG,
            "name": "Bench ledger",
            "cashback_program": {"accrual_type": "PERCENTUAL", "accrual_value": 10},
        }
    )
    with engine.begin() as conn:
        apply_org_file(conn, org)
        program = conn.scalar(
            sa.text("SELECT id FROM cashback_programs WHERE organizacao_id = :org"), {"org": ORG}
        )
        params = {"org": ORG, "clients": CLIENTS, "day": DAY, "program": program}
        for statement in filter(str.strip, SEED.split(";\n")):
            conn.execute(sa.text(statement), params)
    with engine.connect() as conn:
        return conn.scalar(
            sa.text("SELECT count(*) FROM cashback_program_transactions WHERE organizacao_id = :o"),
            {"o": ORG},
        )


def _timed(engine: sa.Engine, work) -> float:
    started = time.perf_counter()
    with engine.connect() as conn:
        work(conn)
    return time.perf_counter() - started


def main() -> None:
    with bench_database() as db:
        engine = create_crm_engine(db.url)
        try:
            entries = _seed(engine)
            with engine.connect() as conn:
                assert audit_ledger(conn, ORG).consistent, "the seeded ledger must be consistent"

            def scan(conn):
                conn.execute(sa.text(SCAN), {"org": ORG}).one()

            def audit(conn):
                audit_ledger(conn, ORG)

            def separate_checks(conn):
                for _ in range(LEDGER_CHECKS):
                    audit_ledger(conn, ORG)

            _timed(engine, scan)  # warm the cache for every measure
            scans = [_timed(engine, scan) for _ in range(REPEATS)]
            audits = [_timed(engine, audit) for _ in range(REPEATS)]
            separate = [_timed(engine, separate_checks) for _ in range(REPEATS)]
        finally:
            engine.dispose()
    read, one, apart = (statistics.median(times) for times in (scans, audits, separate))
    ratio = one / read
    report = (
        "# Ledger checks benchmark\n\n"
        f"An organization of {CLIENTS:,} clients and {entries:,} ledger entries with"
        f" {CLIENTS * 3:,} allocations (server: {db.server}); median of {REPEATS}.\n\n"
        "| measure | seconds |\n|---|---|\n"
        f"| one aggregate scan of the entries and allocations (yardstick) | {read:.3f} |\n"
        f"| the ledger audit: everything the {LEDGER_CHECKS} checks need, one statement | {one:.3f} |\n"
        f"| the {LEDGER_CHECKS} checks as separate steps ({LEDGER_CHECKS} audits) | {apart:.3f} |\n"
        f"| audit ÷ scan | {ratio:.2f} |\n"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report, encoding="utf-8")
    print(
        f"ledger checks on {entries:,} entries: audit {one:.3f}s, {LEDGER_CHECKS} separate"
        f" {apart:.3f}s,"
        f" scan {read:.3f}s, ratio {ratio:.2f}"
    )


if __name__ == "__main__":
    main()
