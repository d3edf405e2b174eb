"""effects follow the ERP's current truth: edited and vanished sales

Revision ID: 0009
Revises: 0010
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
- The ERP's product catalog: products gain their catalog columns (id_externo, ativo,
  imagem_capa_url, preco_venda, quantidade, data_ultima_sincronizacao); add-on groups, their
  options and the products offering them (the CRM application's product_add_ons,
  product_add_on_options, product_add_on_references); raw catalog responses.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0010"
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


def _id() -> sa.Column:
    return sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False)


def _organization(table: str) -> list:
    return [
        sa.Column("organizacao_id", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organizacao_id"],
            ["organizations.id"],
            name=op.f(f"fk_{table}_organizacao_id_organizations"),
            ondelete="CASCADE",
        ),
    ]


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("data_insercao", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.Column("data_atualizacao", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
    ]


def _create_catalog_tables() -> None:
    op.create_table(
        "erp_catalog_extracts",
        _id(),
        *_organization("erp_catalog_extracts"),
        sa.Column("integracao_tipo", sa.Text(), nullable=False),
        sa.Column("status_http", sa.Integer(), nullable=False),
        sa.Column("hash_conteudo", sa.Text(), nullable=False),
        sa.Column("conteudo_gzip", sa.LargeBinary(), nullable=False),
        sa.Column("tamanho_bytes", sa.Integer(), nullable=False),
        sa.Column(
            "primeira_captura_em", TIMESTAMP, server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("ultima_captura_em", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.Column("capturas", sa.Integer(), server_default="1", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erp_catalog_extracts")),
        sa.UniqueConstraint(
            "organizacao_id",
            "integracao_tipo",
            "hash_conteudo",
            name="uq_erp_catalog_extracts_conteudo",
        ),
    )
    op.execute("ALTER TABLE erp_catalog_extracts ALTER COLUMN conteudo_gzip SET STORAGE EXTERNAL")
    op.create_table(
        "product_add_ons",
        _id(),
        *_organization("product_add_ons"),
        sa.Column("id_externo", sa.Text(), nullable=False),
        sa.Column("nome", sa.Text(), nullable=False),
        sa.Column("min_opcoes", sa.Integer(), server_default="0", nullable=False),
        sa.Column("max_opcoes", sa.Integer(), server_default="1", nullable=False),
        sa.Column("ativo", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_add_ons")),
        sa.UniqueConstraint(
            "organizacao_id",
            "id_externo",
            name=op.f("uq_product_add_ons_organizacao_id_id_externo"),
        ),
    )
    op.create_table(
        "product_add_on_options",
        _id(),
        *_organization("product_add_on_options"),
        sa.Column("produto_add_on_id", sa.Uuid(), nullable=False),
        sa.Column("id_externo", sa.Text(), nullable=False),
        sa.Column("nome", sa.Text(), nullable=False),
        sa.Column("codigo", sa.Text(), nullable=True),
        sa.Column(
            "preco_delta", sa.Numeric(precision=14, scale=2), server_default="0", nullable=False
        ),
        sa.Column("max_qtde_por_item", sa.Integer(), server_default="1", nullable=False),
        sa.Column("ativo", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["produto_add_on_id"],
            ["product_add_ons.id"],
            name=op.f("fk_product_add_on_options_produto_add_on_id_product_add_ons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_add_on_options")),
        sa.UniqueConstraint(
            "organizacao_id",
            "produto_add_on_id",
            "id_externo",
            name="uq_product_add_on_options_opcao",
        ),
    )
    op.create_table(
        "product_add_on_references",
        _id(),
        *_organization("product_add_on_references"),
        sa.Column("produto_id", sa.Uuid(), nullable=False),
        sa.Column("produto_add_on_id", sa.Uuid(), nullable=False),
        sa.Column("ordem", sa.Integer(), server_default="0", nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["produto_add_on_id"],
            ["product_add_ons.id"],
            name=op.f("fk_product_add_on_references_produto_add_on_id_product_add_ons"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["produto_id"],
            ["products.id"],
            name=op.f("fk_product_add_on_references_produto_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_add_on_references")),
        sa.UniqueConstraint(
            "produto_id",
            "produto_add_on_id",
            name=op.f("uq_product_add_on_references_produto_id_produto_add_on_id"),
        ),
    )
    op.add_column("products", sa.Column("id_externo", sa.Text(), nullable=True))
    op.add_column(
        "products",
        sa.Column("ativo", sa.Boolean(), server_default=sa.text("true"), nullable=False),
    )
    op.add_column("products", sa.Column("imagem_capa_url", sa.Text(), nullable=True))
    op.add_column("products", sa.Column("preco_venda", sa.Numeric(14, 2), nullable=True))
    op.add_column("products", sa.Column("quantidade", sa.Numeric(15, 4), nullable=True))
    op.add_column("products", sa.Column("data_ultima_sincronizacao", TIMESTAMP, nullable=True))


def _drop_catalog_tables() -> None:
    for column in (
        "data_ultima_sincronizacao",
        "quantidade",
        "preco_venda",
        "imagem_capa_url",
        "ativo",
        "id_externo",
    ):
        op.drop_column("products", column)
    for table in (
        "product_add_on_references",
        "product_add_on_options",
        "product_add_ons",
        "erp_catalog_extracts",
    ):
        op.drop_table(table)


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
    _create_catalog_tables()
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
    _drop_catalog_tables()
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
