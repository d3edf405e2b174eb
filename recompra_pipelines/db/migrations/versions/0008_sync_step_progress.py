"""sync step progress: which staged content each step after normalization completed for

Revision ID: 0008
Revises: 0009
Create Date: 2026-12-02 10:00:00

A step materialized on its own for a day whose earlier steps never ran (a backfill of
`crm_sales` alone over days never fetched) must fail and say what to select instead of
succeeding with zeros. Staging records, per org x day, the content hash the entity, sales and
cashback steps last completed for; each step checks its predecessor's.

Days staged before this revision went through the whole sync graph (steps only ran as one
job until now), so their markers start at their staged content.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0009"
branch_labels = None
depends_on = None

MARKERS = ("entidades_hash_conteudo", "vendas_hash_conteudo", "cashback_hash_conteudo")


def upgrade() -> None:
    for column in MARKERS:
        op.add_column("erp_staging_extracts", sa.Column(column, sa.Text(), nullable=True))
    op.execute(
        "UPDATE erp_staging_extracts SET "
        + ", ".join(f"{column} = hash_conteudo" for column in MARKERS)
    )


def downgrade() -> None:
    for column in MARKERS:
        op.drop_column("erp_staging_extracts", column)
