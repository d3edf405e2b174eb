"""hostile input and slow peers: quarantine of any record

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 09:00:00

- erp_quarantine.registro_bruto: a quarantined record JSONB cannot hold (a NUL, NaN, a lone
  surrogate, deep nesting) is kept as its JSON bytes, so storing the quarantine never fails.
- whatsapp_connections.token_env: a Cloud API token given by environment variable is stored
  as the variable's name (token NULL) and read when sending; one of the two is always there.
- whatsapp_connections.envio_falhas_consecutivas / envio_suspenso_ate: the circuit breaker of
  each WhatsApp number (a stalled endpoint stops being tried until the suspension ends).
- interactions.envio_tentativa_iniciada_data: set just before a send's request leaves, so a
  claim whose dispatcher died before trying is released after a bound (never one that tried).
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

CAMPOS_DO_TIPO = "ck_whatsapp_connections_campos_do_tipo"


def _campos_do_tipo(cloud_api_token: str) -> str:
    """What each connection type needs (revision 0010), the Cloud API's token as given."""
    return (
        "(tipo = 'META_CLOUD_API' AND whatsapp_telefone_id IS NOT NULL"
        f" AND whatsapp_conta_id IS NOT NULL AND ({cloud_api_token}))"
        " OR (tipo = 'INTERNAL_GATEWAY' AND gateway_url IS NOT NULL"
        " AND gateway_sessao_id IS NOT NULL AND gateway_segredo_env IS NOT NULL)"
    )


def upgrade() -> None:
    op.add_column("erp_quarantine", sa.Column("registro_bruto", sa.LargeBinary(), nullable=True))
    op.add_column("whatsapp_connections", sa.Column("token_env", sa.Text(), nullable=True))
    op.drop_constraint(op.f(CAMPOS_DO_TIPO), "whatsapp_connections", type_="check")
    op.create_check_constraint(
        op.f(CAMPOS_DO_TIPO),
        "whatsapp_connections",
        _campos_do_tipo("token IS NOT NULL OR token_env IS NOT NULL"),
    )
    op.add_column(
        "whatsapp_connections",
        sa.Column("envio_falhas_consecutivas", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column(
        "whatsapp_connections",
        sa.Column("envio_suspenso_ate", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "interactions",
        sa.Column("envio_tentativa_iniciada_data", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("interactions", "envio_tentativa_iniciada_data")
    op.drop_column("whatsapp_connections", "envio_suspenso_ate")
    op.drop_column("whatsapp_connections", "envio_falhas_consecutivas")
    op.drop_constraint(op.f(CAMPOS_DO_TIPO), "whatsapp_connections", type_="check")
    op.create_check_constraint(
        op.f(CAMPOS_DO_TIPO), "whatsapp_connections", _campos_do_tipo("token IS NOT NULL")
    )
    op.drop_column("whatsapp_connections", "token_env")
    op.drop_column("erp_quarantine", "registro_bruto")
