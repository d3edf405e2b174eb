"""whatsapp dispatch: shared throughput limits (whatsapp_limites_envio)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 09:08:21.030494
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "whatsapp_limites_envio",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("organizacao_id", sa.Text(), nullable=False),
        sa.Column("whatsapp_telefone_id", sa.Text(), nullable=False),
        sa.Column("destinatario", sa.Text(), nullable=False),
        sa.Column("proxima_liberacao_data", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organizacao_id"],
            ["organizations.id"],
            name=op.f("fk_whatsapp_limites_envio_organizacao_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whatsapp_limites_envio")),
        sa.UniqueConstraint(
            "organizacao_id",
            "whatsapp_telefone_id",
            "destinatario",
            name="uq_whatsapp_limites_envio_chave",
        ),
    )


def downgrade() -> None:
    op.drop_table("whatsapp_limites_envio")
