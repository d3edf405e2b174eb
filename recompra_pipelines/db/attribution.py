"""Attribution of one org x day's sales to earlier messages, as an idempotent reconciliation."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa

from recompra_pipelines.db.bulk import copy_rows
from recompra_pipelines.db.ordering import sale_order
from recompra_pipelines.domain.attribution import BuyingPattern, conversion_type, deltas
from recompra_pipelines.domain.normalization import DATE_ONLY, TIME_FROM_CAPTURE, TIME_FROM_ERP
from recompra_pipelines.domain.parsing import to_centavos

SENT = ("ENVIADO", "ENTREGUE", "LIDO")

# For each valid sale of the day with a client: the last message sent to that client within
# its campaign's window before the sale - never one the sale itself triggered (its welcome
# message is not what brought it), nor one sent after the sale's best-known time - and the
# client's valid purchases before the sale.
#
# Set-based, each of the day's clients' sent messages and valid sales read once (a lateral
# lookup per sale rescanned the client's whole interaction history every time). Per client and
# campaign, the messages' send times form a sorted array; `width_bucket` finds by binary search
# the campaign's last message at or before the sale (the array is in (time, key) order); from
# there back, the first not triggered by the sale itself. Only that message can be the
# campaign's candidate: an earlier one of the same campaign has the same window and is older.
# The latest candidate over the campaigns wins, ties by campaign key.
CANDIDATES = f"""
WITH day_sales AS MATERIALIZED (
    SELECT s.id, s.cliente_id, s.data_venda, s.data_venda_precisao, s.valor_total
    FROM sales s
    WHERE s.organizacao_id = :org AND s.data_referencia = :day AND s.valida AND s.cliente_id IS NOT NULL
), sent AS (
    SELECT i.cliente_id, i.campanha_id, c.chave, c.atribuicao_janela_dias,
           array_agg(i.data_execucao ORDER BY i.data_execucao, i.chave_idempotencia) AS momentos,
           array_agg(i.id ORDER BY i.data_execucao, i.chave_idempotencia) AS ids,
           array_agg(i.venda_id ORDER BY i.data_execucao, i.chave_idempotencia) AS vendas
    FROM interactions i JOIN campaigns c ON c.id = i.campanha_id
    WHERE i.organizacao_id = :org AND i.cliente_id IN (SELECT cliente_id FROM day_sales)
      AND i.tipo = 'ENVIO-MENSAGEM' AND i.status_envio IN ('ENVIADO', 'ENTREGUE', 'LIDO')
      AND i.data_execucao IS NOT NULL AND i.data_execucao <= (SELECT max(data_venda) FROM day_sales)
    GROUP BY i.cliente_id, i.campanha_id, c.chave, c.atribuicao_janela_dias
), last_touch AS MATERIALIZED (
    SELECT DISTINCT ON (d.id) d.id, d.cliente_id, d.data_venda, d.data_venda_precisao,
           d.valor_total, m.ids[k.n] AS interacao_id, m.campanha_id, m.momentos[k.n] AS data_execucao
    FROM day_sales d
    JOIN sent m ON m.cliente_id = d.cliente_id
    CROSS JOIN LATERAL (
        SELECT j AS n FROM generate_series(width_bucket(d.data_venda, m.momentos), 1, -1) AS j
        WHERE m.vendas[j] IS DISTINCT FROM d.id
        LIMIT 1
    ) k
    WHERE m.momentos[k.n] >= d.data_venda - make_interval(days => m.atribuicao_janela_dias)
    ORDER BY d.id, m.momentos[k.n] DESC, m.chave DESC NULLS LAST, m.campanha_id DESC
), before_sale AS (
    SELECT h.id,
           count(*) OVER w AS quantidade, avg(h.valor_total) OVER w AS ticket,
           min(h.data_venda) OVER w AS primeira, max(h.data_venda) OVER w AS ultima
    FROM sales h
    WHERE h.organizacao_id = :org AND h.valida AND h.cliente_id IN (SELECT cliente_id FROM last_touch)
    WINDOW w AS (PARTITION BY h.cliente_id ORDER BY {sale_order("h")}
                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
)
SELECT t.id AS venda_id, t.cliente_id, t.data_venda, t.data_venda_precisao, t.valor_total,
       t.interacao_id, t.campanha_id, t.data_execucao,
       p.quantidade, p.ticket, p.primeira, p.ultima
FROM last_touch t JOIN before_sale p ON p.id = t.id
"""

CONVERSION_COLUMNS = (
    "organizacao_id", "venda_id", "interacao_id", "campanha_id", "cliente_id",
    "atribuicao_receita", "data_interacao", "data_conversao", "data_conversao_precisao",
    "tempo_para_conversao_minutos",
    "venda_valor", "tipo_conversao", "compras_anteriores_quantidade", "ticket_medio",
    "ciclo_compra_dias", "ciclo_compra_confiavel", "dias_desde_ultima_compra",
    "delta_frequencia", "delta_monetario_absoluto", "delta_monetario_percentual",
)  # fmt: skip

# The staged conversions, written only where something changed.
UPSERT_CONVERSIONS = f"""
INSERT INTO campaign_conversions AS cc ({", ".join(CONVERSION_COLUMNS)})
SELECT {", ".join(CONVERSION_COLUMNS)} FROM tmp_conversions
ON CONFLICT (organizacao_id, venda_id) DO UPDATE SET
    interacao_id = excluded.interacao_id, campanha_id = excluded.campanha_id,
    cliente_id = excluded.cliente_id, atribuicao_receita = excluded.atribuicao_receita,
    data_interacao = excluded.data_interacao, data_conversao = excluded.data_conversao,
    data_conversao_precisao = excluded.data_conversao_precisao,
    tempo_para_conversao_minutos = excluded.tempo_para_conversao_minutos,
    venda_valor = excluded.venda_valor, tipo_conversao = excluded.tipo_conversao,
    compras_anteriores_quantidade = excluded.compras_anteriores_quantidade,
    ticket_medio = excluded.ticket_medio, ciclo_compra_dias = excluded.ciclo_compra_dias,
    ciclo_compra_confiavel = excluded.ciclo_compra_confiavel,
    dias_desde_ultima_compra = excluded.dias_desde_ultima_compra,
    delta_frequencia = excluded.delta_frequencia,
    delta_monetario_absoluto = excluded.delta_monetario_absoluto,
    delta_monetario_percentual = excluded.delta_monetario_percentual,
    data_atualizacao = now()
WHERE (cc.interacao_id, cc.data_conversao, cc.data_conversao_precisao, cc.venda_valor,
       cc.tipo_conversao, cc.compras_anteriores_quantidade, cc.ticket_medio,
       cc.dias_desde_ultima_compra)
   IS DISTINCT FROM
      (excluded.interacao_id, excluded.data_conversao, excluded.data_conversao_precisao,
       excluded.venda_valor, excluded.tipo_conversao, excluded.compras_anteriores_quantidade,
       excluded.ticket_medio, excluded.dias_desde_ultima_compra)
"""


@dataclass(frozen=True)
class AttributionCounts:
    attributed: int
    conversions_written: int
    conversions_removed: int
    attributed_revenue_centavos: int
    # How the attributed sales were placed after their message: by the ERP's time, by when
    # the sync first saw them, or by their day only.
    attributed_by_erp_time: int = 0
    attributed_by_capture_time: int = 0
    attributed_by_day: int = 0


def attribute_day(conn: sa.Connection, org_id: str, day: date) -> AttributionCounts:
    params = {"org": org_id, "day": day}
    candidates = conn.execute(sa.text(CANDIDATES), params).all()
    written = 0
    if candidates:
        conn.execute(
            sa.text(
                "CREATE TEMP TABLE tmp_conversions "
                "(LIKE campaign_conversions INCLUDING DEFAULTS) ON COMMIT DROP"
            )
        )
        copy_rows(
            conn,
            "tmp_conversions",
            CONVERSION_COLUMNS,
            (_conversion(org_id, c) for c in candidates),
        )
        written = conn.execute(sa.text(UPSERT_CONVERSIONS)).rowcount
        conn.execute(sa.text("DROP TABLE tmp_conversions"))
    # Conversions of the day's sales that no longer hold: cancelled, re-assigned, or no message.
    removed = conn.execute(
        sa.text(
            """
            DELETE FROM campaign_conversions cc USING sales s
            WHERE cc.organizacao_id = :org AND s.id = cc.venda_id
              AND s.organizacao_id = :org AND s.data_referencia = :day
              AND NOT EXISTS (SELECT 1 FROM unnest(CAST(:kept AS uuid[])) AS k(venda_id)
                              WHERE k.venda_id = cc.venda_id)
            """
        ),
        {**params, "kept": [c.venda_id for c in candidates]},
    ).rowcount
    conn.execute(
        sa.text(
            """
            UPDATE sales s SET atribuicao_campanha_id = cc.campanha_id, atribuicao_interacao_id = cc.interacao_id,
                   data_atualizacao = now()
            FROM sales s2 LEFT JOIN campaign_conversions cc ON cc.venda_id = s2.id
            WHERE s2.organizacao_id = :org AND s2.data_referencia = :day AND s.id = s2.id
              AND (s.atribuicao_campanha_id, s.atribuicao_interacao_id)
                  IS DISTINCT FROM (cc.campanha_id, cc.interacao_id)
            """
        ),
        params,
    )
    revenue = sum((c.valor_total for c in candidates), Decimal("0"))
    by_rule = Counter(c.data_venda_precisao for c in candidates)
    return AttributionCounts(
        attributed=len(candidates),
        conversions_written=written,
        conversions_removed=removed,
        attributed_revenue_centavos=to_centavos(revenue),
        attributed_by_erp_time=by_rule[TIME_FROM_ERP],
        attributed_by_capture_time=by_rule[TIME_FROM_CAPTURE],
        attributed_by_day=by_rule[DATE_ONLY],
    )


def _conversion(org_id: str, c) -> tuple:
    """A candidate's `campaign_conversions` row, in `CONVERSION_COLUMNS` order."""
    previous = c.quantidade
    cycle = None
    if previous >= 2:
        span_days = Decimal((c.ultima - c.primeira).total_seconds()) / Decimal(86400)
        cycle = int((span_days / (previous - 1)).quantize(Decimal("1"), ROUND_HALF_UP))
    days_since = int((c.data_venda - c.ultima).total_seconds() // 86400) if previous else None
    ticket = c.ticket.quantize(Decimal("0.01"), ROUND_HALF_UP) if c.ticket is not None else None
    pattern = BuyingPattern(
        previous_purchases=previous,
        average_ticket=ticket,
        cycle_days=cycle,
        days_since_last=days_since,
    )
    delta = deltas(pattern, c.valor_total)
    return (
        org_id,
        c.venda_id,
        c.interacao_id,
        c.campanha_id,
        c.cliente_id,
        c.valor_total,
        c.data_execucao,
        c.data_venda,
        c.data_venda_precisao,
        int((c.data_venda - c.data_execucao).total_seconds() // 60),
        c.valor_total,
        conversion_type(pattern),
        previous,
        ticket,
        cycle,
        pattern.reliable_cycle,
        days_since,
        delta.frequency,
        delta.monetary_absolute,
        delta.monetary_percent,
    )
