"""effects follow the ERP's current truth: edited and vanished sales

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-02 12:00:00

- sales.conteudo_revisao: bumped when the ERP edits a valid sale's value, so its accruals are
  decided again once per revision; cashback_program_transactions.venda_conteudo_revisao
  records the revision an accrual was decided on (NULL for older entries: revision 0).
- sales.ausente_desde / data_remocao / remocao_motivo: a sale absent from the ERP's complete
  answers for its day, and when and why it was removed.
"""

import sqlalchemy as sa
from alembic import op

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
    op.add_column(
        "cashback_program_transactions",
        sa.Column("venda_conteudo_revisao", sa.Integer(), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("cashback_program_transactions", "venda_conteudo_revisao")
    for column in ("remocao_motivo", "data_remocao", "ausente_desde", "conteudo_revisao"):
        op.drop_column("sales", column)
