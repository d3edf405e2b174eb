"""WhatsApp: the organization's connections, its message templates, the chats, and what
WhatsApp reports back (status and message webhooks, consent).

A Cloud API connection is one business phone number (``whatsapp_telefone_id``, the Graph
API's phone-number id) of a WhatsApp Business Account; its ``token`` is a **secret**: read it
only to call the Graph API, never log it, put it in run metadata, an error or a raw extract.
An internal-gateway connection is a session of the company's gateway (``gateway_url``,
``gateway_sessao_id``); its secret is not stored at all, only the name of the environment
variable that holds it (``gateway_segredo_env``), read when sending. A template is registered per organization by (name, language) and records
how its body parameters are filled: ``parametros`` is a JSON list, in body order, of
``{"nome": <Meta parameter name, NULL for positional templates>, "identificador":
<variable key, one of domain.vocabulary.TemplateVariable>}``, which lets a send be validated against the
template before it leaves (docs/whatsapp.md#what-meta-rejects-and-how-we-avoid-it).

Chats and chat messages are the conversation record shown by the CRM's service hub
(docs/whatsapp.md#the-service-hubs-chats): one chat per (connection, client number), one message per
interaction sent.
"""

from __future__ import annotations

import sqlalchemy as sa

from recompra_pipelines.db.tables.base import (
    JSONB,
    checked_enum,
    id_column,
    inserted_at_column,
    metadata,
    organization_column,
    updated_at_column,
)
from recompra_pipelines.domain.vocabulary import (
    MessageAuthorType,
    MessageContentType,
    MessageStatus,
    TemplateCategory,
    TemplateHeaderType,
    TemplateParameterFormat,
    TemplateStatus,
)
from recompra_pipelines.domain.whatsapp_delivery import WebhookEventKind
from recompra_pipelines.domain.whatsapp_dispatch import ConnectionType

Timestamp = sa.DateTime(timezone=True)

whatsapp_connections = sa.Table(
    "whatsapp_connections",
    metadata,
    id_column(),
    organization_column(),
    sa.Column(
        "tipo",
        checked_enum("tipo", ConnectionType),
        nullable=False,
        server_default=ConnectionType.CLOUD_API.value,
    ),
    # Cloud API: the phone-number id, its WhatsApp Business Account (WABA) and the token.
    sa.Column("whatsapp_telefone_id", sa.Text, nullable=True),
    sa.Column("whatsapp_conta_id", sa.Text, nullable=True),
    sa.Column(
        "token",
        sa.Text,
        nullable=True,
        comment="SECRET: Graph API access token. Never log or copy it.",
    ),
    # Or the name of the environment variable holding the token, read when sending: a token
    # given by reference never reaches the database (recompra_pipelines.credentials).
    sa.Column("token_env", sa.Text, nullable=True),
    # Internal gateway: base URL, session, and the NAME of the variable holding its secret.
    sa.Column("gateway_url", sa.Text, nullable=True),
    sa.Column("gateway_sessao_id", sa.Text, nullable=True),
    sa.Column("gateway_segredo_env", sa.Text, nullable=True),
    sa.Column("ativo", sa.Boolean, nullable=False, server_default=sa.text("true")),
    # Circuit breaker: sends in a row that got no answer, a 5xx or no connection; past the
    # limit, nothing is sent through the number until envio_suspenso_ate (messaging.breaker).
    sa.Column("envio_falhas_consecutivas", sa.Integer, nullable=False, server_default="0"),
    sa.Column("envio_suspenso_ate", Timestamp, nullable=True),
    inserted_at_column(),
    updated_at_column(),
    sa.CheckConstraint(
        f"(tipo = '{ConnectionType.CLOUD_API.value}' AND whatsapp_telefone_id IS NOT NULL"
        " AND whatsapp_conta_id IS NOT NULL AND (token IS NOT NULL OR token_env IS NOT NULL))"
        f" OR (tipo = '{ConnectionType.INTERNAL_GATEWAY.value}' AND gateway_url IS NOT NULL"
        " AND gateway_sessao_id IS NOT NULL AND gateway_segredo_env IS NOT NULL)",
        name="campos_do_tipo",
    ),
    sa.UniqueConstraint("organizacao_id", "whatsapp_telefone_id"),
    sa.UniqueConstraint("organizacao_id", "gateway_sessao_id"),
    # Status webhooks arrive addressed to a phone-number id, not to an organization.
    sa.Index("ix_whatsapp_connections_whatsapp_telefone_id", "whatsapp_telefone_id"),
)

whatsapp_templates = sa.Table(
    "whatsapp_templates",
    metadata,
    id_column(),
    organization_column(),
    sa.Column("nome", sa.Text, nullable=False),
    # Meta language code, e.g. pt_BR: sent as-is (the old code always sent pt_BR).
    sa.Column("idioma", sa.Text, nullable=False),
    sa.Column(
        "categoria",
        checked_enum("categoria", TemplateCategory),
        nullable=False,
        server_default=TemplateCategory.MARKETING.value,
    ),
    sa.Column(
        "parametros_formato",
        checked_enum("parametros_formato", TemplateParameterFormat),
        nullable=False,
    ),
    sa.Column("parametros", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    # NULL: no header, or a text header without parameters (nothing to send for it).
    sa.Column("cabecalho_tipo", checked_enum("cabecalho_tipo", TemplateHeaderType), nullable=True),
    sa.Column("cabecalho_midia_url", sa.Text, nullable=True),
    # The body as registered with Meta ({{1}} or {{name}} placeholders); rendered for chats.
    sa.Column("corpo_texto", sa.Text, nullable=False),
    sa.Column("status", checked_enum("status", TemplateStatus), nullable=False),
    inserted_at_column(),
    updated_at_column(),
    sa.CheckConstraint(
        "(cabecalho_tipo IS NULL) = (cabecalho_midia_url IS NULL)", name="cabecalho_midia"
    ),
    sa.CheckConstraint("jsonb_typeof(parametros) = 'array'", name="parametros_lista"),
    sa.UniqueConstraint("organizacao_id", "nome", "idioma"),
)

chats = sa.Table(
    "chats",
    metadata,
    id_column(),
    organization_column(),
    sa.Column(
        "whatsapp_conexao_id", sa.Uuid, sa.ForeignKey("whatsapp_connections.id"), nullable=False
    ),
    # The client's WhatsApp number, digits only with country code (the `to` / wa_id).
    sa.Column("whatsapp_telefone", sa.Text, nullable=False),
    sa.Column("cliente_id", sa.Uuid, sa.ForeignKey("clients.id"), nullable=True),
    sa.Column("ultima_mensagem_data", Timestamp, nullable=True),
    sa.Column(
        "ultima_mensagem_conteudo_tipo",
        checked_enum("ultima_mensagem_conteudo_tipo", MessageContentType),
        nullable=True,
    ),
    sa.Column("ultima_mensagem_conteudo_texto", sa.Text, nullable=True),
    inserted_at_column(),
    updated_at_column(),
    sa.UniqueConstraint("organizacao_id", "whatsapp_conexao_id", "whatsapp_telefone"),
    sa.Index("ix_chats_cliente_id", "cliente_id"),
)

chat_messages = sa.Table(
    "chat_messages",
    metadata,
    id_column(),
    organization_column(),
    sa.Column("chat_id", sa.Uuid, sa.ForeignKey("chats.id", ondelete="CASCADE"), nullable=False),
    # The campaign interaction this message delivers (NULL for conversation messages).
    sa.Column("interacao_id", sa.Uuid, sa.ForeignKey("interactions.id"), nullable=True),
    sa.Column("autor_tipo", checked_enum("autor_tipo", MessageAuthorType), nullable=False),
    sa.Column(
        "conteudo_tipo",
        checked_enum("conteudo_tipo", MessageContentType),
        nullable=False,
        server_default=MessageContentType.TEXT.value,
    ),
    sa.Column("conteudo_texto", sa.Text, nullable=True),
    sa.Column("conteudo_midia_url", sa.Text, nullable=True),
    sa.Column(
        "whatsapp_template_id", sa.Uuid, sa.ForeignKey("whatsapp_templates.id"), nullable=True
    ),
    sa.Column("whatsapp_message_id", sa.Text, nullable=True),
    sa.Column(
        "status",
        checked_enum("status", MessageStatus),
        nullable=False,
        server_default=MessageStatus.PENDING.value,
    ),
    # A campaign message follows its interaction's delivery (status webhooks).
    sa.Column("data_entrega", Timestamp, nullable=True),
    sa.Column("data_leitura", Timestamp, nullable=True),
    sa.Column("data_falha", Timestamp, nullable=True),
    sa.Column("erro_codigo", sa.Text, nullable=True),
    sa.Column("erro_descricao", sa.Text, nullable=True),
    inserted_at_column(),
    updated_at_column(),
    # A retried send never writes a second message for the same interaction.
    sa.UniqueConstraint("organizacao_id", "interacao_id"),
    # A customer's message delivered again by Meta is recorded once.
    sa.Index(
        "uq_chat_messages_recebidas",
        "organizacao_id",
        "whatsapp_message_id",
        unique=True,
        postgresql_where=sa.text("interacao_id IS NULL AND whatsapp_message_id IS NOT NULL"),
    ),
    sa.Index("ix_chat_messages_chat", "chat_id", "data_insercao"),
    sa.Index(
        "ix_chat_messages_whatsapp_message_id",
        "whatsapp_message_id",
        postgresql_where=sa.text("whatsapp_message_id IS NOT NULL"),
    ),
)

# WhatsApp throughput limits shared by every dispatcher (docs/whatsapp.md#throughput-limits), as
# GCRA "theoretical arrival times": one row per phone-number id (``destinatario = ''``: at most N
# messages a second) and one per (phone-number id, recipient) (1 message per 6 s, Meta's pair rate).
# A dispatcher takes a slot with one atomic upsert, so parallel runs and processes never exceed the
# limits together.
whatsapp_send_limits = sa.Table(
    "whatsapp_limites_envio",
    metadata,
    id_column(),
    organization_column(),
    sa.Column("whatsapp_telefone_id", sa.Text, nullable=False),
    # The recipient's digits (the `to`), or '' for the number-wide limit.
    sa.Column("destinatario", sa.Text, nullable=False),
    # The next moment a message may go out under this limit.
    sa.Column("proxima_liberacao_data", Timestamp, nullable=False),
    sa.UniqueConstraint(
        "organizacao_id",
        "whatsapp_telefone_id",
        "destinatario",
        name="uq_whatsapp_limites_envio_chave",
    ),
)

# Every webhook POST that passed the signature check, byte for byte, before anything is parsed
# from it: what Meta sent can always be read again. A POST is addressed to the app, not to an
# organization (one body can carry entries of several business accounts), so this inbox has
# no organizacao_id; its events below are attributed to an organization when applied. Meta
# delivers again what was not acknowledged: an identical body is stored once (its hash).
whatsapp_webhooks = sa.Table(
    "whatsapp_webhooks",
    metadata,
    id_column(),
    sa.Column("corpo", sa.LargeBinary, nullable=False),
    sa.Column("corpo_sha256", sa.Text, nullable=False),
    sa.Column("eventos", sa.Integer, nullable=False),
    # Why the body is not a readable webhook (kept anyway); NULL when it was read.
    sa.Column("erro", sa.Text, nullable=True),
    sa.Column("recebido_em", Timestamp, nullable=False, server_default=sa.func.now()),
    sa.UniqueConstraint("corpo_sha256"),
)

# One row per status of a message we sent, or per message a customer sent, exactly once
# (``chave``: ``status:<wamid>:<status>`` / ``mensagem:<wamid>``), however often Meta delivers
# it. ``aplicado_em`` is set when the event has reached the CRM; an event whose message or
# number is unknown stays pending (NULL) and is applied when its message id appears (the send
# is recorded) or when Meta delivers it again.
whatsapp_events = sa.Table(
    "whatsapp_eventos",
    metadata,
    id_column(),
    sa.Column("chave", sa.Text, nullable=False),
    sa.Column("tipo", checked_enum("tipo", WebhookEventKind), nullable=False),
    sa.Column(
        "webhook_id",
        sa.Uuid,
        sa.ForeignKey("whatsapp_webhooks.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # The business number the event is about (metadata.phone_number_id).
    sa.Column("whatsapp_telefone_id", sa.Text, nullable=False),
    # The message: ours (status) or the customer's (message).
    sa.Column("whatsapp_message_id", sa.Text, nullable=False),
    # Meta's status as sent (sent, delivered, read, failed, …); NULL for messages.
    sa.Column("status", sa.Text, nullable=True),
    # Our interaction, from biz_opaque_callback_data (not a foreign key: it may not be ours).
    sa.Column("interacao_id", sa.Uuid, nullable=True),
    # The customer's WhatsApp id (recipient_id / from): digits with country code.
    sa.Column("telefone", sa.Text, nullable=True),
    sa.Column("evento_data", Timestamp, nullable=False),
    sa.Column("erro_codigo", sa.Text, nullable=True),
    sa.Column("erro_titulo", sa.Text, nullable=True),
    sa.Column("conteudo", JSONB, nullable=False),
    # The organization it was applied to; NULL while pending.
    sa.Column(
        "organizacao_id",
        sa.Text,
        sa.ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=True,
    ),
    sa.Column("aplicado_em", Timestamp, nullable=True),
    inserted_at_column(),
    sa.UniqueConstraint("chave"),
    sa.Index("ix_whatsapp_eventos_webhook_id", "webhook_id"),
    sa.Index(
        "ix_whatsapp_eventos_pendentes",
        "whatsapp_message_id",
        postgresql_where=sa.text("aplicado_em IS NULL"),
    ),
)

# What WhatsApp told us about one phone in one organization: the customer's consent (opt-out
# by keyword, opt-in reverses it; the latest message wins) and whether Meta reported the number
# undeliverable (131026) and since when. Phones are E.164 as in clients.telefone_e164.
whatsapp_contacts = sa.Table(
    "whatsapp_contatos",
    metadata,
    id_column(),
    organization_column(),
    sa.Column("telefone_e164", sa.Text, nullable=False),
    sa.Column("descadastrado", sa.Boolean, nullable=False, server_default=sa.false()),
    # The message that decided the consent: when it was sent, its id and the keyword.
    sa.Column("consentimento_data", Timestamp, nullable=True),
    sa.Column("consentimento_mensagem_id", sa.Text, nullable=True),
    sa.Column("consentimento_palavra", sa.Text, nullable=True),
    sa.Column("inalcancavel_desde", Timestamp, nullable=True),
    inserted_at_column(),
    updated_at_column(),
    sa.UniqueConstraint("organizacao_id", "telefone_e164"),
)
