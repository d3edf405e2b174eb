"""WhatsApp: the organization's Cloud API connections, its message templates, and the chats.

A connection is one business phone number (``whatsapp_telefone_id``, the Graph API's
phone-number id) of a WhatsApp Business Account; its ``token`` is a **secret**: read it only
to call the Graph API, never log it, put it in run metadata, an error or a raw extract
(DESIGN §5.8). A template is registered per organization by (name, language) and records
how its body parameters are filled: ``parametros`` is a JSON list, in body order, of
``{"nome": <Meta parameter name, NULL for positional templates>, "identificador":
<variable key, one of TemplateVariable>}``, which lets a send be validated against the
template before it leaves (R-WA-4).

Chats and chat messages are the conversation record shown by the CRM's service hub
(facts §7.4): one chat per (connection, client number), one message per interaction sent.
"""

from __future__ import annotations

from typing import Literal

import sqlalchemy as sa

from recompra_pipelines.db.tables.base import (
    JSONB,
    id_column,
    inserted_at_column,
    metadata,
    organization_column,
    updated_at_column,
)
from recompra_pipelines.db.tables.cashback import checked_enum

Timestamp = sa.DateTime(timezone=True)

# Meta's own vocabularies keep Meta's spelling.
TemplateCategory = Literal["MARKETING", "UTILITY", "AUTHENTICATION"]
TemplateParameterFormat = Literal["POSITIONAL", "NAMED"]
TemplateHeaderType = Literal["IMAGE", "VIDEO", "DOCUMENT"]
TemplateStatus = Literal[
    "APPROVED",
    "PENDING",
    "REJECTED",
    "PAUSED",
    "DISABLED",
    "IN_APPEAL",
    "PENDING_DELETION",
    "DELETED",
    "LIMIT_EXCEEDED",
]
# The values a template parameter can be filled with (facts §7.3).
TemplateVariable = Literal[
    "clientName",
    "clientPhoneNumber",
    "clientEmail",
    "clientSegmentation",
    "clientFavoriteProduct",
    "clientFavoriteProductGroup",
    "clientSuggestedProduct",
    "purchaseValue",
    "purchaseCashbackAccumulated",
    "purchaseCashbackNewBalance",
    "purchaseSellerName",
    "cashbackAvailableBalance",
    "cashbackLifetimeAccumulated",
    "cashbackLifetimeRedeemed",
    "cashbackExpiringAmount",
    "cashbackExpiringDate",
]
MessageContentType = Literal["TEXTO", "IMAGEM", "VIDEO", "DOCUMENTO", "AUDIO"]
MessageAuthorType = Literal["CLIENTE", "USUÁRIO"]
MessageStatus = Literal["PENDENTE", "ENVIADO", "ENTREGUE", "LIDO", "FALHOU"]

whatsapp_connections = sa.Table(
    "whatsapp_connections",
    metadata,
    id_column(),
    organization_column(),
    sa.Column("whatsapp_telefone_id", sa.Text, nullable=False),
    # The WhatsApp Business Account (WABA) id that owns the number and its templates.
    sa.Column("whatsapp_conta_id", sa.Text, nullable=False),
    sa.Column(
        "token",
        sa.Text,
        nullable=True,
        comment="SECRET: Graph API access token. Never log or copy it.",
    ),
    # Or the name of the environment variable holding the token, read when sending: a token
    # given by reference never reaches the database (recompra_pipelines.credentials).
    sa.Column("token_env", sa.Text, nullable=True),
    sa.Column("ativo", sa.Boolean, nullable=False, server_default=sa.text("true")),
    # Circuit breaker: sends in a row that got no answer, a 5xx or no connection; past the
    # limit, nothing is sent through the number until envio_suspenso_ate (messaging.breaker).
    sa.Column("envio_falhas_consecutivas", sa.Integer, nullable=False, server_default="0"),
    sa.Column("envio_suspenso_ate", Timestamp, nullable=True),
    inserted_at_column(),
    updated_at_column(),
    sa.UniqueConstraint("organizacao_id", "whatsapp_telefone_id"),
    sa.CheckConstraint("token IS NOT NULL OR token_env IS NOT NULL", name="token_given"),
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
        server_default="MARKETING",
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
        server_default="TEXTO",
    ),
    sa.Column("conteudo_texto", sa.Text, nullable=True),
    sa.Column("conteudo_midia_url", sa.Text, nullable=True),
    sa.Column(
        "whatsapp_template_id", sa.Uuid, sa.ForeignKey("whatsapp_templates.id"), nullable=True
    ),
    sa.Column("whatsapp_message_id", sa.Text, nullable=True),
    sa.Column(
        "status", checked_enum("status", MessageStatus), nullable=False, server_default="PENDENTE"
    ),
    inserted_at_column(),
    updated_at_column(),
    # A retried send never writes a second message for the same interaction.
    sa.UniqueConstraint("organizacao_id", "interacao_id"),
    sa.Index("ix_chat_messages_chat", "chat_id", "data_insercao"),
    sa.Index(
        "ix_chat_messages_whatsapp_message_id",
        "whatsapp_message_id",
        postgresql_where=sa.text("whatsapp_message_id IS NOT NULL"),
    ),
)

# WhatsApp throughput limits shared by every dispatcher (R-WA-3), as GCRA "theoretical arrival
# times": one row per phone-number id (``destinatario = ''``: at most N messages a second) and
# one per (phone-number id, recipient) (1 message per 6 s, Meta's pair rate). A dispatcher takes
# a slot with one atomic upsert, so parallel runs and processes never exceed the limits together.
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
