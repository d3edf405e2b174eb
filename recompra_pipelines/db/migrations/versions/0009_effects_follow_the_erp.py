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
- clients.cpf_cnpj and partners.cpf_cnpj in the CRM application's masked form
  (000.000.000-00, 00.000.000/0000-00): stored rows are converted (a client whose masked form
  another client of the organization already holds keeps its value, as the unique index
  requires; matching by digits finds both), and an index serves matching by digits.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0006"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)

# The CRM's masks, as of this revision (the application code's rule is domain.documents).
DIGITS = "upper(regexp_replace({column}, '[^0-9A-Za-z]', '', 'g'))"
MASKED = """CASE
    WHEN d ~ '^[0-9]{11}$' THEN
        substr(d, 1, 3) || '.' || substr(d, 4, 3) || '.' || substr(d, 7, 3) || '-' || substr(d, 10, 2)
    WHEN d ~ '^[A-Z0-9]{12}[0-9]{2}$' THEN
        substr(d, 1, 2) || '.' || substr(d, 3, 3) || '.' || substr(d, 6, 3) || '/' || substr(d, 9, 4)
        || '-' || substr(d, 13, 2)
END"""


def _convert(table: str, target: str, unique: bool) -> None:
    """Rewrite `table.cpf_cnpj` as `target` (the masked form, or the digits) where it differs;
    with `unique`, one row per organization and value, never onto a value already held."""
    taken = (
        f"AND NOT EXISTS (SELECT 1 FROM {table} o WHERE o.organizacao_id = t.organizacao_id"
        " AND o.cpf_cnpj = v.valor) AND v.ordem = 1"
        if unique
        else ""
    )
    op.execute(
        f"""
        UPDATE {table} t SET cpf_cnpj = v.valor
        FROM (
            SELECT x.id, x.valor,
                   row_number() OVER (PARTITION BY x.organizacao_id, x.valor ORDER BY x.id) AS ordem
            FROM (SELECT id, organizacao_id, {target} AS valor
                  FROM (SELECT id, organizacao_id, cpf_cnpj, {DIGITS.format(column="cpf_cnpj")} AS d
                        FROM {table} WHERE cpf_cnpj IS NOT NULL) y) x
            WHERE x.valor IS NOT NULL
        ) v
        WHERE t.id = v.id AND t.cpf_cnpj <> v.valor {taken}
        """
    )


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
    _convert("clients", MASKED, unique=True)
    _convert("partners", MASKED, unique=False)
    op.create_index(
        "ix_clients_organizacao_id_cpf_cnpj_digitos",
        "clients",
        ["organizacao_id", sa.text(DIGITS.format(column="cpf_cnpj"))],
        postgresql_where=sa.text("cpf_cnpj IS NOT NULL"),
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
    op.drop_index("ix_clients_organizacao_id_cpf_cnpj_digitos", table_name="clients")
    _convert("partners", "d", unique=False)
    _convert("clients", "d", unique=True)
    op.drop_column("campaign_conversions", "data_conversao_precisao")
    op.drop_column("erp_staging_extracts", "ids_nao_carregados")
    op.drop_column("erp_staging_extracts", "resposta_completa")
    op.drop_index("ix_sales_ausencia_a_confirmar", table_name="sales")
    op.drop_column("cashback_program_transactions", "venda_conteudo_revisao")
    for column in ("remocao_motivo", "data_remocao", "ausente_desde", "conteudo_revisao"):
        op.drop_column("sales", column)
