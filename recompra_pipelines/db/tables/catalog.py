"""The ERP's product catalog beyond what orders show: add-on groups, their options, which
products offer which group, and the raw catalog responses.

Products themselves live in `sync.products` (one row per code, whether an order or the catalog
saw it first); the catalog sync fills their catalog columns (active, image, price, stock, sync
time). Table and column names are the CRM application's (product_add_ons, ...)."""

from __future__ import annotations

import sqlalchemy as sa

from recompra_pipelines.db.tables.base import (
    Money,
    id_column,
    inserted_at_column,
    metadata,
    organization_column,
    updated_at_column,
)

Timestamp = sa.DateTime(timezone=True)

# An add-on group ("Adicionais", "Borda"): how many of its options an item takes.
product_add_ons = sa.Table(
    "product_add_ons",
    metadata,
    id_column(),
    organization_column(),
    sa.Column("id_externo", sa.Text, nullable=False),
    sa.Column("nome", sa.Text, nullable=False),
    sa.Column("min_opcoes", sa.Integer, nullable=False, server_default="0"),
    sa.Column("max_opcoes", sa.Integer, nullable=False, server_default="1"),
    sa.Column("ativo", sa.Boolean, nullable=False, server_default=sa.true()),
    inserted_at_column(),
    updated_at_column(),
    sa.UniqueConstraint("organizacao_id", "id_externo"),
)

product_add_on_options = sa.Table(
    "product_add_on_options",
    metadata,
    id_column(),
    organization_column(),
    sa.Column(
        "produto_add_on_id",
        sa.Uuid,
        sa.ForeignKey("product_add_ons.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # The option's id in the ERP; one option may sit in several groups.
    sa.Column("id_externo", sa.Text, nullable=False),
    sa.Column("nome", sa.Text, nullable=False),
    sa.Column("codigo", sa.Text, nullable=True),
    sa.Column("preco_delta", Money, nullable=False, server_default="0"),
    sa.Column("max_qtde_por_item", sa.Integer, nullable=False, server_default="1"),
    sa.Column("ativo", sa.Boolean, nullable=False, server_default=sa.true()),
    inserted_at_column(),
    updated_at_column(),
    sa.UniqueConstraint(
        "organizacao_id", "produto_add_on_id", "id_externo", name="uq_product_add_on_options_opcao"
    ),
)

# Which add-on groups a product offers, in which order.
product_add_on_references = sa.Table(
    "product_add_on_references",
    metadata,
    id_column(),
    organization_column(),
    sa.Column(
        "produto_id", sa.Uuid, sa.ForeignKey("products.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column(
        "produto_add_on_id",
        sa.Uuid,
        sa.ForeignKey("product_add_ons.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("ordem", sa.Integer, nullable=False, server_default="0"),
    inserted_at_column(),
    updated_at_column(),
    sa.UniqueConstraint("produto_id", "produto_add_on_id"),
)

# Each distinct catalog response, stored gzip-compressed before it is parsed (like
# erp_raw_extracts, which holds a day's sales): seeing it again only bumps its capture time.
erp_catalog_extracts = sa.Table(
    "erp_catalog_extracts",
    metadata,
    id_column(),
    organization_column(),
    sa.Column("integracao_tipo", sa.Text, nullable=False),
    sa.Column("status_http", sa.Integer, nullable=False),
    sa.Column("hash_conteudo", sa.Text, nullable=False),
    sa.Column("conteudo_gzip", sa.LargeBinary, nullable=False),
    sa.Column("tamanho_bytes", sa.Integer, nullable=False),
    sa.Column("primeira_captura_em", Timestamp, nullable=False, server_default=sa.func.now()),
    sa.Column("ultima_captura_em", Timestamp, nullable=False, server_default=sa.func.now()),
    sa.Column("capturas", sa.Integer, nullable=False, server_default="1"),
    sa.UniqueConstraint(
        "organizacao_id",
        "integracao_tipo",
        "hash_conteudo",
        name="uq_erp_catalog_extracts_conteudo",
    ),
)
