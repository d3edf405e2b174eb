"""RFM of one organization x day: one aggregate read, pandas scoring, one bulk write.

No per-client query: the window's sales are aggregated per client in SQL, scored in pandas
(`domain.rfm`), copied back into a temp table and applied with one UPDATE that also records
the segment transitions (`analise_rfm_desde`, `analise_rfm_titulo_anterior`) and the favourite
product and group.

A day older than the client's last analysed day is superseded: it changes nothing (the newer
state stays), so backfill in day order (Dagster's backfill of a range does).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from recompra_pipelines.db.bulk import copy_rows
from recompra_pipelines.domain.campaign_rules import Period

if TYPE_CHECKING:
    import pandas as pd

# pandas and numpy (the scoring, `domain.rfm`) are imported by the functions that use them:
# every run worker imports the whole code location, and pandas + numpy are ~0.7 s of it that
# only the once-a-day RFM step needs (`bench/results/run_cost.md`).

WINDOW = Period(12, "MESES")
# The most days WINDOW spans (a leap year): the days the analysis of a day reads, for lineage.
WINDOW_DAYS = 366


def _in_window(sales: str) -> str:
    """The window of day D: the 12 months that end with D, D's own sales included."""
    return f"{sales}.data_referencia > :start AND {sales}.data_referencia <= :day"


# Every client that has bought by the end of day D: its recency (days from its last purchase
# day to D, 0 = bought on D), frequency and total in the window. A client whose purchases are
# all older than the window scores none (PERDIDOS); one that never bought (a partner's linked
# client, one made in the CRM) is not scored at all: there is nothing to say about it.
CLIENT_AGGREGATES = f"""
WITH w AS (
    SELECT s.cliente_id, max(s.data_referencia) AS ultima, count(*) AS n,
           sum(s.valor_total) AS total
    FROM sales s
    WHERE s.organizacao_id = :org AND s.valida AND s.cliente_id IS NOT NULL AND {_in_window("s")}
    GROUP BY s.cliente_id
)
SELECT c.id AS cliente_id, CAST(:day AS date) - w.ultima AS recencia,
       COALESCE(w.n, 0) AS frequencia, COALESCE(w.total, 0) AS monetario
FROM clients c LEFT JOIN w ON w.cliente_id = c.id
WHERE c.organizacao_id = :org
  AND (w.cliente_id IS NOT NULL
       OR EXISTS (SELECT 1 FROM sales s WHERE s.organizacao_id = :org AND s.cliente_id = c.id
                  AND s.valida AND s.data_referencia <= :day))
"""

APPLY = f"""
WITH favourite AS (
    SELECT DISTINCT ON (s.cliente_id) s.cliente_id, i.produto_id, p.grupo
    FROM sales s
    JOIN sale_items i ON i.venda_id = s.id
    JOIN products p ON p.id = i.produto_id
    WHERE s.organizacao_id = :org AND s.valida AND s.cliente_id IS NOT NULL
      AND {_in_window("s")}
    GROUP BY s.cliente_id, i.produto_id, p.codigo, p.grupo
    ORDER BY s.cliente_id, sum(i.quantidade) DESC, p.codigo
), scored AS (
    SELECT t.*, f.produto_id, f.grupo FROM tmp_rfm t LEFT JOIN favourite f USING (cliente_id)
)
UPDATE clients c SET
    analise_rfm_recencia = t.r, analise_rfm_frequencia = t.f, analise_rfm_monetario = t.m,
    analise_rfm_titulo = t.segmento,
    analise_rfm_titulo_anterior = CASE WHEN c.analise_rfm_titulo IS DISTINCT FROM t.segmento
        THEN c.analise_rfm_titulo ELSE c.analise_rfm_titulo_anterior END,
    analise_rfm_desde = CASE WHEN c.analise_rfm_titulo IS DISTINCT FROM t.segmento
        OR c.analise_rfm_desde IS NULL THEN CAST(:day AS date) ELSE c.analise_rfm_desde END,
    analise_rfm_data_referencia = :day,
    analise_rfm_ultima_atualizacao = :now,
    metadata_produto_mais_comprado_id = t.produto_id,
    metadata_grupo_mais_comprado = t.grupo
FROM scored t
WHERE c.id = t.cliente_id AND c.organizacao_id = :org
  AND (c.analise_rfm_data_referencia IS NULL OR c.analise_rfm_data_referencia < :day
       OR (c.analise_rfm_data_referencia = :day
           AND (c.analise_rfm_titulo, c.analise_rfm_recencia, c.analise_rfm_frequencia,
                c.analise_rfm_monetario, c.metadata_produto_mais_comprado_id,
                c.metadata_grupo_mais_comprado)
               IS DISTINCT FROM (t.segmento, t.r, t.f, t.m, t.produto_id, t.grupo)))
RETURNING c.analise_rfm_desde = :day AND c.analise_rfm_titulo_anterior IS NOT NULL AS entrou
"""


@dataclass(frozen=True)
class RfmCounts:
    clients: int  # scored: every client that has bought by the end of the day
    buyers: int  # of which bought in the window
    updated: int
    entered_segment: int
    superseded: int  # clients already analysed for a later day: left as they are
    by_segment: dict[str, int]
    method: str  # THRESHOLDS | QUINTILES


def window_start(day: date) -> date:
    """The day before the window of ``day`` begins (the window is (start, day])."""
    return Period(-WINDOW.value, WINDOW.unit).add_to(day)


def client_aggregates(conn: sa.Connection, org_id: str, day: date) -> pd.DataFrame:
    import pandas as pd

    result = conn.execute(
        sa.text(CLIENT_AGGREGATES), {"org": org_id, "day": day, "start": window_start(day)}
    )
    return pd.DataFrame(result.all(), columns=["cliente_id", "recencia", "frequencia", "monetario"])


def analyse(
    conn: sa.Connection, org_id: str, day: date, thresholds_raw, now: datetime
) -> RfmCounts:
    """Score every client of the organization for `day` and store it (caller holds the lock)."""
    from recompra_pipelines.domain.rfm import parse_thresholds, score

    thresholds = parse_thresholds(thresholds_raw)
    scored = score(client_aggregates(conn, org_id, day), thresholds)
    conn.execute(
        sa.text(
            "CREATE TEMP TABLE tmp_rfm (cliente_id uuid PRIMARY KEY, r smallint, f smallint,"
            " m smallint, segmento text) ON COMMIT DROP"
        )
    )
    copy_rows(
        conn,
        "tmp_rfm",
        ("cliente_id", "r", "f", "m", "segmento"),
        zip(
            scored["cliente_id"],
            scored["r"].tolist(),
            scored["f"].tolist(),
            scored["m"].tolist(),
            scored["segmento"],
            strict=True,
        ),
    )
    conn.execute(sa.text("ANALYZE tmp_rfm"))
    params = {"org": org_id, "day": day, "start": window_start(day), "now": now}
    entered = conn.execute(sa.text(APPLY), params).scalars().all()
    superseded = conn.scalar(
        sa.text(
            "SELECT count(*) FROM clients WHERE organizacao_id = :org"
            " AND analise_rfm_data_referencia > :day"
        ),
        params,
    )
    conn.execute(sa.text("DROP TABLE tmp_rfm"))
    return RfmCounts(
        clients=len(scored),
        buyers=int((scored["frequencia"] > 0).sum()),
        updated=len(entered),
        entered_segment=sum(bool(e) for e in entered),
        superseded=superseded,
        by_segment={k: int(v) for k, v in scored["segmento"].value_counts().items()},
        method="THRESHOLDS" if thresholds is not None else "QUINTILES",
    )
