"""effects follow the ERP's current truth: edited and vanished sales

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-02 12:00:00

- sales.conteudo_revisao: bumped when the ERP edits a valid sale's value, so its accruals are
  decided again once per revision; cashback_program_transactions.venda_conteudo_revisao
  records the revision an accrual was decided on (NULL for older entries: revision 0).
- sales.ausente_desde / data_remocao / remocao_motivo: a sale absent from the ERP's complete
  answers for its day, and when and why it was removed; erp_staging_extracts says whether its
  extract is complete and which listed ids it could not stage (staging is emptied: each
  org x day is restaged from its raw extract by its next run).
- campaign_conversions.data_conversao_precisao: which time rule placed the sale after the
  message (the sale's own precision).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0006"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column(
        "sales",
        sa.Column("conteudo_revisao", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column("sales", sa.Column("ausente_desde", TIMESTAMP, nullable=True))
    op.add_column("sales", sa.Column("data_remocao", TIMESTAMP, nullable=True))
    op.add_column("sales", sa.Column("remocao_motivo", sa.Text(), nullable=True))
    op.create_index(
        "ix_sales_ausencia_a_confirmar",
        "sales",
        ["organizacao_id", "data_referencia"],
        postgresql_where=sa.text("ausente_desde IS NOT NULL AND data_remocao IS NULL"),
    )
    op.add_column(
        "cashback_program_transactions",
        sa.Column("venda_conteudo_revisao", sa.Integer(), nullable=True),
    )
    op.add_column(
        "campaign_conversions",
        sa.Column("data_conversao_precisao", sa.Text(), nullable=True),
    )
    op.execute("DELETE FROM erp_staging_extracts")
    op.execute("DELETE FROM erp_staging_sales")
    op.add_column(
        "erp_staging_extracts", sa.Column("resposta_completa", sa.Boolean(), nullable=False)
    )
    op.add_column(
        "erp_staging_extracts",
        sa.Column("ids_nao_carregados", postgresql.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("campaign_conversions", "data_conversao_precisao")
    op.drop_column("erp_staging_extracts", "ids_nao_carregados")
    op.drop_column("erp_staging_extracts", "resposta_completa")
    op.drop_index("ix_sales_ausencia_a_confirmar", table_name="sales")
    op.drop_column("cashback_program_transactions", "venda_conteudo_revisao")
    for column in ("remocao_motivo", "data_remocao", "ausente_desde", "conteudo_revisao"):
        op.drop_column("sales", column)
