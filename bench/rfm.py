"""RFM for a 50,000-client organization vs a bare read of the same sales rows.

`python -m bench.rfm` builds the organization in a throwaway database (bench.database), times
`rfm_analysis` for one day (aggregate read, pandas scoring, bulk write of every client, the
favourite product) against fetching the window's sales rows (client, day, value) into Python,
in the same run, and writes `bench/results/rfm.md`. Target: ratio ≤ 5.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa

from bench.database import bench_database
from recompra_pipelines.db.engine import create_crm_engine
from recompra_pipelines.db.rfm import window_start
from recompra_pipelines.orgfile.organization import OrgFile
from recompra_pipelines.orgfile_store.writer import apply_org_file
from recompra_pipelines.sync.lifecycle_steps import run_rfm

CLIENTS = 50_000
SALES_PER_CLIENT = 4  # on average, spread over the 12-month window
DAY = date(2026, 6, 1)
ORG = "bench-rfm"
REPEATS = 3
RESULTS = Path(__file__).parent / "results" / "rfm.md"

SEED = """
INSERT INTO clients (organizacao_id, nome, nome_chave)
SELECT :org, 'Cliente ' || g, 'cliente ' || g FROM generate_series(1, :clients) g;
INSERT INTO products (organizacao_id, codigo, descricao, grupo)
SELECT :org, 'P' || g, 'Produto ' || g, 'G' || (g % 12) FROM generate_series(1, 200) g;
CREATE TEMP TABLE ids AS SELECT id, row_number() OVER (ORDER BY id) AS n FROM clients WHERE organizacao_id = :org;
INSERT INTO sales (organizacao_id, integracao_tipo, id_externo, data_referencia, data_venda,
                   data_venda_precisao, cliente_id, valor_total, custo_total, valida, hash_conteudo)
SELECT :org, 'ONLINE-SOFTWARE', 's' || g, d, d + time '12:00', 'ERP', i.id,
       round((10 + random() * 490)::numeric, 2), 0, random() > 0.02, 'h'
FROM generate_series(1, :sales) g
CROSS JOIN LATERAL (SELECT (CAST(:day AS date) - 1 - (random() * 364)::int) AS d,
                           1 + floor(power(random(), 2) * :clients)::int AS n
                    WHERE g > 0) dd
JOIN ids i ON i.n = dd.n;
INSERT INTO sale_items (organizacao_id, venda_id, linha, produto_id, quantidade, valor_unitario,
  valor_venda_total_bruto, valor_total_desconto, valor_venda_total_liquido, valor_custo_unitario,
  valor_custo_total)
SELECT s.organizacao_id, s.id, 1, p.id, 1 + (random() * 3)::int, s.valor_total, s.valor_total, 0,
       s.valor_total, 0, 0
FROM sales s CROSS JOIN LATERAL (SELECT 1 + (random() * 199)::int AS n) r
JOIN (SELECT id, row_number() OVER (ORDER BY id) AS n FROM products WHERE organizacao_id = :org) p
  ON p.n = r.n
WHERE s.organizacao_id = :org;
ANALYZE clients; ANALYZE sales; ANALYZE sale_items; ANALYZE products;
"""

BARE_READ = """
SELECT cliente_id, data_referencia, valor_total FROM sales
WHERE organizacao_id = :org AND valida AND cliente_id IS NOT NULL
  AND data_referencia > :start AND data_referencia <= :day
"""


def _seed(engine: sa.Engine) -> int:
    with engine.begin() as conn:
        apply_org_file(conn, OrgFile.model_validate({"id": ORG, "name": "Bench RFM"}))
        params = {"org": ORG, "clients": CLIENTS, "sales": CLIENTS * SALES_PER_CLIENT, "day": DAY}
        for statement in filter(str.strip, SEED.split(";\n")):
            conn.execute(sa.text(statement), params)
        return conn.scalar(sa.text(BARE_READ.replace("cliente_id, data_referencia, valor_total", "count(*)")),
                           {"org": ORG, "start": window_start(DAY), "day": DAY})  # fmt: skip


def _bare_read(engine: sa.Engine) -> float:
    started = time.perf_counter()
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(BARE_READ), {"org": ORG, "start": window_start(DAY), "day": DAY}
        ).all()
    assert rows
    return time.perf_counter() - started


def _rfm(engine: sa.Engine, day: date) -> float:
    started = time.perf_counter()
    run_rfm(engine, ORG, day, datetime.now(UTC))
    return time.perf_counter() - started


def main() -> None:
    with bench_database() as db:
        engine = create_crm_engine(db.url)
        try:
            rows = _seed(engine)
            _bare_read(engine)  # warm the cache for both
            reads = [_bare_read(engine) for _ in range(REPEATS)]
            # Each repeat is a new day, so every client row is rewritten (the worst case).
            rfms = [_rfm(engine, date.fromordinal(DAY.toordinal() + k)) for k in range(REPEATS)]
        finally:
            engine.dispose()
    read, rfm = statistics.median(reads), statistics.median(rfms)
    ratio = rfm / read
    report = (
        "# RFM benchmark\n\n"
        f"Organization of {CLIENTS:,} clients, {rows:,} valid sales in the 12-month window "
        f"(server: {db.server}); median of {REPEATS}.\n\n"
        "| measure | seconds |\n|---|---|\n"
        f"| bare read of the window's sales rows | {read:.3f} |\n"
        f"| rfm_analysis (read, score, write every client) | {rfm:.3f} |\n"
        f"| **ratio** (target ≤ 5) | **{ratio:.2f}** |\n"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report, encoding="utf-8")
    print(f"rfm: {rfm:.3f}s, bare read: {read:.3f}s, ratio {ratio:.2f} (target <= 5)")


if __name__ == "__main__":
    main()
