"""whatsapp both ways: webhook inbox and events, contacts' consent, delivery times, gateway

Revision ID: 0010
Revises: 0006
Create Date: 2026-12-02 07:04:52

- whatsapp_webhooks keeps every signed webhook body as received; whatsapp_eventos holds each
  status or customer message once, pending until applied.
- whatsapp_contatos: opt-out / opt-in per organization and phone, and 131026 suppression.
- interactions and chat_messages get the delivered / read / failed times (chat messages also
  the error), from the status webhooks.
- whatsapp_connections gets a type: the Cloud API (phone-number id, WABA, token, now only
  required for that type) or the internal gateway (URL, session, and the name of the
  environment variable holding its secret). Existing connections are Cloud API ones.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0006"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)
CLOUD_API = "META_CLOUD_API"
INTERNAL_GATEWAY = "INTERNAL_GATEWAY"


def upgrade() -> None:
    op.create_table(
        "whatsapp_webhooks",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("corpo", sa.LargeBinary(), nullable=False),
        sa.Column("corpo_sha256", sa.Text(), nullable=False),
        sa.Column("eventos", sa.Integer(), nullable=False),
        sa.Column("erro", sa.Text(), nullable=True),
        sa.Column("recebido_em", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whatsapp_webhooks")),
        sa.UniqueConstraint("corpo_sha256", name=op.f("uq_whatsapp_webhooks_corpo_sha256")),
    )
    op.create_table(
        "whatsapp_eventos",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("chave", sa.Text(), nullable=False),
        sa.Column(
            "tipo",
            sa.Enum(
                "STATUS",
                "MENSAGEM",
                name="tipo",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("webhook_id", sa.Uuid(), nullable=False),
        sa.Column("whatsapp_telefone_id", sa.Text(), nullable=False),
        sa.Column("whatsapp_message_id", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("interacao_id", sa.Uuid(), nullable=True),
        sa.Column("telefone", sa.Text(), nullable=True),
        sa.Column("evento_data", TIMESTAMP, nullable=False),
        sa.Column("erro_codigo", sa.Text(), nullable=True),
        sa.Column("erro_titulo", sa.Text(), nullable=True),
        sa.Column("conteudo", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("organizacao_id", sa.Text(), nullable=True),
        sa.Column("aplicado_em", TIMESTAMP, nullable=True),
        sa.Column("data_insercao", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["organizacao_id"],
            ["organizations.id"],
            name=op.f("fk_whatsapp_eventos_organizacao_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["whatsapp_webhooks.id"],
            name=op.f("fk_whatsapp_eventos_webhook_id_whatsapp_webhooks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whatsapp_eventos")),
        sa.UniqueConstraint("chave", name=op.f("uq_whatsapp_eventos_chave")),
    )
    op.create_index("ix_whatsapp_eventos_webhook_id", "whatsapp_eventos", ["webhook_id"])
    op.create_index(
        "ix_whatsapp_eventos_pendentes",
        "whatsapp_eventos",
        ["whatsapp_message_id"],
        postgresql_where=sa.text("aplicado_em IS NULL"),
    )
    op.create_table(
        "whatsapp_contatos",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("organizacao_id", sa.Text(), nullable=False),
        sa.Column("telefone_e164", sa.Text(), nullable=False),
        sa.Column("descadastrado", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("consentimento_data", TIMESTAMP, nullable=True),
        sa.Column("consentimento_mensagem_id", sa.Text(), nullable=True),
        sa.Column("consentimento_palavra", sa.Text(), nullable=True),
        sa.Column("inalcancavel_desde", TIMESTAMP, nullable=True),
        sa.Column("data_insercao", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.Column("data_atualizacao", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["organizacao_id"],
            ["organizations.id"],
            name=op.f("fk_whatsapp_contatos_organizacao_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whatsapp_contatos")),
        sa.UniqueConstraint(
            "organizacao_id",
            "telefone_e164",
            name=op.f("uq_whatsapp_contatos_organizacao_id_telefone_e164"),
        ),
    )

    for table in ("interactions", "chat_messages"):
        for column in ("data_entrega", "data_leitura", "data_falha"):
            op.add_column(table, sa.Column(column, TIMESTAMP, nullable=True))
    op.add_column("chat_messages", sa.Column("erro_codigo", sa.Text(), nullable=True))
    op.add_column("chat_messages", sa.Column("erro_descricao", sa.Text(), nullable=True))
    op.create_index(
        "uq_chat_messages_recebidas",
        "chat_messages",
        ["organizacao_id", "whatsapp_message_id"],
        unique=True,
        postgresql_where=sa.text("interacao_id IS NULL AND whatsapp_message_id IS NOT NULL"),
    )

    op.add_column(
        "whatsapp_connections",
        sa.Column("tipo", sa.String(40), server_default=CLOUD_API, nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_whatsapp_connections_tipo"),
        "whatsapp_connections",
        f"tipo IN ('{CLOUD_API}', '{INTERNAL_GATEWAY}')",
    )
    for column in ("gateway_url", "gateway_sessao_id", "gateway_segredo_env"):
        op.add_column("whatsapp_connections", sa.Column(column, sa.Text(), nullable=True))
    for column in ("whatsapp_telefone_id", "whatsapp_conta_id", "token"):
        op.alter_column("whatsapp_connections", column, existing_type=sa.Text(), nullable=True)
    op.create_check_constraint(
        op.f("ck_whatsapp_connections_campos_do_tipo"),
        "whatsapp_connections",
        f"(tipo = '{CLOUD_API}' AND whatsapp_telefone_id IS NOT NULL"
        " AND whatsapp_conta_id IS NOT NULL AND token IS NOT NULL)"
        f" OR (tipo = '{INTERNAL_GATEWAY}' AND gateway_url IS NOT NULL"
        " AND gateway_sessao_id IS NOT NULL AND gateway_segredo_env IS NOT NULL)",
    )
    op.create_unique_constraint(
        op.f("uq_whatsapp_connections_organizacao_id_gateway_sessao_id"),
        "whatsapp_connections",
        ["organizacao_id", "gateway_sessao_id"],
    )


def downgrade() -> None:
    # Gateway connections cannot exist without the columns that describe them.
    op.execute(f"DELETE FROM whatsapp_connections WHERE tipo = '{INTERNAL_GATEWAY}'")
    op.drop_constraint(
        op.f("uq_whatsapp_connections_organizacao_id_gateway_sessao_id"),
        "whatsapp_connections",
        type_="unique",
    )
    op.drop_constraint(
        op.f("ck_whatsapp_connections_campos_do_tipo"), "whatsapp_connections", type_="check"
    )
    for column in ("whatsapp_telefone_id", "whatsapp_conta_id", "token"):
        op.alter_column("whatsapp_connections", column, existing_type=sa.Text(), nullable=False)
    for column in ("gateway_url", "gateway_sessao_id", "gateway_segredo_env", "tipo"):
        op.drop_column("whatsapp_connections", column)

    op.drop_index("uq_chat_messages_recebidas", table_name="chat_messages")
    for column in ("erro_descricao", "erro_codigo"):
        op.drop_column("chat_messages", column)
    for table in ("interactions", "chat_messages"):
        for column in ("data_falha", "data_leitura", "data_entrega"):
            op.drop_column(table, column)

    op.drop_table("whatsapp_contatos")
    op.drop_index("ix_whatsapp_eventos_pendentes", table_name="whatsapp_eventos")
    op.drop_index("ix_whatsapp_eventos_webhook_id", table_name="whatsapp_eventos")
    op.drop_table("whatsapp_eventos")
    op.drop_table("whatsapp_webhooks")
