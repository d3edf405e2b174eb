"""complete-sync marker: the staged content a whole `recompra sync` run completed for

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 15:00:00

`recompra sync` without a Dagster instance (no DAGSTER_HOME) has no earlier run to compare the
ERP's answer with, so every call ran the whole graph again, Dagster's start included, even when
nothing had changed. Staging now records, beside the per-step markers, the content a whole
sync run last completed for; the CLI skips a day whose ERP answer is that content and is still
the staged one. Days staged before this revision start with no marker: their next sync runs.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "erp_staging_extracts", sa.Column("sincronizacao_hash_conteudo", sa.Text(), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("erp_staging_extracts", "sincronizacao_hash_conteudo")
