"""hostile input and slow peers: quarantine of any record

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 09:00:00

- erp_quarantine.registro_bruto: a quarantined record JSONB cannot hold (a NUL, NaN, a lone
  surrogate, deep nesting) is kept as its JSON bytes, so storing the quarantine never fails.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("erp_quarantine", sa.Column("registro_bruto", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column("erp_quarantine", "registro_bruto")
