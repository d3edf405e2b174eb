"""sync speed: unlogged staging with items inline, composite item keys, gzipped raw extracts

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 12:05:00

- Staging is rebuilt from erp_raw_extracts whenever it is missing, so it skips the WAL
  (UNLOGGED; a crash empties all three staging tables together, and the next run restages).
- A staged sale carries its items as one JSON array (`itens`) instead of ~5 rows in a table of
  its own: one COPY per day instead of two, and no index to maintain on 100,000 staged items;
  the day's distinct products (`produtos`, ~800) sit on the staged extract for the entity step.
- sale_items reference their sale and product together with the organization: one foreign-key
  check per key instead of a separate one for the organization, and an item can no longer
  point at another organization's sale or product.
- Raw extracts are stored gzip-compressed (lossless; `gunzip` reads them): a busy day's
  50 MB response becomes ~6 MB, written several times faster than TOAST's pglz. The fetch
  step reads a new response once, while it has it in memory, and stores how many records it
  holds or why it cannot be read, so the readable check need not decompress and parse it.
"""

import gzip

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

STAGING = ("erp_staging_extracts", "erp_staging_sales")


def upgrade() -> None:
    # Staging: rebuilt by the next run of each org x day (its extract hash no longer matches).
    op.execute("DELETE FROM erp_staging_extracts")
    op.execute("DELETE FROM erp_staging_sales")
    op.drop_table("erp_staging_sale_items")
    op.add_column("erp_staging_sales", sa.Column("itens", postgresql.JSON(), nullable=False))
    op.add_column("erp_staging_extracts", sa.Column("produtos", postgresql.JSON(), nullable=False))
    op.execute("ALTER TABLE erp_staging_sales ALTER COLUMN itens SET STORAGE EXTERNAL")
    for table in STAGING:
        op.execute(f"ALTER TABLE {table} SET UNLOGGED")

    op.create_unique_constraint("uq_sales_id_organizacao_id", "sales", ["id", "organizacao_id"])
    op.create_unique_constraint(
        "uq_products_id_organizacao_id", "products", ["id", "organizacao_id"]
    )
    for name in (
        "fk_sale_items_organizacao_id_organizations",
        "fk_sale_items_venda_id_sales",
        "fk_sale_items_produto_id_products",
    ):
        op.drop_constraint(name, "sale_items", type_="foreignkey")
    op.create_foreign_key(
        "fk_sale_items_venda_id_sales",
        "sale_items",
        "sales",
        ["venda_id", "organizacao_id"],
        ["id", "organizacao_id"],
        ondelete="CASCADE",
    )
    op.create_foreign_key(
        "fk_sale_items_produto_id_products",
        "sale_items",
        "products",
        ["produto_id", "organizacao_id"],
        ["id", "organizacao_id"],
    )

    op.add_column("erp_raw_extracts", sa.Column("conteudo_gzip", sa.LargeBinary(), nullable=True))
    _convert_extracts(
        "conteudo",
        "conteudo_gzip",
        lambda text: gzip.compress(text.encode(), compresslevel=1, mtime=0),
    )
    op.alter_column("erp_raw_extracts", "conteudo_gzip", nullable=False)
    op.drop_column("erp_raw_extracts", "conteudo")
    op.add_column("erp_raw_extracts", sa.Column("registros", sa.Integer(), nullable=True))
    op.add_column("erp_raw_extracts", sa.Column("erro_leitura", sa.Text(), nullable=True))
    # Already compressed: TOAST's own compression would only burn CPU.
    op.execute("ALTER TABLE erp_raw_extracts ALTER COLUMN conteudo_gzip SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_column("erp_raw_extracts", "erro_leitura")
    op.drop_column("erp_raw_extracts", "registros")
    op.add_column("erp_raw_extracts", sa.Column("conteudo", sa.Text(), nullable=True))
    _convert_extracts(
        "conteudo_gzip",
        "conteudo",
        lambda data: gzip.decompress(data).decode(),
    )
    op.alter_column("erp_raw_extracts", "conteudo", nullable=False)
    op.drop_column("erp_raw_extracts", "conteudo_gzip")

    for name in ("fk_sale_items_venda_id_sales", "fk_sale_items_produto_id_products"):
        op.drop_constraint(name, "sale_items", type_="foreignkey")
    op.create_foreign_key(
        "fk_sale_items_organizacao_id_organizations",
        "sale_items",
        "organizations",
        ["organizacao_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_foreign_key(
        "fk_sale_items_venda_id_sales",
        "sale_items",
        "sales",
        ["venda_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_foreign_key(
        "fk_sale_items_produto_id_products", "sale_items", "products", ["produto_id"], ["id"]
    )
    op.drop_constraint("uq_products_id_organizacao_id", "products", type_="unique")
    op.drop_constraint("uq_sales_id_organizacao_id", "sales", type_="unique")

    for table in STAGING:
        op.execute(f"ALTER TABLE {table} SET LOGGED")
    op.execute("DELETE FROM erp_staging_extracts")
    op.execute("DELETE FROM erp_staging_sales")
    op.drop_column("erp_staging_sales", "itens")
    op.drop_column("erp_staging_extracts", "produtos")
    op.create_table(
        "erp_staging_sale_items",
        sa.Column("organizacao_id", sa.Text(), nullable=False),
        sa.Column("data_referencia", sa.Date(), nullable=False),
        sa.Column("venda_id_externo", sa.Text(), nullable=False),
        sa.Column("linha", sa.Integer(), nullable=False),
        sa.Column("produto_codigo", sa.Text(), nullable=False),
        sa.Column("produto_descricao", sa.Text(), nullable=False),
        sa.Column("produto_unidade", sa.Text(), nullable=True),
        sa.Column("produto_grupo", sa.Text(), nullable=True),
        sa.Column("produto_ncm", sa.Text(), nullable=True),
        sa.Column("produto_tipo", sa.Text(), nullable=True),
        sa.Column("quantidade", sa.Numeric(precision=15, scale=4), nullable=False),
        sa.Column("valor_unitario", sa.Numeric(precision=20, scale=10), nullable=False),
        sa.Column("valor_venda_total_bruto", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("valor_total_desconto", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("valor_venda_total_liquido", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("valor_custo_unitario", sa.Numeric(precision=20, scale=10), nullable=False),
        sa.Column("valor_custo_total", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("metadados", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.ForeignKeyConstraint(
            ["organizacao_id"],
            ["organizations.id"],
            name=op.f("fk_erp_staging_sale_items_organizacao_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "organizacao_id",
            "data_referencia",
            "venda_id_externo",
            "linha",
            name=op.f("pk_erp_staging_sale_items"),
        ),
    )


def _convert_extracts(source: str, target: str, convert) -> None:
    """Fill `target` from `source` one extract at a time: a day's response can be 50 MB."""
    conn = op.get_bind()
    ids = conn.scalars(sa.text(f"SELECT id FROM erp_raw_extracts WHERE {target} IS NULL")).all()
    for extract_id in ids:
        value = conn.scalar(
            sa.text(f"SELECT {source} FROM erp_raw_extracts WHERE id = :id"), {"id": extract_id}
        )
        conn.execute(
            sa.text(f"UPDATE erp_raw_extracts SET {target} = :value WHERE id = :id"),
            {"value": convert(value), "id": extract_id},
        )
