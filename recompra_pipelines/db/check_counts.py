"""The counts the data-quality checks read about one org x day, one round trip each."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

# What a sale's value is made of, for every connector: the items' net total (item discounts
# already taken), minus order-level discounts, plus the delivery, service and additional fees.
# Online Software sends none of the order-level amounts (NULL: nothing to add or take); a
# CardápioWeb order's total includes its delivery fee and takes its coupons off.
_EXPLAINED_TOTAL = """itens_valor_liquido - COALESCE(valor_desconto, 0)
    + COALESCE(valor_taxa_entrega, 0) + COALESCE(valor_taxa_servico, 0)
    + COALESCE(valor_taxa_adicional, 0)"""

# Everything the four checks read, about the day's staging and sales, in one round trip.
_DAY_COUNTS = f"""
WITH staged AS (
    SELECT * FROM erp_staging_sales WHERE organizacao_id = :org AND data_referencia = :day
), buyers AS (
    SELECT DISTINCT cliente_id FROM sales
    WHERE organizacao_id = :org AND data_referencia = :day AND cliente_id IS NOT NULL
), buyer_totals AS (
    SELECT b.cliente_id, count(s.id) AS purchases, COALESCE(sum(s.valor_total), 0) AS total
    FROM buyers b
    LEFT JOIN sales s ON s.organizacao_id = :org AND s.cliente_id = b.cliente_id AND s.valida
    GROUP BY b.cliente_id
)
SELECT
  (SELECT registros_recebidos FROM erp_staging_extracts
   WHERE organizacao_id = :org AND data_referencia = :day) AS received,
  (SELECT registros_quarentena FROM erp_staging_extracts
   WHERE organizacao_id = :org AND data_referencia = :day) AS quarantined,
  (SELECT count(*) FROM staged) AS staged_sales,
  (SELECT count(*) FROM staged st JOIN sales s
     ON s.organizacao_id = st.organizacao_id AND s.integracao_tipo = st.integracao_tipo
    AND s.id_externo = st.id_externo AND s.hash_conteudo = st.hash_conteudo) AS loaded_sales,
  (SELECT COALESCE(sum(json_array_length(itens)), 0) FROM staged) AS staged_items,
  (SELECT count(*) FROM staged st JOIN sales s
     ON s.organizacao_id = st.organizacao_id AND s.integracao_tipo = st.integracao_tipo
    AND s.id_externo = st.id_externo
   JOIN sale_items i ON i.venda_id = s.id) AS loaded_items,
  (SELECT count(*) FROM staged WHERE valida) AS sales_checked,
  (SELECT count(*) FROM staged WHERE valida
     AND abs(valor_total - ({_EXPLAINED_TOTAL})) > CAST(:tolerance AS numeric))
     AS outside_tolerance,
  (SELECT COALESCE(max(abs(valor_total - ({_EXPLAINED_TOTAL}))), 0) * 100 FROM staged
   WHERE valida) AS largest_difference_centavos,
  (SELECT count(*) FROM buyers) AS buyers,
  (SELECT count(*) FROM buyer_totals t JOIN clients c ON c.id = t.cliente_id
   WHERE c.metadata_total_compras <> t.purchases
      OR c.metadata_valor_total_compras <> t.total) AS buyers_with_wrong_totals
"""


def sync_day_counts(conn: sa.Connection, org_id: str, day: date, *, tolerance: str) -> sa.Row:
    """The day's staging and sales: records received and quarantined, staged vs loaded sales
    and items, sales whose value their lines do not explain within `tolerance` (and the
    largest difference), buyers whose purchase totals disagree with their sales."""
    return conn.execute(
        sa.text(_DAY_COUNTS), {"org": org_id, "day": day, "tolerance": tolerance}
    ).one()
