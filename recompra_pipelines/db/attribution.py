"""Attribution of one org x day's sales to earlier messages, as an idempotent reconciliation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa

from recompra_pipelines.domain.attribution import BuyingPattern, conversion_type, deltas

SENT = ("ENVIADO", "ENTREGUE", "LIDO")

# For each valid sale of the day with a client: the last message sent to that client within
# its campaign's window before the sale, and the client's valid purchases before the sale.
CANDIDATES = """
WITH day_sales AS (
    SELECT s.id, s.cliente_id, s.data_venda, s.valor_total
    FROM sales s
    WHERE s.organizacao_id = :org AND s.data_referencia = :day AND s.valida AND s.cliente_id IS NOT NULL
)
SELECT d.id AS venda_id, d.cliente_id, d.data_venda, d.valor_total,
       w.interacao_id, w.campanha_id, w.data_execucao,
       p.quantidade, p.ticket, p.primeira, p.ultima
FROM day_sales d
CROSS JOIN LATERAL (
    SELECT i.id AS interacao_id, i.campanha_id, i.data_execucao
    FROM interactions i JOIN campaigns c ON c.id = i.campanha_id
    WHERE i.organizacao_id = :org AND i.cliente_id = d.cliente_id AND i.tipo = 'ENVIO-MENSAGEM'
      AND i.status_envio IN ('ENVIADO', 'ENTREGUE', 'LIDO') AND i.data_execucao IS NOT NULL
      AND i.data_execucao <= d.data_venda
      AND i.data_execucao >= d.data_venda - make_interval(days => c.atribuicao_janela_dias)
    ORDER BY i.data_execucao DESC, i.id DESC
    LIMIT 1
) w
CROSS JOIN LATERAL (
    SELECT count(*) AS quantidade, avg(h.valor_total) AS ticket,
           min(h.data_venda) AS primeira, max(h.data_venda) AS ultima
    FROM sales h
    WHERE h.organizacao_id = :org AND h.cliente_id = d.cliente_id AND h.valida
      AND (h.data_venda, h.id) < (d.data_venda, d.id)
) p
"""

UPSERT_CONVERSION = """
INSERT INTO campaign_conversions AS cc (
    organizacao_id, venda_id, interacao_id, campanha_id, cliente_id, atribuicao_receita,
    data_interacao, data_conversao, tempo_para_conversao_minutos, venda_valor, tipo_conversao,
    compras_anteriores_quantidade, ticket_medio, ciclo_compra_dias, ciclo_compra_confiavel,
    dias_desde_ultima_compra, delta_frequencia, delta_monetario_absoluto, delta_monetario_percentual)
VALUES (:org, :venda_id, :interacao_id, :campanha_id, :cliente_id, :receita, :data_interacao,
        :data_conversao, :minutos, :receita, :tipo, :quantidade, :ticket, :ciclo, :confiavel,
        :dias, :delta_frequencia, :delta_absoluto, :delta_percentual)
ON CONFLICT (organizacao_id, venda_id) DO UPDATE SET
    interacao_id = excluded.interacao_id, campanha_id = excluded.campanha_id,
    cliente_id = excluded.cliente_id, atribuicao_receita = excluded.atribuicao_receita,
    data_interacao = excluded.data_interacao, data_conversao = excluded.data_conversao,
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
WHERE (cc.interacao_id, cc.data_conversao, cc.venda_valor, cc.tipo_conversao,
       cc.compras_anteriores_quantidade, cc.ticket_medio, cc.dias_desde_ultima_compra)
   IS DISTINCT FROM
      (excluded.interacao_id, excluded.data_conversao, excluded.venda_valor, excluded.tipo_conversao,
       excluded.compras_anteriores_quantidade, excluded.ticket_medio, excluded.dias_desde_ultima_compra)
"""


@dataclass(frozen=True)
class AttributionCounts:
    attributed: int
    conversions_written: int
    conversions_removed: int
    attributed_revenue_centavos: int


def attribute_day(conn: sa.Connection, org_id: str, day: date) -> AttributionCounts:
    params = {"org": org_id, "day": day}
    candidates = conn.execute(sa.text(CANDIDATES), params).all()
    written = 0
    rows = [_conversion(org_id, c) for c in candidates]
    if rows:
        written = conn.execute(sa.text(UPSERT_CONVERSION), rows).rowcount
    # Conversions of the day's sales that no longer hold: cancelled, re-assigned, or no message.
    kept = [c.venda_id for c in candidates]
    removed = conn.execute(
        sa.text(
            """
            DELETE FROM campaign_conversions cc USING sales s
            WHERE cc.organizacao_id = :org AND s.id = cc.venda_id
              AND s.organizacao_id = :org AND s.data_referencia = :day
              AND NOT (cc.venda_id = ANY(:kept))
            """
        ),
        {**params, "kept": kept},
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
    return AttributionCounts(
        attributed=len(candidates),
        conversions_written=written,
        conversions_removed=removed,
        attributed_revenue_centavos=int(revenue * 100),
    )


def _conversion(org_id: str, c) -> dict:
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
    return {
        "org": org_id,
        "venda_id": c.venda_id,
        "interacao_id": c.interacao_id,
        "campanha_id": c.campanha_id,
        "cliente_id": c.cliente_id,
        "receita": c.valor_total,
        "data_interacao": c.data_execucao,
        "data_conversao": c.data_venda,
        "minutos": int((c.data_venda - c.data_execucao).total_seconds() // 60),
        "tipo": conversion_type(pattern),
        "quantidade": previous,
        "ticket": ticket,
        "ciclo": cycle,
        "confiavel": pattern.reliable_cycle,
        "dias": days_since,
        "delta_frequencia": delta.frequency,
        "delta_absoluto": delta.monetary_absolute,
        "delta_percentual": delta.monetary_percent,
    }
