"""CardápioWeb: order amounts, discounts and payments on sales; client locations

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 09:11:10.612160
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "client_locations",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("organizacao_id", sa.Text(), nullable=False),
        sa.Column("cliente_id", sa.Uuid(), nullable=False),
        sa.Column("chave", sa.Text(), nullable=False),
        sa.Column("logradouro", sa.Text(), nullable=False),
        sa.Column("numero", sa.Text(), nullable=True),
        sa.Column("complemento", sa.Text(), nullable=True),
        sa.Column("bairro", sa.Text(), nullable=True),
        sa.Column("cidade", sa.Text(), nullable=True),
        sa.Column("estado", sa.Text(), nullable=True),
        sa.Column("cep", sa.Text(), nullable=True),
        sa.Column("referencia", sa.Text(), nullable=True),
        sa.Column("latitude", sa.Text(), nullable=True),
        sa.Column("longitude", sa.Text(), nullable=True),
        sa.Column("integracao_tipo", sa.Text(), nullable=False),
        sa.Column("ultima_venda_data", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "data_insercao",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "data_atualizacao",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["cliente_id"],
            ["clients.id"],
            name=op.f("fk_client_locations_cliente_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organizacao_id"],
            ["organizations.id"],
            name=op.f("fk_client_locations_organizacao_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_locations")),
        sa.UniqueConstraint(
            "organizacao_id",
            "cliente_id",
            "chave",
            name=op.f("uq_client_locations_organizacao_id_cliente_id_chave"),
        ),
    )
    op.add_column(
        "erp_staging_sales",
        sa.Column("valor_desconto", sa.Numeric(precision=14, scale=2), nullable=True),
    )
    op.add_column(
        "erp_staging_sales",
        sa.Column("valor_taxa_entrega", sa.Numeric(precision=14, scale=2), nullable=True),
    )
    op.add_column(
        "erp_staging_sales",
        sa.Column("valor_taxa_servico", sa.Numeric(precision=14, scale=2), nullable=True),
    )
    op.add_column(
        "erp_staging_sales",
        sa.Column("valor_taxa_adicional", sa.Numeric(precision=14, scale=2), nullable=True),
    )
    op.add_column(
        "erp_staging_sales",
        sa.Column(
            "descontos", postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), nullable=True
        ),
    )
    op.add_column(
        "erp_staging_sales",
        sa.Column(
            "pagamentos", postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), nullable=True
        ),
    )
    op.add_column(
        "erp_staging_sales",
        sa.Column(
            "entrega_endereco",
            postgresql.JSONB(none_as_null=True, astext_type=sa.Text()),
            nullable=True,
        ),
    )
    op.add_column(
        "sales", sa.Column("valor_desconto", sa.Numeric(precision=14, scale=2), nullable=True)
    )
    op.add_column(
        "sales", sa.Column("valor_taxa_entrega", sa.Numeric(precision=14, scale=2), nullable=True)
    )
    op.add_column(
        "sales", sa.Column("valor_taxa_servico", sa.Numeric(precision=14, scale=2), nullable=True)
    )
    op.add_column(
        "sales", sa.Column("valor_taxa_adicional", sa.Numeric(precision=14, scale=2), nullable=True)
    )
    op.add_column(
        "sales",
        sa.Column(
            "descontos", postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), nullable=True
        ),
    )
    op.add_column(
        "sales",
        sa.Column(
            "pagamentos", postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), nullable=True
        ),
    )


def downgrade() -> None:
    op.drop_column("sales", "pagamentos")
    op.drop_column("sales", "descontos")
    op.drop_column("sales", "valor_taxa_adicional")
    op.drop_column("sales", "valor_taxa_servico")
    op.drop_column("sales", "valor_taxa_entrega")
    op.drop_column("sales", "valor_desconto")
    op.drop_column("erp_staging_sales", "entrega_endereco")
    op.drop_column("erp_staging_sales", "pagamentos")
    op.drop_column("erp_staging_sales", "descontos")
    op.drop_column("erp_staging_sales", "valor_taxa_adicional")
    op.drop_column("erp_staging_sales", "valor_taxa_servico")
    op.drop_column("erp_staging_sales", "valor_taxa_entrega")
    op.drop_column("erp_staging_sales", "valor_desconto")
    op.drop_table("client_locations")
