"""Reading campaigns and purchases, and writing interactions, for one org x day."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from recompra_pipelines.db.bulk import analyze_after_bulk_write, copy_new_rows
from recompra_pipelines.db.ordering import campaign_order, sale_order
from recompra_pipelines.domain.campaign_rules import (
    Campaign,
    Decision,
    PastInteraction,
    Period,
    Purchase,
    Trigger,
    idempotency_key,
    purchase_context,
    schedule,
)
from recompra_pipelines.domain.campaign_triggers import (
    CAMPAIGN_MESSAGE_TITLE,
    Firing,
    trigger_kinds,
)
from recompra_pipelines.domain.vocabulary import InteractionType, SendStatus, SkipReason, TimeUnit
from recompra_pipelines.domain.whatsapp_consent import MARKETING


def active_campaigns(
    conn: sa.Connection, org_id: str, triggers: Sequence[str] | None = None
) -> list[Campaign]:
    """The organization's active campaigns of the given trigger types (by default those that
    fire on purchase)."""
    triggers = trigger_kinds(Firing.ON_PURCHASE) if triggers is None else triggers
    rows = conn.execute(
        sa.text(
            f"""
            SELECT c.*, COALESCE(array_agg(s.segmentacao) FILTER (WHERE s.segmentacao IS NOT NULL), '{{}}') AS segmentacoes,
                   (SELECT t.categoria FROM whatsapp_templates t
                    WHERE t.id = c.whatsapp_template_id) AS template_categoria
            FROM campaigns c LEFT JOIN campaign_segmentations s ON s.campanha_id = c.id
            WHERE c.organizacao_id = :org AND c.ativo AND c.gatilho_tipo = ANY(:triggers)
            GROUP BY c.id ORDER BY {campaign_order("c")}
            """
        ),
        {"org": org_id, "triggers": list(triggers)},
    ).all()
    return [_campaign(row) for row in rows]


def _period(value: int | None, unit: str | None) -> Period | None:
    return Period(value, unit or TimeUnit.DAYS) if value else None


def _campaign(row) -> Campaign:
    return Campaign(
        id=row.id,
        title=row.titulo,
        trigger=row.gatilho_tipo,
        segmentations=frozenset(row.segmentacoes),
        new_purchase_minimum=row.gatilho_nova_compra_valor_minimo,
        purchase_count=row.gatilho_quantidade_total_compras,
        purchase_total=row.gatilho_valor_total_compras,
        new_cashback_minimum=row.gatilho_novo_cashback_acumulado_valor_minimo,
        total_cashback_minimum=row.gatilho_total_cashback_acumulado_valor_minimo,
        allow_repeat=row.permitir_recorrencia,
        min_interval=_period(row.frequencia_intervalo_valor, row.frequencia_intervalo_medida),
        delay=_period(row.execucao_agendada_valor, row.execucao_agendada_medida),
        block=row.execucao_agendada_bloco,
        cashback_type=row.cashback_geracao_tipo if row.cashback_geracao_ativo else None,
        cashback_value=row.cashback_geracao_valor if row.cashback_geracao_ativo else None,
        cashback_expiry=_period(
            row.cashback_geracao_expiracao_valor, row.cashback_geracao_expiracao_medida
        ),
        time_in_segment=_period(
            row.gatilho_tempo_permanencia_valor, row.gatilho_tempo_permanencia_medida
        ),
        notice=_period(
            row.gatilho_cashback_expirando_antecedencia_valor,
            row.gatilho_cashback_expirando_antecedencia_medida,
        ),
        recurrence_type=row.recorrencia_tipo,
        recurrence_interval=row.recorrencia_intervalo,
        recurrence_weekdays=tuple(row.recorrencia_dias_semana or ()) or None,
        recurrence_month_days=tuple(row.recorrencia_dias_mes or ()) or None,
        recurrence_start=row.recorrencia_data_inicio or row.data_insercao.date(),
        marketing=row.template_categoria in (None, MARKETING),
    )


# The day's valid sales with a client, each placed in the client's whole history of valid
# sales (position and running total), with when the sync first saw it.
PURCHASES = f"""
WITH day_sales AS (
    SELECT id, cliente_id FROM sales
    WHERE organizacao_id = :org AND data_referencia = :day AND valida AND cliente_id IS NOT NULL
),
history AS (
    SELECT h.id,
           row_number() OVER w AS posicao,
           sum(h.valor_total) OVER w AS total_acumulado
    FROM sales h
    WHERE h.organizacao_id = :org AND h.valida AND h.cliente_id IN (SELECT cliente_id FROM day_sales)
    WINDOW w AS (PARTITION BY h.cliente_id ORDER BY {sale_order("h")}
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
SELECT s.id, s.validade_revisao, s.conteudo_revisao, s.cliente_id, s.valor_total, s.data_venda,
       s.data_insercao, s.vendedor_nome, h.posicao, h.total_acumulado, c.analise_rfm_titulo,
       t.valor AS cashback_acumulado, t.saldo_valor_posterior AS cashback_saldo_apos
FROM day_sales d
JOIN sales s ON s.id = d.id
JOIN history h ON h.id = d.id
JOIN clients c ON c.id = s.cliente_id
LEFT JOIN cashback_program_transactions t
  ON t.organizacao_id = :org AND t.venda_id = s.id AND t.cliente_id = s.cliente_id
 AND t.tipo = 'ACÚMULO' AND t.campanha_id IS NULL AND t.metadados->>'ator' = 'COMPRADOR'
 AND t.venda_revisao = s.validade_revisao
 -- The live accrual: an edited sale's older ones were reversed (revision 0 may be NULL).
 AND COALESCE(t.venda_conteudo_revisao, 0) = s.conteudo_revisao
ORDER BY {sale_order("s")}
"""


def day_purchases(conn: sa.Connection, org_id: str, day: date) -> list[tuple[Purchase, datetime]]:
    """(purchase, first seen) for the org x day's valid sales with a client."""
    # Rows unpacked in PURCHASES' column order: reading a day's rows by column name costs
    # more than building the purchases.
    rows = conn.execute(sa.text(PURCHASES), {"org": org_id, "day": day})
    return [
        (
            Purchase(
                sale_id=sale_id,
                sale_revision=revision,
                sale_content_revision=content_revision,
                client_id=client_id,
                value=value,
                time=sold_at,
                position=position,
                running_total=running_total,
                rfm_title=rfm_title,
                seller_name=None if seller == "N/A" else seller,
                cashback_accrued=accrued,
                cashback_balance_after=balance_after,
            ),
            first_seen,
        )
        for (
            sale_id,
            revision,
            content_revision,
            client_id,
            value,
            sold_at,
            first_seen,
            seller,
            position,
            running_total,
            rfm_title,
            accrued,
            balance_after,
        ) in rows
    ]


def existing_keys(conn: sa.Connection, org_id: str, keys: Sequence[str]) -> set[str]:
    if not keys:
        return set()
    # `%(keys)b`: the day's ~30,000 keys go as a binary array, several times faster to send
    # than psycopg's text form of a list.
    rows = conn.exec_driver_sql(
        "SELECT chave_idempotencia FROM interactions"
        " WHERE organizacao_id = %(org)s AND chave_idempotencia = ANY(%(keys)b)",
        {"org": org_id, "keys": list(keys)},
    ).scalars()
    return set(rows)


def interaction_history(
    conn: sa.Connection, org_id: str, client_ids: Sequence[Any], timezone: ZoneInfo
) -> list[PastInteraction]:
    """The clients' interactions that count for frequency and the daily cap: every one not
    skipped or cancelled, at the time of the event that triggered it."""
    if not client_ids:
        return []
    rows = conn.execute(
        sa.text(
            """
            SELECT campanha_id, cliente_id,
                   COALESCE((metadados->>'dataGatilho')::timestamptz, data_insercao) AS momento
            FROM interactions
            WHERE organizacao_id = :org AND cliente_id = ANY(:clients)
              AND status_envio IS DISTINCT FROM 'IGNORADO'
            """
        ),
        {"org": org_id, "clients": list(client_ids)},
    ).all()
    return [
        PastInteraction(
            campaign_id=row.campanha_id,
            client_id=row.cliente_id,
            trigger_time=row.momento,
            local_day=row.momento.astimezone(timezone).date(),
        )
        for row in rows
    ]


def balances(
    conn: sa.Connection, org_id: str, client_ids: Sequence[Any]
) -> dict[Any, tuple[Decimal, Decimal]]:
    """Cashback available and lifetime accrued per client, in the organization's active program."""
    if not client_ids:
        return {}
    rows = conn.execute(
        sa.text(
            """
            SELECT b.cliente_id, b.saldo_valor_disponivel, b.saldo_valor_acumulado_total
            FROM cashback_program_balances b
            JOIN cashback_programs p ON p.id = b.programa_id AND p.ativo
            WHERE b.organizacao_id = :org AND b.cliente_id = ANY(:clients)
            """
        ),
        {"org": org_id, "clients": list(client_ids)},
    ).all()
    return {
        row.cliente_id: (row.saldo_valor_disponivel, row.saldo_valor_acumulado_total)
        for row in rows
    }


INTERACTION_COLUMNS = (
    "id", "organizacao_id", "cliente_id", "campanha_id", "venda_id", "tipo", "titulo",
    "descricao", "agendamento_data_referencia", "agendamento_bloco_referencia", "metadados",
    "chave_idempotencia", "status_envio", "erro_codigo", "erro_envio",
    "envio_proxima_tentativa_data", "whatsapp_template_id",
)  # fmt: skip
KEY_CONSTRAINT = "uq_interactions_organizacao_id_chave_idempotencia"
# The columns later steps of the run filter and join interactions on (attribution, dispatch,
# checks): their statistics, not those of the texts and the template context.
ANALYZED_COLUMNS = (
    "interactions (organizacao_id, cliente_id, venda_id, tipo, status_envio, data_execucao)"
)


class InteractionConflict(RuntimeError):
    """An interaction's idempotency key appeared between the check and the write: someone
    wrote interactions without the organization lock. The transaction is rolled back."""


def insert_interactions(
    conn: sa.Connection,
    org_id: str,
    decisions: Sequence[Decision],
    timezone: ZoneInfo,
    now: datetime,
    balances_by_client: dict[Any, tuple[Decimal, Decimal]],
) -> list[tuple[Any, Decision]]:
    """Insert one interaction per decision (skips included, with their reason); returns the
    (interaction id, decision) pairs, in order.

    The caller holds the organization lock and dropped the candidates whose key exists, so
    every row is new and goes straight in by COPY, streamed while the rows are built.
    """
    if not decisions:
        return []
    templates = dict(
        conn.execute(
            sa.text("SELECT id, whatsapp_template_id FROM campaigns WHERE organizacao_id = :org"),
            {"org": org_id},
        ).all()
    )
    inserted: list[tuple[Any, Decision]] = []

    def rows():
        for decision in decisions:
            campaign, purchase = decision.campaign, decision.purchase
            send_day, block = schedule(campaign, purchase.time, timezone)
            send_at = (
                now
                if block is None
                else datetime.combine(send_day, time.fromisoformat(block), tzinfo=timezone)
            )
            available, lifetime = balances_by_client.get(
                purchase.client_id, (Decimal("0.00"), Decimal("0.00"))
            )
            if isinstance(purchase, Trigger):
                title = purchase.title.format(title=campaign.title)
                context = trigger_context(purchase, available, lifetime)
            else:
                title = CAMPAIGN_MESSAGE_TITLE.format(title=campaign.title)
                context = purchase_context(purchase, available, lifetime)
            interaction_id = uuid4()
            inserted.append((interaction_id, decision))
            yield (
                interaction_id, org_id, purchase.client_id, campaign.id, purchase.sale_id,
                InteractionType.MESSAGE, title, campaign.trigger, send_day, block, context,
                idempotency_key(campaign, purchase),
                SendStatus.SKIPPED if decision.skip_reason else SendStatus.PENDING,
                decision.skip_reason, decision.skip_reason and decision.skip_reason.description,
                None if decision.skip_reason else send_at, templates.get(campaign.id),
            )  # fmt: skip

    copy_new_rows(
        conn,
        "interactions",
        INTERACTION_COLUMNS,
        rows(),
        unique_key=KEY_CONSTRAINT,
        conflict=InteractionConflict(
            f"organization {org_id}: an interaction's idempotency key already existed when "
            "written; rolled back"
        ),
        json_columns=("metadados",),
    )
    analyze_after_bulk_write(conn, len(inserted), ANALYZED_COLUMNS)
    return inserted


def trigger_context(
    trigger: Trigger, balance_available: Decimal, balance_lifetime: Decimal
) -> dict[str, Any]:
    """A daily trigger's `metadados`: the balances, its own context, and its time."""
    return {
        "cashbackSaldoDisponivel": str(balance_available),
        "cashbackTotalAcumuladoVida": str(balance_lifetime),
        **trigger.context,
        "dataGatilho": trigger.time.isoformat(),
    }


def cancel_interactions_of_cancelled_sales(conn: sa.Connection, org_id: str, day: date) -> int:
    """A cancelled (or removed) sale withdraws its own unsent interactions - and nobody else's."""
    return conn.execute(
        sa.text(
            """
            UPDATE interactions i
               SET status_envio = 'IGNORADO',
                   erro_codigo = CASE WHEN s.data_remocao IS NULL THEN :code ELSE :removed_code END,
                   erro_envio = CASE WHEN s.data_remocao IS NULL THEN :reason ELSE :removed END,
                   data_atualizacao = now()
              FROM sales s
             WHERE s.organizacao_id = :org AND s.data_referencia = :day AND s.cancelada
               AND i.organizacao_id = :org AND i.venda_id = s.id AND i.status_envio = 'PENDENTE'
            """
        ),
        {
            "org": org_id,
            "day": day,
            "code": SkipReason.SALE_CANCELLED,
            "reason": SkipReason.SALE_CANCELLED.description,
            "removed_code": SkipReason.SALE_REMOVED,
            "removed": SkipReason.SALE_REMOVED.description,
        },
    ).rowcount


def unsent_sale_interactions(conn: sa.Connection, org_id: str, day: date) -> list:
    """The unsent interactions triggered by the day's valid sales: (id, campaign, client, sale)."""
    return conn.execute(
        sa.text(
            """
            SELECT i.id, i.campanha_id, i.cliente_id, i.venda_id
            FROM interactions i
            JOIN sales s ON s.organizacao_id = i.organizacao_id AND s.id = i.venda_id
            WHERE i.organizacao_id = :org AND s.data_referencia = :day AND s.valida
              AND i.status_envio = 'PENDENTE'
            ORDER BY i.id
            """
        ),
        {"org": org_id, "day": day},
    ).all()


def withdraw(
    conn: sa.Connection, org_id: str, interaction_ids: Sequence[Any], code: SkipReason
) -> int:
    """Unsent interactions that must not go out any more: IGNORADO, with the reason."""
    if not interaction_ids:
        return 0
    return conn.execute(
        sa.text(
            """
            UPDATE interactions SET status_envio = 'IGNORADO', erro_codigo = :code,
                   erro_envio = :reason, data_atualizacao = now()
            WHERE organizacao_id = :org AND id = ANY(:ids) AND status_envio = 'PENDENTE'
            """
        ),
        {"org": org_id, "ids": list(interaction_ids), "code": code, "reason": code.description},
    ).rowcount
