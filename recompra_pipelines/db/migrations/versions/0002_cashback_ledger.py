"""cashback ledger: accrual revision and recorded write-off on transactions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "cashback_program_transactions", sa.Column("venda_revisao", sa.Integer(), nullable=True)
    )
    op.add_column(
        "cashback_program_transactions",
        sa.Column(
            "valor_baixa", sa.Numeric(precision=14, scale=2), server_default="0", nullable=False
        ),
    )
    op.create_check_constraint(
        op.f("ck_cashback_program_transactions_baixa_so_em_cancelamento"),
        "cashback_program_transactions",
        "valor_baixa >= 0 AND (tipo = 'CANCELAMENTO' OR valor_baixa = 0)",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("ck_cashback_program_transactions_baixa_so_em_cancelamento"),
        "cashback_program_transactions",
        type_="check",
    )
    op.drop_column("cashback_program_transactions", "valor_baixa")
    op.drop_column("cashback_program_transactions", "venda_revisao")
