"""Campaigns, who they target, the interactions they create, and the sales they convert.

A campaign fires on a trigger (docs/business-rules.md#campaign-triggers) for clients in its RFM
segmentations, subject to its frequency rules, and creates one ``interactions`` row per (campaign,
client, trigger event) — the row's ``chave_idempotencia`` (e.g.
``<campaign>:<client>:venda:<sale>:<rev>``) makes re-evaluating a trigger create nothing new. The
interaction is also the WhatsApp outbox entry (docs/whatsapp.md#the-outbox): it is committed
PENDENTE before any HTTP call, claimed (ENVIANDO), then ENVIADO with the ``whatsapp_message_id``,
FALHOU with an error code, or IGNORADO with the reason; status webhooks later move it to ENTREGUE /
LIDO (or FALHOU with Meta's error code), never backwards.
``campaign_conversions`` holds at most one attribution per sale (last touch,
docs/business-rules.md#attribution).

``agendamento_data_referencia`` is a DATE (the old schema kept ``YYYY-MM-DD`` text): it is the
business day in the organization's timezone, and as a date it sorts, compares and indexes
correctly, so the dispatcher can catch up every missed (date, block) with a range query
instead of the old exact-match that lost whatever it missed
(docs/decisions.md#d-19-scheduling-dates-are-organization-local-and-missed-blocks-are-caught-up).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from recompra_pipelines.db.tables.base import (
    JSONB,
    Money,
    checked_enum,
    id_column,
    inserted_at_column,
    metadata,
    organization_column,
    updated_at_column,
)
from recompra_pipelines.domain.campaign_triggers import RECURRENT, trigger_kinds
from recompra_pipelines.domain.segments import RfmSegment
from recompra_pipelines.domain.vocabulary import (
    AmountType,
    AttributionModel,
    ConversionType,
    InteractionType,
    RecurrenceType,
    ScheduleBlock,
    SendStatus,
    TimeUnit,
)

Timestamp = sa.DateTime(timezone=True)

_WEEKDAYS = "ARRAY[0,1,2,3,4,5,6]::smallint[]"
_MONTH_DAYS = "ARRAY[" + ",".join(str(day) for day in range(1, 32)) + "]::smallint[]"

campaigns = sa.Table(
    "campaigns",
    metadata,
    id_column(),
    organization_column(),
    # Stable slug of a campaign declared in an org file: what `org apply` upserts on.
    # NULL for campaigns created elsewhere.
    sa.Column("chave", sa.Text, nullable=True),
    sa.Column("titulo", sa.Text, nullable=False),
    sa.Column("descricao", sa.Text, nullable=True),
    sa.Column("ativo", sa.Boolean, nullable=False, server_default=sa.text("true")),
    # The schema's CHECK alone judges a trigger type: the registry is read here at import,
    # and a trigger registered later (the registry's tests do) is then the migration's call.
    sa.Column(
        "gatilho_tipo",
        checked_enum("gatilho_tipo", trigger_kinds(), check_in_python=False),
        nullable=False,
    ),
    # Trigger thresholds; each applies to one trigger type and is NULL otherwise.
    sa.Column("gatilho_nova_compra_valor_minimo", Money, nullable=True),
    sa.Column("gatilho_quantidade_total_compras", sa.Integer, nullable=True),
    sa.Column("gatilho_valor_total_compras", Money, nullable=True),
    sa.Column("gatilho_novo_cashback_acumulado_valor_minimo", Money, nullable=True),
    sa.Column("gatilho_total_cashback_acumulado_valor_minimo", Money, nullable=True),
    sa.Column("gatilho_tempo_permanencia_valor", sa.Integer, nullable=True),
    sa.Column(
        "gatilho_tempo_permanencia_medida",
        checked_enum("gatilho_tempo_permanencia_medida", TimeUnit),
        nullable=True,
    ),
    # CASHBACK-EXPIRANDO: how long before expiry to warn (NULL: 3 DIAS, the old CRM's default).
    sa.Column("gatilho_cashback_expirando_antecedencia_valor", sa.Integer, nullable=True),
    sa.Column(
        "gatilho_cashback_expirando_antecedencia_medida",
        checked_enum("gatilho_cashback_expirando_antecedencia_medida", TimeUnit),
        nullable=True,
    ),
    # Frequency (docs/business-rules.md#frequency): no recurrence = once ever per client; else at
    # most once per interval (0 = no cap).
    sa.Column("permitir_recorrencia", sa.Boolean, nullable=False, server_default=sa.text("true")),
    sa.Column("frequencia_intervalo_valor", sa.Integer, nullable=False, server_default="0"),
    sa.Column(
        "frequencia_intervalo_medida",
        checked_enum("frequencia_intervalo_medida", TimeUnit),
        nullable=True,
    ),
    # Scheduling: 0 = send now; else that many units later, in the given block.
    sa.Column("execucao_agendada_valor", sa.Integer, nullable=False, server_default="0"),
    sa.Column(
        "execucao_agendada_medida",
        checked_enum("execucao_agendada_medida", TimeUnit),
        nullable=True,
    ),
    sa.Column(
        "execucao_agendada_bloco",
        checked_enum("execucao_agendada_bloco", ScheduleBlock),
        nullable=True,
    ),
    # Campaign-generated cashback (docs/business-rules.md#campaign-cashback); NULL expiry: 30 days.
    sa.Column(
        "cashback_geracao_ativo", sa.Boolean, nullable=False, server_default=sa.text("false")
    ),
    sa.Column(
        "cashback_geracao_tipo", checked_enum("cashback_geracao_tipo", AmountType), nullable=True
    ),
    sa.Column("cashback_geracao_valor", Money, nullable=True),
    sa.Column("cashback_geracao_expiracao_valor", sa.Integer, nullable=True),
    sa.Column(
        "cashback_geracao_expiracao_medida",
        checked_enum("cashback_geracao_expiracao_medida", TimeUnit),
        nullable=True,
    ),
    sa.Column("atribuicao_janela_dias", sa.Integer, nullable=False, server_default="14"),
    sa.Column(
        "whatsapp_conexao_id", sa.Uuid, sa.ForeignKey("whatsapp_connections.id"), nullable=True
    ),
    sa.Column(
        "whatsapp_template_id", sa.Uuid, sa.ForeignKey("whatsapp_templates.id"), nullable=True
    ),
    # RECORRENTE: every `intervalo` days / weeks / months from the start date,
    # on the listed weekdays (0 = Sunday) or days of the month, in the scheduling block.
    sa.Column("recorrencia_tipo", checked_enum("recorrencia_tipo", RecurrenceType), nullable=True),
    sa.Column("recorrencia_intervalo", sa.Integer, nullable=True),
    sa.Column("recorrencia_dias_semana", postgresql.ARRAY(sa.SmallInteger), nullable=True),
    sa.Column("recorrencia_dias_mes", postgresql.ARRAY(sa.SmallInteger), nullable=True),
    sa.Column("recorrencia_data_inicio", sa.Date, nullable=True),
    inserted_at_column(),
    updated_at_column(),
    sa.CheckConstraint(
        "gatilho_nova_compra_valor_minimo >= 0 AND gatilho_valor_total_compras >= 0"
        " AND gatilho_novo_cashback_acumulado_valor_minimo >= 0"
        " AND gatilho_total_cashback_acumulado_valor_minimo >= 0"
        " AND cashback_geracao_valor >= 0",
        name="valores_nao_negativos",
    ),
    sa.CheckConstraint(
        "gatilho_quantidade_total_compras > 0 AND gatilho_tempo_permanencia_valor > 0"
        " AND gatilho_cashback_expirando_antecedencia_valor > 0",
        name="gatilho_quantidades_positivas",
    ),
    sa.CheckConstraint(
        "frequencia_intervalo_valor >= 0"
        " AND (frequencia_intervalo_valor = 0 OR frequencia_intervalo_medida IS NOT NULL)",
        name="frequencia",
    ),
    sa.CheckConstraint(
        "execucao_agendada_valor >= 0 AND (execucao_agendada_valor = 0"
        " OR (execucao_agendada_medida IS NOT NULL AND execucao_agendada_bloco IS NOT NULL))",
        name="agendamento",
    ),
    sa.CheckConstraint(
        "NOT cashback_geracao_ativo"
        " OR (cashback_geracao_tipo IS NOT NULL AND cashback_geracao_valor IS NOT NULL)",
        name="cashback_geracao_completo",
    ),
    sa.CheckConstraint(
        f"cashback_geracao_tipo IS DISTINCT FROM '{AmountType.PERCENT}'"
        " OR cashback_geracao_valor <= 100",
        name="cashback_geracao_percentual_ate_100",
    ),
    sa.CheckConstraint(
        "(cashback_geracao_expiracao_valor IS NULL) = (cashback_geracao_expiracao_medida IS NULL)"
        " AND cashback_geracao_expiracao_valor > 0",
        name="cashback_geracao_expiracao",
    ),
    sa.CheckConstraint("atribuicao_janela_dias > 0", name="atribuicao_janela_positiva"),
    sa.CheckConstraint(
        f"(gatilho_tipo = '{RECURRENT.kind}') = (recorrencia_tipo IS NOT NULL)"
        " AND (recorrencia_tipo IS NULL"
        " OR (recorrencia_intervalo IS NOT NULL AND execucao_agendada_bloco IS NOT NULL))"
        " AND recorrencia_intervalo > 0"
        f" AND recorrencia_dias_semana <@ {_WEEKDAYS}"
        f" AND recorrencia_dias_mes <@ {_MONTH_DAYS}",
        name="recorrencia",
    ),
    sa.UniqueConstraint("organizacao_id", "chave"),
    sa.Index(
        "ix_campaigns_ativas_por_gatilho",
        "organizacao_id",
        "gatilho_tipo",
        postgresql_where=sa.text("ativo"),
    ),
    sa.Index("ix_campaigns_whatsapp_template_id", "whatsapp_template_id"),
    sa.Index("ix_campaigns_whatsapp_conexao_id", "whatsapp_conexao_id"),
)

# The RFM segments a campaign targets (matched exactly against clients.analise_rfm_titulo).
campaign_segmentations = sa.Table(
    "campaign_segmentations",
    metadata,
    id_column(),
    organization_column(),
    sa.Column(
        "campanha_id", sa.Uuid, sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("segmentacao", checked_enum("segmentacao", RfmSegment), nullable=False),
    inserted_at_column(),
    sa.UniqueConstraint(
        "organizacao_id",
        "campanha_id",
        "segmentacao",
        name="uq_campaign_segmentations_segmentacao",
    ),
    sa.Index("ix_campaign_segmentations_campanha_id", "campanha_id"),
)

interactions = sa.Table(
    "interactions",
    metadata,
    id_column(),
    organization_column(),
    sa.Column("cliente_id", sa.Uuid, sa.ForeignKey("clients.id"), nullable=False),
    sa.Column("campanha_id", sa.Uuid, sa.ForeignKey("campaigns.id"), nullable=True),
    # The sale that triggered it, if any.
    sa.Column("venda_id", sa.Uuid, sa.ForeignKey("sales.id"), nullable=True),
    sa.Column(
        "tipo",
        checked_enum("tipo", InteractionType),
        nullable=False,
        server_default=InteractionType.MESSAGE.value,
    ),
    sa.Column("titulo", sa.Text, nullable=False),
    sa.Column("descricao", sa.Text, nullable=True),
    # When to send: business day in the organization's timezone, and its 3-hour block.
    sa.Column("agendamento_data_referencia", sa.Date, nullable=True),
    sa.Column(
        "agendamento_bloco_referencia",
        checked_enum("agendamento_bloco_referencia", ScheduleBlock),
        nullable=True,
    ),
    # Trigger context that feeds template variables (docs/business-rules.md#interaction-context);
    # never overwritten by sending.
    sa.Column("metadados", JSONB, nullable=True),
    sa.Column("chave_idempotencia", sa.Text, nullable=False),
    # Outbox state (docs/whatsapp.md#the-outbox); webhooks only move it forward.
    sa.Column(
        "status_envio",
        checked_enum("status_envio", SendStatus),
        nullable=True,
        server_default=SendStatus.PENDING.value,
    ),
    # Earliest moment the dispatcher may (re)try: the scheduled instant, then backoff.
    sa.Column("envio_proxima_tentativa_data", Timestamp, nullable=True),
    sa.Column("envio_tentativas", sa.Integer, nullable=False, server_default="0"),
    # Set when a dispatcher claims the row (ENVIANDO); a stale claim is a stuck send.
    sa.Column("envio_reservado_data", Timestamp, nullable=True),
    # Set, under the claim, just before the request leaves: a claim without it was never
    # attempted, and is released after a bound when its dispatcher died (messaging.outbox).
    sa.Column("envio_tentativa_iniciada_data", Timestamp, nullable=True),
    sa.Column("whatsapp_message_id", sa.Text, nullable=True),
    sa.Column(
        "whatsapp_template_id", sa.Uuid, sa.ForeignKey("whatsapp_templates.id"), nullable=True
    ),
    # Graph error code (e.g. 131026) or our reason (e.g. SEM_TELEFONE) for FALHOU / IGNORADO.
    sa.Column("erro_codigo", sa.Text, nullable=True),
    sa.Column("erro_envio", sa.Text, nullable=True),
    sa.Column("data_envio", Timestamp, nullable=True),
    # When the message was accepted by WhatsApp: the attribution clock starts here.
    sa.Column("data_execucao", Timestamp, nullable=True),
    # What the status webhooks reported, each the earliest report of its step.
    sa.Column("data_entrega", Timestamp, nullable=True),
    sa.Column("data_leitura", Timestamp, nullable=True),
    sa.Column("data_falha", Timestamp, nullable=True),
    inserted_at_column(),
    updated_at_column(),
    sa.CheckConstraint("envio_tentativas >= 0", name="envio_tentativas_nao_negativas"),
    sa.UniqueConstraint("organizacao_id", "chave_idempotencia"),
    # Frequency rules and attribution look up a client's interactions per campaign.
    sa.Index(
        "ix_interactions_cliente_campanha",
        "organizacao_id",
        "cliente_id",
        "campanha_id",
        "data_insercao",
    ),
    sa.Index("ix_interactions_campanha_id", "campanha_id"),
    sa.Index("ix_interactions_venda_id", "venda_id"),
    # The dispatcher's queue.
    sa.Index(
        "ix_interactions_envios_pendentes",
        "organizacao_id",
        "envio_proxima_tentativa_data",
        postgresql_where=sa.text(
            f"status_envio IN ('{SendStatus.PENDING}', '{SendStatus.SENDING}')"
        ),
    ),
    # Status webhooks find the interaction by the message id WhatsApp returned.
    sa.Index(
        "ix_interactions_whatsapp_message_id",
        "whatsapp_message_id",
        postgresql_where=sa.text("whatsapp_message_id IS NOT NULL"),
    ),
)

# One row per attributed sale: the interaction that gets the credit and a snapshot of the
# client's buying pattern at the time (docs/business-rules.md#attribution).
campaign_conversions = sa.Table(
    "campaign_conversions",
    metadata,
    id_column(),
    organization_column(),
    sa.Column("venda_id", sa.Uuid, sa.ForeignKey("sales.id"), nullable=False),
    sa.Column("interacao_id", sa.Uuid, sa.ForeignKey("interactions.id"), nullable=False),
    sa.Column("campanha_id", sa.Uuid, sa.ForeignKey("campaigns.id"), nullable=False),
    sa.Column("cliente_id", sa.Uuid, sa.ForeignKey("clients.id"), nullable=False),
    sa.Column(
        "atribuicao_modelo",
        checked_enum("atribuicao_modelo", AttributionModel),
        nullable=False,
        server_default=AttributionModel.LAST_TOUCH.value,
    ),
    sa.Column("atribuicao_peso", sa.Numeric(5, 4), nullable=False, server_default="1"),
    sa.Column("atribuicao_receita", Money, nullable=False),
    sa.Column("data_interacao", Timestamp, nullable=False),
    sa.Column("data_conversao", Timestamp, nullable=False),
    # Which rule placed the sale after the message: the sale's time as the ERP sent it (ERP),
    # only when the sync first saw it (CAPTURA: the sale happened by then, maybe earlier), or
    # only its day (DIA: messages sent before that day count). The sale's data_venda_precisao.
    sa.Column("data_conversao_precisao", sa.Text, nullable=True),
    sa.Column("tempo_para_conversao_minutos", sa.Integer, nullable=False),
    sa.Column("venda_valor", Money, nullable=False),
    sa.Column("tipo_conversao", checked_enum("tipo_conversao", ConversionType), nullable=False),
    # The client's history before this sale (NULL when there is none).
    sa.Column("compras_anteriores_quantidade", sa.Integer, nullable=False),
    sa.Column("ticket_medio", Money, nullable=True),
    sa.Column("ciclo_compra_dias", sa.Integer, nullable=True),
    sa.Column("ciclo_compra_confiavel", sa.Boolean, nullable=False),
    sa.Column("dias_desde_ultima_compra", sa.Integer, nullable=True),
    sa.Column("delta_frequencia", sa.Integer, nullable=True),
    sa.Column("delta_monetario_absoluto", Money, nullable=True),
    sa.Column("delta_monetario_percentual", sa.Numeric(12, 2), nullable=True),
    inserted_at_column(),
    updated_at_column(),
    sa.CheckConstraint(
        "atribuicao_peso > 0 AND atribuicao_peso <= 1 AND tempo_para_conversao_minutos >= 0",
        name="atribuicao_coerente",
    ),
    sa.UniqueConstraint("organizacao_id", "venda_id"),
    sa.Index("ix_campaign_conversions_campanha", "organizacao_id", "campanha_id", "data_conversao"),
    sa.Index("ix_campaign_conversions_interacao_id", "interacao_id"),
    sa.Index("ix_campaign_conversions_cliente_id", "cliente_id"),
)
