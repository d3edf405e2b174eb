"""Sales and items of one org x day from staging, plus the buyers' purchase totals.

One `INSERT … SELECT … ON CONFLICT DO UPDATE … WHERE changed` per table: a sale whose ERP
content, buyer, seller and partner are unchanged is not rewritten, and items are upserted in
place by (sale, line) only for sales that changed, never deleted and re-inserted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from uuid import UUID

import sqlalchemy as sa

from recompra_pipelines.db.bulk import allow_day_sized_sorts, analyze_after_bulk_write
from recompra_pipelines.db.ordering import sale_order
from recompra_pipelines.db.staging import staged_items
from recompra_pipelines.domain.normalization import DATE_ONLY
from recompra_pipelines.domain.sales import RemovalReason


@dataclass(frozen=True)
class SalesCounts:
    staged: int
    inserted: int
    updated: int
    unchanged: int
    cancelled: int
    revalidated: int
    items_inserted: int
    items_updated: int
    items_deleted: int
    clients_totals_updated: int
    valid_sales: int
    valid_sales_total: Decimal
    # Stored sales missing from this complete ERP answer for the first time (awaiting a
    # second answer), and those whose absence it confirmed: removed, effects reversed.
    absent: int = 0
    removed: int = 0


UPSERT_SALES = f"""
WITH staged AS (
    SELECT s.*, v.id AS vendedor_id, p.id AS parceiro_id
    FROM erp_staging_sales s
    LEFT JOIN sellers v ON v.organizacao_id = s.organizacao_id AND v.identificador = s.vendedor_identificador
    LEFT JOIN partners p ON p.organizacao_id = s.organizacao_id AND p.identificador = s.parceiro_identificador
    WHERE s.organizacao_id = :org AND s.data_referencia = :day
      -- Sales stored exactly so are left out here rather than by ON CONFLICT's WHERE, which
      -- would lock each of them (a busy day's tick would lock 20,000 rows to change 400).
      AND NOT EXISTS (
          SELECT 1 FROM sales sa
          WHERE sa.organizacao_id = s.organizacao_id AND sa.integracao_tipo = s.integracao_tipo
            AND sa.id_externo = s.id_externo AND sa.hash_conteudo = s.hash_conteudo
            AND sa.data_remocao IS NULL
            AND sa.cliente_id IS NOT DISTINCT FROM s.cliente_id
            AND sa.vendedor_id IS NOT DISTINCT FROM v.id
            AND sa.parceiro_id IS NOT DISTINCT FROM p.id)
),
previous AS MATERIALIZED (
    SELECT sa.id, sa.valida, sa.cancelada, sa.cliente_id
    FROM sales sa JOIN staged s
      ON sa.organizacao_id = s.organizacao_id AND sa.integracao_tipo = s.integracao_tipo
     AND sa.id_externo = s.id_externo
),
upserted AS (
    INSERT INTO sales AS sa (
        organizacao_id, integracao_tipo, id_externo, data_referencia, data_venda, data_venda_precisao,
        cliente_id, vendedor_id, vendedor_nome, parceiro_id, parceiro, valor_total, custo_total,
        documento, modelo, serie, movimento, natureza, tipo, situacao, chave, canal,
        entrega_modalidade, valida, hash_conteudo, extracao_id,
        valor_desconto, valor_taxa_entrega, valor_taxa_servico, valor_taxa_adicional,
        descontos, pagamentos)
    SELECT organizacao_id, integracao_tipo, id_externo, data_referencia, data_venda, data_venda_precisao,
        cliente_id, vendedor_id, vendedor_nome, parceiro_id, parceiro, valor_total, custo_total,
        documento, modelo, serie, movimento, natureza, tipo, situacao, chave, canal,
        entrega_modalidade, valida, hash_conteudo, :extract_id,
        valor_desconto, valor_taxa_entrega, valor_taxa_servico, valor_taxa_adicional,
        descontos, pagamentos
    FROM staged
    ON CONFLICT (organizacao_id, integracao_tipo, id_externo) DO UPDATE SET
        data_referencia = excluded.data_referencia,
        -- Keep the best-known time: a time of day already known for this date is never
        -- replaced by a coarser one (the old code reset every sale to midnight).
        data_venda = CASE
            WHEN excluded.data_venda_precisao = 'ERP' THEN excluded.data_venda
            WHEN sa.data_referencia = excluded.data_referencia AND sa.data_venda_precisao <> '{DATE_ONLY}'
                THEN sa.data_venda
            ELSE excluded.data_venda END,
        data_venda_precisao = CASE
            WHEN excluded.data_venda_precisao = 'ERP' THEN excluded.data_venda_precisao
            WHEN sa.data_referencia = excluded.data_referencia AND sa.data_venda_precisao <> '{DATE_ONLY}'
                THEN sa.data_venda_precisao
            ELSE excluded.data_venda_precisao END,
        cliente_id = excluded.cliente_id,
        vendedor_id = excluded.vendedor_id,
        vendedor_nome = excluded.vendedor_nome,
        parceiro_id = excluded.parceiro_id,
        parceiro = excluded.parceiro,
        valor_total = excluded.valor_total,
        custo_total = excluded.custo_total,
        documento = excluded.documento,
        modelo = excluded.modelo,
        serie = excluded.serie,
        movimento = excluded.movimento,
        natureza = excluded.natureza,
        tipo = excluded.tipo,
        situacao = excluded.situacao,
        chave = excluded.chave,
        canal = excluded.canal,
        entrega_modalidade = excluded.entrega_modalidade,
        valor_desconto = excluded.valor_desconto,
        valor_taxa_entrega = excluded.valor_taxa_entrega,
        valor_taxa_servico = excluded.valor_taxa_servico,
        valor_taxa_adicional = excluded.valor_taxa_adicional,
        descontos = excluded.descontos,
        pagamentos = excluded.pagamentos,
        valida = excluded.valida,
        -- Cancelled: was valid, is not any more. Valid again: a new revision.
        cancelada = CASE WHEN excluded.valida THEN false
                         WHEN sa.valida THEN true ELSE sa.cancelada END,
        data_cancelamento = CASE WHEN excluded.valida THEN NULL
                                 WHEN sa.valida THEN now() ELSE sa.data_cancelamento END,
        validade_revisao = sa.validade_revisao + CASE WHEN sa.cancelada AND excluded.valida THEN 1 ELSE 0 END,
        -- An edit of a valid sale's value: what it earned is decided again.
        conteudo_revisao = sa.conteudo_revisao
            + CASE WHEN sa.valida AND NOT sa.cancelada AND excluded.valida
                        AND sa.valor_total <> excluded.valor_total THEN 1 ELSE 0 END,
        -- Listed again: no longer absent, no longer removed (a removed sale was cancelled,
        -- so valid again it is a new revision).
        ausente_desde = NULL,
        data_remocao = NULL,
        remocao_motivo = NULL,
        hash_conteudo = excluded.hash_conteudo,
        extracao_id = excluded.extracao_id,
        data_atualizacao = now()
    WHERE sa.hash_conteudo IS DISTINCT FROM excluded.hash_conteudo
       OR sa.data_remocao IS NOT NULL
       OR sa.cliente_id IS DISTINCT FROM excluded.cliente_id
       OR sa.vendedor_id IS DISTINCT FROM excluded.vendedor_id
       OR sa.parceiro_id IS DISTINCT FROM excluded.parceiro_id
    RETURNING sa.id, sa.id_externo, sa.valida, sa.cancelada, sa.cliente_id
)
SELECT u.id, u.id_externo, u.valida, u.cancelada, u.cliente_id,
       p.id IS NULL AS inserted, p.valida AS was_valid, p.cancelada AS was_cancelled,
       p.cliente_id AS previous_cliente_id
FROM upserted u LEFT JOIN previous p ON p.id = u.id
"""

UPSERT_ITEMS = f"""
WITH upserted AS (
    INSERT INTO sale_items AS si (
        organizacao_id, venda_id, linha, produto_id, quantidade, valor_unitario,
        valor_venda_total_bruto, valor_total_desconto, valor_venda_total_liquido,
        valor_custo_unitario, valor_custo_total, metadados)
    SELECT s.organizacao_id, c.venda_id, i.linha, pr.id, i.quantidade, i.valor_unitario,
           i.valor_venda_total_bruto, i.valor_total_desconto, i.valor_venda_total_liquido,
           i.valor_custo_unitario, i.valor_custo_total, i.metadados
    FROM tmp_changed_sales c
    JOIN erp_staging_sales s
      ON s.organizacao_id = :org AND s.data_referencia = :day AND s.id_externo = c.id_externo
    CROSS JOIN LATERAL {staged_items("s")}
    JOIN products pr ON pr.organizacao_id = s.organizacao_id AND pr.codigo = i.produto_codigo
    ON CONFLICT (venda_id, linha) DO UPDATE SET
        produto_id = excluded.produto_id,
        quantidade = excluded.quantidade,
        valor_unitario = excluded.valor_unitario,
        valor_venda_total_bruto = excluded.valor_venda_total_bruto,
        valor_total_desconto = excluded.valor_total_desconto,
        valor_venda_total_liquido = excluded.valor_venda_total_liquido,
        valor_custo_unitario = excluded.valor_custo_unitario,
        valor_custo_total = excluded.valor_custo_total,
        metadados = excluded.metadados,
        data_atualizacao = now()
    WHERE (si.produto_id, si.quantidade, si.valor_unitario, si.valor_venda_total_bruto,
           si.valor_total_desconto, si.valor_venda_total_liquido, si.valor_custo_unitario,
           si.valor_custo_total, si.metadados)
       IS DISTINCT FROM
          (excluded.produto_id, excluded.quantidade, excluded.valor_unitario,
           excluded.valor_venda_total_bruto, excluded.valor_total_desconto,
           excluded.valor_venda_total_liquido, excluded.valor_custo_unitario,
           excluded.valor_custo_total, excluded.metadados)
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated
FROM upserted
"""

# Lines an updated sale no longer has (the ERP shortened its item list); a sale inserted by
# this run has only the lines just written.
DELETE_REMOVED_ITEMS = """
DELETE FROM sale_items si
USING tmp_changed_sales c
JOIN erp_staging_sales s
  ON s.organizacao_id = :org AND s.data_referencia = :day AND s.id_externo = c.id_externo
WHERE si.venda_id = c.venda_id AND NOT c.inserida
  AND NOT EXISTS (
      SELECT 1 FROM json_array_elements(s.itens) AS line
      WHERE (line ->> 'linha')::int = si.linha)
"""

# Purchase totals recomputed from the sale history (valid sales only), so re-runs, backfills,
# cancellations and buyer changes all converge on the same numbers.
REFRESH_CLIENT_TOTALS = f"""
WITH touched AS (SELECT DISTINCT unnest(CAST(:client_ids AS uuid[])) AS id),
totals AS (
    SELECT t.id,
           min(s.data_venda) AS primeira_data,
           (array_agg(s.id ORDER BY {sale_order("s")}))[1] AS primeira_id,
           max(s.data_venda) AS ultima_data,
           (array_agg(s.id ORDER BY {sale_order("s", descending=True)}))[1] AS ultima_id,
           count(s.id) AS quantidade,
           COALESCE(sum(s.valor_total), 0) AS valor
    FROM touched t
    LEFT JOIN sales s ON s.organizacao_id = :org AND s.cliente_id = t.id AND s.valida
    GROUP BY t.id
)
UPDATE clients c SET
    primeira_compra_data = totals.primeira_data,
    primeira_compra_id = totals.primeira_id,
    ultima_compra_data = totals.ultima_data,
    ultima_compra_id = totals.ultima_id,
    metadata_total_compras = totals.quantidade,
    metadata_valor_total_compras = totals.valor,
    data_atualizacao = now()
FROM totals
WHERE c.id = totals.id AND c.organizacao_id = :org
  AND (c.primeira_compra_data, c.primeira_compra_id, c.ultima_compra_data, c.ultima_compra_id,
       c.metadata_total_compras, c.metadata_valor_total_compras)
      IS DISTINCT FROM
      (totals.primeira_data, totals.primeira_id, totals.ultima_data, totals.ultima_id,
       totals.quantidade::int, totals.valor)
"""


# Listed by the staged extract: staged, or listed but not loadable (quarantined, pending).
LISTED = """(EXISTS (SELECT 1 FROM erp_staging_sales st
                 WHERE st.organizacao_id = :org AND st.data_referencia = :day
                   AND st.id_externo = s.id_externo)
         OR s.id_externo = ANY(CAST(:not_staged AS text[])))"""

# Sales listed again are no longer absent.
PRESENT_AGAIN = f"""
UPDATE sales s SET ausente_desde = NULL, data_atualizacao = now()
WHERE s.organizacao_id = :org AND s.data_referencia = :day AND s.integracao_tipo = :integration
  AND s.ausente_desde IS NOT NULL AND s.data_remocao IS NULL AND {LISTED}
"""

# Stored sales missing from a complete answer captured at :captured: first noted as absent
# since then; missing again from a later complete answer, removed. A removed sale counts for
# nothing (like a cancellation, which it also is when it was valid); its effects are reversed
# by the next steps, and if the ERP lists it again the upsert brings it back as a new revision.
ABSENCES = f"""
WITH missing AS (
    SELECT s.id, s.ausente_desde IS NOT NULL AS removing
    FROM sales s
    WHERE s.organizacao_id = :org AND s.data_referencia = :day AND s.integracao_tipo = :integration
      AND s.data_remocao IS NULL
      AND (s.ausente_desde IS NULL OR s.ausente_desde < :captured)
      AND NOT {LISTED}
)
UPDATE sales s SET
    ausente_desde = COALESCE(s.ausente_desde, :captured),
    data_remocao = CASE WHEN m.removing THEN now() END,
    remocao_motivo = CASE WHEN m.removing THEN :reason END,
    valida = s.valida AND NOT m.removing,
    cancelada = s.cancelada OR (m.removing AND s.valida),
    data_cancelamento = CASE WHEN m.removing AND s.valida THEN now() ELSE s.data_cancelamento END,
    data_atualizacao = now()
FROM missing m
WHERE s.id = m.id
RETURNING s.cliente_id, m.removing
"""


def _reconcile_absences(
    conn: sa.Connection, org_id: str, day: date
) -> tuple[int, int, set[UUID | None]]:
    """Sales the staged ERP answer no longer lists: (newly absent, removed, their buyers).

    Only a complete answer can say a sale is missing (a failed answer never gets here; a
    partial one, e.g. a CardápioWeb history cut short, says nothing about what it lacks), and
    only two complete answers in a row, captured at different times, remove it."""
    extract = conn.execute(
        sa.text(
            """
            SELECT e.resposta_completa, e.ids_nao_carregados, x.integracao_tipo,
                   x.ultima_captura_em
            FROM erp_staging_extracts e JOIN erp_raw_extracts x ON x.id = e.extracao_id
            WHERE e.organizacao_id = :org AND e.data_referencia = :day
            """
        ),
        {"org": org_id, "day": day},
    ).first()
    if extract is None:
        return 0, 0, set()
    params = {
        "org": org_id,
        "day": day,
        "integration": extract.integracao_tipo,
        "not_staged": list(extract.ids_nao_carregados),
    }
    conn.execute(sa.text(PRESENT_AGAIN), params)
    if not extract.resposta_completa:
        return 0, 0, set()
    rows = conn.execute(
        sa.text(ABSENCES),
        {**params, "captured": extract.ultima_captura_em, "reason": RemovalReason.ABSENT_FROM_ERP},
    ).all()
    removed = sum(1 for row in rows if row.removing)
    return len(rows) - removed, removed, {row.cliente_id for row in rows if row.removing}


def load_sales(conn: sa.Connection, org_id: str, day: date, extract_id: UUID | None) -> SalesCounts:
    params = {"org": org_id, "day": day}
    changed = conn.execute(sa.text(UPSERT_SALES), {**params, "extract_id": extract_id}).all()

    items_inserted = items_updated = items_deleted = 0
    if changed:
        conn.execute(
            sa.text(
                "CREATE TEMP TABLE tmp_changed_sales (venda_id uuid PRIMARY KEY, id_externo text,"
                " inserida boolean) ON COMMIT DROP"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO tmp_changed_sales SELECT * FROM unnest(CAST(:ids AS uuid[]),"
                " CAST(:ext AS text[]), CAST(:inserted AS boolean[]))"
            ),
            {
                "ids": [row.id for row in changed],
                "ext": [row.id_externo for row in changed],
                "inserted": [row.inserted for row in changed],
            },
        )
        allow_day_sized_sorts(conn)
        items_inserted, items_updated = conn.execute(sa.text(UPSERT_ITEMS), params).one()
        items_deleted = conn.execute(sa.text(DELETE_REMOVED_ITEMS), params).rowcount
        conn.execute(sa.text("DROP TABLE tmp_changed_sales"))

    absent, removed, removed_buyers = _reconcile_absences(conn, org_id, day)
    touched = {row.cliente_id for row in changed} | {row.previous_cliente_id for row in changed}
    touched |= removed_buyers
    touched.discard(None)
    clients_updated = 0
    if touched:
        clients_updated = conn.execute(
            sa.text(REFRESH_CLIENT_TOTALS), {"org": org_id, "client_ids": list(touched)}
        ).rowcount

    # Only the columns later steps join and filter on: a full ANALYZE of a freshly written
    # 20,000-sale day reads every column of every page and costs more than the plans it saves.
    analyze_after_bulk_write(
        conn,
        len(changed) + items_inserted + items_updated,
        "sales (id, organizacao_id, integracao_tipo, id_externo, data_referencia, data_venda,"
        " cliente_id, parceiro_id, valida, cancelada, validade_revisao)",
        "sale_items (venda_id, organizacao_id, produto_id)",
        "clients",
    )
    staged, valid, valid_total = conn.execute(
        sa.text(
            "SELECT count(*), count(*) FILTER (WHERE valida), COALESCE(sum(valor_total) FILTER (WHERE valida), 0) "
            "FROM erp_staging_sales WHERE organizacao_id = :org AND data_referencia = :day"
        ),
        params,
    ).one()
    inserted = sum(1 for row in changed if row.inserted)
    return SalesCounts(
        staged=staged,
        inserted=inserted,
        updated=len(changed) - inserted,
        unchanged=staged - len(changed),
        cancelled=sum(1 for r in changed if not r.inserted and r.cancelada and not r.was_cancelled),
        revalidated=sum(1 for r in changed if not r.inserted and r.was_cancelled and r.valida),
        items_inserted=items_inserted,
        items_updated=items_updated,
        items_deleted=items_deleted,
        clients_totals_updated=clients_updated,
        valid_sales=valid,
        valid_sales_total=valid_total,
        absent=absent,
        removed=removed,
    )


def days_with_unconfirmed_absences(conn: sa.Connection) -> set[tuple[str, date]]:
    """(organization, day) with sales missing from one complete ERP answer and awaiting the
    next: the schedule syncs them even when the ERP's answer did not change since."""
    return {
        (row.organizacao_id, row.data_referencia)
        for row in conn.execute(
            sa.text(
                "SELECT DISTINCT organizacao_id, data_referencia FROM sales"
                " WHERE ausente_desde IS NOT NULL AND data_remocao IS NULL"
            )
        )
    }
