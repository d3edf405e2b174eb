"""Tables the ERP sync fills: organizations, the CRM entities, sales, raw extracts, quarantine, staging.

Every write of the sync is an upsert on a natural key backed by a unique constraint here
(docs/architecture.md#1-every-write-is-an-upsert-on-a-natural-key), so a crash, a retry or two
overlapping runs can never create a duplicate.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from recompra_pipelines.db.tables.base import (
    JSONB,
    Money,
    Quantity,
    UnitPrice,
    id_column,
    inserted_at_column,
    metadata,
    organization_column,
    updated_at_column,
)
from recompra_pipelines.domain.local_time import DEFAULT_TIMEZONE

Timestamp = sa.DateTime(timezone=True)


def document_digits(column: str) -> str:
    """SQL: a stored CPF/CNPJ without its mask, what documents are matched on (the CRM stores
    them masked, and an older row may not be)."""
    return f"upper(regexp_replace({column}, '[^0-9A-Za-z]', '', 'g'))"


organizations = sa.Table(
    "organizations",
    metadata,
    # The id is also the Dagster dynamic partition key, so it must never hold `|`, `,` or spaces.
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("nome", sa.Text, nullable=False),
    sa.Column("fuso_horario", sa.Text, nullable=False, server_default=DEFAULT_TIMEZONE),
    sa.Column("integracao_tipo", sa.Text, nullable=True),
    # Holds the ERP token: read it only to call the ERP, never log or copy it anywhere.
    sa.Column(
        "integracao_configuracao", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")
    ),
    sa.Column("integracao_ativa", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("integracao_data_ativacao", Timestamp, nullable=True),
    # Sales dated before this day load as history only: no cashback, campaigns or messages.
    sa.Column("efeitos_data_inicio", sa.Date, nullable=True),
    sa.Column("integracao_data_ultima_sincronizacao", Timestamp, nullable=True),
    sa.Column("configuracao", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    inserted_at_column(),
    updated_at_column(),
    sa.CheckConstraint(r"id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'", name="id_is_partition_safe"),
)

clients = sa.Table(
    "clients",
    metadata,
    id_column(),
    organization_column(),
    sa.Column("nome", sa.Text, nullable=False),
    # Matching key of the name: trimmed, spaces collapsed, case- and accent-folded.
    sa.Column("nome_chave", sa.Text, nullable=False),
    sa.Column("telefone", sa.Text, nullable=True),
    sa.Column("telefone_base", sa.Text, nullable=True),
    sa.Column("telefone_e164", sa.Text, nullable=True),
    sa.Column("email", sa.Text, nullable=True),
    # Masked as the CRM application stores it (000.000.000-00, 00.000.000/0000-00); matched by
    # its digits.
    sa.Column("cpf_cnpj", sa.Text, nullable=True),
    sa.Column("data_nascimento", sa.Date, nullable=True),
    sa.Column("id_externo", sa.Text, nullable=True),
    sa.Column("canal_aquisicao", sa.Text, nullable=True),
    sa.Column("primeira_compra_data", Timestamp, nullable=True),
    sa.Column("primeira_compra_id", sa.Uuid, nullable=True),
    sa.Column("ultima_compra_data", Timestamp, nullable=True),
    sa.Column("ultima_compra_id", sa.Uuid, nullable=True),
    sa.Column("metadata_total_compras", sa.Integer, nullable=False, server_default="0"),
    sa.Column("metadata_valor_total_compras", Money, nullable=False, server_default="0"),
    sa.Column("analise_rfm_titulo", sa.Text, nullable=True, server_default="CLIENTES RECENTES"),
    sa.Column("analise_rfm_ultima_atualizacao", Timestamp, nullable=True),
    # RFM of the organization-local day `analise_rfm_data_referencia` (domain.rfm): scores,
    # the day the current segment started and the segment before it (NULL: never changed).
    sa.Column("analise_rfm_data_referencia", sa.Date, nullable=True),
    sa.Column("analise_rfm_recencia", sa.SmallInteger, nullable=True),
    sa.Column("analise_rfm_frequencia", sa.SmallInteger, nullable=True),
    sa.Column("analise_rfm_monetario", sa.SmallInteger, nullable=True),
    sa.Column("analise_rfm_desde", sa.Date, nullable=True),
    sa.Column("analise_rfm_titulo_anterior", sa.Text, nullable=True),
    # Most-bought product (summed quantity, RFM window) and its group.
    sa.Column(
        "metadata_produto_mais_comprado_id",
        sa.Uuid,
        sa.ForeignKey("products.id", ondelete="SET NULL"),
        nullable=True,
    ),
    sa.Column("metadata_grupo_mais_comprado", sa.Text, nullable=True),
    inserted_at_column(),
    updated_at_column(),
    # One client per external id, per phone, and per name among clients known by name only.
    sa.Index(
        "uq_clients_organizacao_id_id_externo",
        "organizacao_id",
        "id_externo",
        unique=True,
        postgresql_where=sa.text("id_externo IS NOT NULL"),
    ),
    sa.Index(
        "uq_clients_organizacao_id_telefone_base",
        "organizacao_id",
        "telefone_base",
        unique=True,
        postgresql_where=sa.text("telefone_base IS NOT NULL"),
    ),
    sa.Index(
        "uq_clients_organizacao_id_nome_chave_sem_telefone",
        "organizacao_id",
        "nome_chave",
        unique=True,
        postgresql_where=sa.text(
            "telefone_base IS NULL AND id_externo IS NULL AND cpf_cnpj IS NULL"
        ),
    ),
    sa.Index(
        "uq_clients_organizacao_id_cpf_cnpj",
        "organizacao_id",
        "cpf_cnpj",
        unique=True,
        postgresql_where=sa.text("cpf_cnpj IS NOT NULL"),
    ),
    # Matching by document, whatever its mask.
    sa.Index(
        "ix_clients_organizacao_id_cpf_cnpj_digitos",
        "organizacao_id",
        sa.text(document_digits("cpf_cnpj")),
        postgresql_where=sa.text("cpf_cnpj IS NOT NULL"),
    ),
    sa.Index("ix_clients_organizacao_id_nome_chave", "organizacao_id", "nome_chave"),
)

products = sa.Table(
    "products",
    metadata,
    id_column(),
    organization_column(),
    sa.Column("codigo", sa.Text, nullable=False),
    sa.Column("descricao", sa.Text, nullable=False),
    sa.Column("unidade", sa.Text, nullable=True),
    sa.Column("grupo", sa.Text, nullable=True),
    sa.Column("ncm", sa.Text, nullable=True),
    sa.Column("tipo", sa.Text, nullable=True),
    # Kept by the ERP's catalog when it has one (CardápioWeb): the catalog's item id, whether
    # it is offered, its picture, price and stock, and when the catalog sync last changed it.
    # A product that leaves the catalog is inactive, never deleted (sales refer to it).
    sa.Column("id_externo", sa.Text, nullable=True),
    sa.Column("ativo", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("imagem_capa_url", sa.Text, nullable=True),
    sa.Column("preco_venda", Money, nullable=True),
    sa.Column("quantidade", Quantity, nullable=True),
    sa.Column("data_ultima_sincronizacao", Timestamp, nullable=True),
    inserted_at_column(),
    updated_at_column(),
    sa.UniqueConstraint("organizacao_id", "codigo"),
    # The target of sale_items' (produto_id, organizacao_id) key.
    sa.UniqueConstraint("id", "organizacao_id"),
)

sellers = sa.Table(
    "sellers",
    metadata,
    id_column(),
    organization_column(),
    sa.Column("nome", sa.Text, nullable=False),
    # The name's matching key: "João " and "JOAO" are one seller.
    sa.Column("identificador", sa.Text, nullable=False),
    inserted_at_column(),
    updated_at_column(),
    sa.UniqueConstraint("organizacao_id", "identificador"),
)

partners = sa.Table(
    "partners",
    metadata,
    id_column(),
    organization_column(),
    sa.Column("nome", sa.Text, nullable=False),
    # Digits of the CPF/CNPJ when the ERP sends a document, else the trimmed raw code.
    sa.Column("identificador", sa.Text, nullable=False),
    sa.Column("codigo_afiliacao", sa.Text, nullable=False),
    # Masked as the CRM application stores it: 000.000.000-00 or 00.000.000/0000-00.
    sa.Column("cpf_cnpj", sa.Text, nullable=True),
    sa.Column(
        "cliente_id", sa.Uuid, sa.ForeignKey("clients.id", ondelete="SET NULL"), nullable=True
    ),
    inserted_at_column(),
    updated_at_column(),
    sa.UniqueConstraint("organizacao_id", "identificador"),
)

sales = sa.Table(
    "sales",
    metadata,
    id_column(),
    organization_column(),
    sa.Column("integracao_tipo", sa.Text, nullable=False),
    sa.Column("id_externo", sa.Text, nullable=False),
    # Business day of the sale in the organization's timezone (the partition's day).
    sa.Column("data_referencia", sa.Date, nullable=False),
    sa.Column("data_venda", Timestamp, nullable=False),
    # Where data_venda's time of day comes from: ERP (the ERP's own time), CAPTURA (first seen
    # by a sync the same day), DIA (only the date is known: local midnight).
    sa.Column("data_venda_precisao", sa.Text, nullable=False),
    sa.Column(
        "cliente_id", sa.Uuid, sa.ForeignKey("clients.id", ondelete="SET NULL"), nullable=True
    ),
    sa.Column(
        "vendedor_id", sa.Uuid, sa.ForeignKey("sellers.id", ondelete="SET NULL"), nullable=True
    ),
    sa.Column("vendedor_nome", sa.Text, nullable=False, server_default="N/A"),
    sa.Column(
        "parceiro_id", sa.Uuid, sa.ForeignKey("partners.id", ondelete="SET NULL"), nullable=True
    ),
    sa.Column("parceiro", sa.Text, nullable=False, server_default="N/A"),
    sa.Column("valor_total", Money, nullable=False),
    sa.Column("custo_total", Money, nullable=False),
    sa.Column("documento", sa.Text, nullable=False, server_default="N/A"),
    sa.Column("modelo", sa.Text, nullable=False, server_default="N/A"),
    sa.Column("serie", sa.Text, nullable=False, server_default="N/A"),
    sa.Column("movimento", sa.Text, nullable=False, server_default="N/A"),
    sa.Column("natureza", sa.Text, nullable=False, server_default="N/A"),
    sa.Column("tipo", sa.Text, nullable=True),
    sa.Column("situacao", sa.Text, nullable=False, server_default="N/A"),
    sa.Column("chave", sa.Text, nullable=False, server_default="N/A"),
    sa.Column("canal", sa.Text, nullable=True),
    sa.Column("entrega_modalidade", sa.Text, nullable=True),
    # Order-level amounts of ERPs that send them (CardápioWeb); NULL when the ERP does not.
    sa.Column("valor_desconto", Money, nullable=True),
    sa.Column("valor_taxa_entrega", Money, nullable=True),
    sa.Column("valor_taxa_servico", Money, nullable=True),
    sa.Column("valor_taxa_adicional", Money, nullable=True),
    # The ERP's discount and payment lines as sent (a later cashback redemption or a payment
    # mix report reads them; the old code summed discounts into an unused field and dropped
    # payments).
    sa.Column("descontos", JSONB, nullable=True),
    sa.Column("pagamentos", JSONB, nullable=True),
    # A valid sale counts for cashback, campaigns, counters and attribution.
    sa.Column("valida", sa.Boolean, nullable=False),
    # Set when a sale seen valid becomes invalid
    # (docs/decisions.md#d-01-a-sale-is-valid-when-its-nature-is-a-sale-and-it-has-value); cleared
    # if it becomes valid again.
    sa.Column("cancelada", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("data_cancelamento", Timestamp, nullable=True),
    # Bumped each time a cancelled sale becomes valid again, so its effects (keyed by sale and
    # revision) happen again exactly once.
    sa.Column("validade_revisao", sa.Integer, nullable=False, server_default="0"),
    # Bumped each time the ERP edits the value of a valid sale, so what it earned is decided
    # again (the old accrual reversed, the new one accrued) exactly once per revision.
    sa.Column("conteudo_revisao", sa.Integer, nullable=False, server_default="0"),
    # A sale the ERP stopped listing: since when its complete answers for the day lack it
    # (cleared when it is listed again), and once that is confirmed, when it was removed and
    # why (its effects are then reversed like a cancellation's; it comes back as a new
    # revision if it reappears).
    sa.Column("ausente_desde", Timestamp, nullable=True),
    sa.Column("data_remocao", Timestamp, nullable=True),
    sa.Column("remocao_motivo", sa.Text, nullable=True),
    # Hash of the sale's ERP content (fields and items): unchanged content is never rewritten.
    sa.Column("hash_conteudo", sa.Text, nullable=False),
    sa.Column("extracao_id", sa.Uuid, nullable=True),
    sa.Column("atribuicao_campanha_id", sa.Uuid, nullable=True),
    sa.Column("atribuicao_interacao_id", sa.Uuid, nullable=True),
    inserted_at_column(),
    updated_at_column(),
    sa.UniqueConstraint("organizacao_id", "integracao_tipo", "id_externo"),
    # The target of sale_items' (venda_id, organizacao_id) key.
    sa.UniqueConstraint("id", "organizacao_id"),
    sa.Index("ix_sales_organizacao_id_data_referencia", "organizacao_id", "data_referencia"),
    sa.Index("ix_sales_cliente_id", "cliente_id"),
    # The days with sales whose absence awaits a second ERP answer (the schedule syncs them).
    sa.Index(
        "ix_sales_ausencia_a_confirmar",
        "organizacao_id",
        "data_referencia",
        postgresql_where=sa.text("ausente_desde IS NOT NULL AND data_remocao IS NULL"),
    ),
)

sale_items = sa.Table(
    "sale_items",
    metadata,
    id_column(),
    # The organization is checked through the sale and the product (composite keys below): an
    # item cannot point at another organization's sale or product, with two checks per row.
    sa.Column("organizacao_id", sa.Text, nullable=False),
    sa.Column("venda_id", sa.Uuid, nullable=False),
    # Position of the item in the ERP's list (1-based): the line's natural key inside its sale.
    sa.Column("linha", sa.Integer, nullable=False),
    sa.Column("produto_id", sa.Uuid, nullable=False),
    sa.Column("quantidade", Quantity, nullable=False),
    sa.Column("valor_unitario", UnitPrice, nullable=False),
    sa.Column("valor_venda_total_bruto", Money, nullable=False),
    sa.Column("valor_total_desconto", Money, nullable=False),
    sa.Column("valor_venda_total_liquido", Money, nullable=False),
    sa.Column("valor_custo_unitario", UnitPrice, nullable=False),
    sa.Column("valor_custo_total", Money, nullable=False),
    sa.Column("metadados", JSONB, nullable=True),
    inserted_at_column(),
    updated_at_column(),
    sa.UniqueConstraint("venda_id", "linha"),
    sa.ForeignKeyConstraint(
        ["venda_id", "organizacao_id"], ["sales.id", "sales.organizacao_id"], ondelete="CASCADE"
    ),
    sa.ForeignKeyConstraint(
        ["produto_id", "organizacao_id"], ["products.id", "products.organizacao_id"]
    ),
    sa.Index("ix_sale_items_organizacao_id_produto_id", "organizacao_id", "produto_id"),
)

client_locations = sa.Table(
    "client_locations",
    metadata,
    id_column(),
    organization_column(),
    sa.Column(
        "cliente_id", sa.Uuid, sa.ForeignKey("clients.id", ondelete="CASCADE"), nullable=False
    ),
    # Hash of the normalized address: one row per real address of a client.
    sa.Column("chave", sa.Text, nullable=False),
    sa.Column("logradouro", sa.Text, nullable=False),
    sa.Column("numero", sa.Text, nullable=True),
    sa.Column("complemento", sa.Text, nullable=True),
    sa.Column("bairro", sa.Text, nullable=True),
    sa.Column("cidade", sa.Text, nullable=True),
    sa.Column("estado", sa.Text, nullable=True),
    sa.Column("cep", sa.Text, nullable=True),
    sa.Column("referencia", sa.Text, nullable=True),
    sa.Column("latitude", sa.Text, nullable=True),
    sa.Column("longitude", sa.Text, nullable=True),
    sa.Column("integracao_tipo", sa.Text, nullable=False),
    sa.Column("ultima_venda_data", Timestamp, nullable=True),
    inserted_at_column(),
    updated_at_column(),
    sa.UniqueConstraint("organizacao_id", "cliente_id", "chave"),
)

erp_raw_extracts = sa.Table(
    "erp_raw_extracts",
    metadata,
    id_column(),
    organization_column(),
    sa.Column("data_referencia", sa.Date, nullable=False),
    sa.Column("integracao_tipo", sa.Text, nullable=False),
    # The request without its secrets (the token is never stored).
    sa.Column("requisicao", JSONB, nullable=False),
    sa.Column("status_http", sa.Integer, nullable=False),
    sa.Column("hash_conteudo", sa.Text, nullable=False),
    # The response body exactly as received, parseable or not, gzip-compressed (a busy day's
    # response is ~50 MB of JSON; `gunzip` reads it). Stored EXTERNAL: no second compression.
    sa.Column("conteudo_gzip", sa.LargeBinary, nullable=False),
    # Read when stored: how many records the response holds, or why it cannot be read (not a
    # list of sales at all); both NULL for a response stored before it was read.
    sa.Column("registros", sa.Integer, nullable=True),
    sa.Column("erro_leitura", sa.Text, nullable=True),
    sa.Column("tamanho_bytes", sa.Integer, nullable=False),
    sa.Column("primeira_captura_em", Timestamp, nullable=False, server_default=sa.func.now()),
    sa.Column("ultima_captura_em", Timestamp, nullable=False, server_default=sa.func.now()),
    sa.Column("capturas", sa.Integer, nullable=False, server_default="1"),
    # The same response seen again only bumps ultima_captura_em: one row per distinct content.
    sa.UniqueConstraint("organizacao_id", "data_referencia", "integracao_tipo", "hash_conteudo"),
    sa.Index(
        "ix_erp_raw_extracts_latest",
        "organizacao_id",
        "data_referencia",
        sa.text("ultima_captura_em DESC"),
    ),
)

erp_quarantine = sa.Table(
    "erp_quarantine",
    metadata,
    id_column(),
    organization_column(),
    sa.Column("data_referencia", sa.Date, nullable=False),
    sa.Column("integracao_tipo", sa.Text, nullable=False),
    sa.Column("extracao_id", sa.Uuid, nullable=False),
    sa.Column("id_externo", sa.Text, nullable=True),
    sa.Column("campo", sa.Text, nullable=True),
    sa.Column("motivo", sa.Text, nullable=False),
    # The record as JSON; when JSONB cannot hold it (a NUL, NaN, a lone surrogate, deep
    # nesting), its JSON text as bytes in registro_bruto instead: quarantine refuses nothing.
    sa.Column("registro", JSONB, nullable=True),
    sa.Column("registro_bruto", sa.LargeBinary, nullable=True),
    sa.Column("hash_registro", sa.Text, nullable=False),
    sa.Column("primeira_ocorrencia_em", Timestamp, nullable=False, server_default=sa.func.now()),
    sa.Column("ultima_ocorrencia_em", Timestamp, nullable=False, server_default=sa.func.now()),
    sa.UniqueConstraint("organizacao_id", "data_referencia", "integracao_tipo", "hash_registro"),
)

# Staging: the normalized, validated sales of the latest extract of one org x day. The
# normalization step replaces an org x day's rows; the entity and sales steps read them with
# set-based SQL. Not CRM data: it can always be rebuilt from erp_raw_extracts, so it is
# UNLOGGED (no WAL; a crash empties the staging tables together and the next run restages).
erp_staging_extracts = sa.Table(
    "erp_staging_extracts",
    metadata,
    organization_column(primary_key=True),
    sa.Column("data_referencia", sa.Date, primary_key=True),
    sa.Column("extracao_id", sa.Uuid, nullable=False),
    sa.Column("hash_conteudo", sa.Text, nullable=False),
    sa.Column("registros_recebidos", sa.Integer, nullable=False),
    sa.Column("registros_validos", sa.Integer, nullable=False),
    sa.Column("registros_quarentena", sa.Integer, nullable=False),
    sa.Column("linhas_troco_descartadas", sa.Integer, nullable=False),
    # The day's products, each code once (staging.PRODUCT_FIELDS), for the entity step.
    sa.Column("produtos", postgresql.JSON, nullable=False),
    # Whether the extract lists every sale of the day (the connector says so and no record
    # without an id was quarantined), and the ids it lists that are not staged (quarantined,
    # pending): together with the staged ones, the sales present at the ERP.
    sa.Column("resposta_completa", sa.Boolean, nullable=False),
    sa.Column("ids_nao_carregados", postgresql.JSON, nullable=False),
    sa.Column("normalizado_em", Timestamp, nullable=False, server_default=sa.func.now()),
    # The staged content (hash_conteudo) each later step last completed for: a step whose
    # predecessor has not run on the current staging refuses to run (db/sync_progress.py).
    sa.Column("entidades_hash_conteudo", sa.Text, nullable=True),
    sa.Column("vendas_hash_conteudo", sa.Text, nullable=True),
    sa.Column("cashback_hash_conteudo", sa.Text, nullable=True),
    # The staged content a whole sync run (every step of the graph) last completed for, as
    # `recompra sync` records it: its change check when no Dagster history is there to ask.
    sa.Column("sincronizacao_hash_conteudo", sa.Text, nullable=True),
    prefixes=["UNLOGGED"],
)

erp_staging_sales = sa.Table(
    "erp_staging_sales",
    metadata,
    organization_column(primary_key=True),
    sa.Column("data_referencia", sa.Date, primary_key=True),
    sa.Column("id_externo", sa.Text, primary_key=True),
    sa.Column("integracao_tipo", sa.Text, nullable=False),
    sa.Column("cliente_nome", sa.Text, nullable=True),
    sa.Column("cliente_nome_chave", sa.Text, nullable=True),
    sa.Column("cliente_telefone", sa.Text, nullable=True),
    sa.Column("cliente_telefone_base", sa.Text, nullable=True),
    sa.Column("cliente_telefone_e164", sa.Text, nullable=True),
    sa.Column("cliente_id_externo", sa.Text, nullable=True),
    sa.Column("vendedor_nome", sa.Text, nullable=False),
    sa.Column("vendedor_identificador", sa.Text, nullable=True),
    sa.Column("parceiro", sa.Text, nullable=False),
    sa.Column("parceiro_identificador", sa.Text, nullable=True),
    # Masked; its digits are parceiro_identificador.
    sa.Column("parceiro_cpf_cnpj", sa.Text, nullable=True),
    sa.Column("valor_total", Money, nullable=False),
    sa.Column("custo_total", Money, nullable=False),
    sa.Column("itens_valor_liquido", Money, nullable=False),
    sa.Column("documento", sa.Text, nullable=False),
    sa.Column("modelo", sa.Text, nullable=False),
    sa.Column("serie", sa.Text, nullable=False),
    sa.Column("movimento", sa.Text, nullable=False),
    sa.Column("natureza", sa.Text, nullable=False),
    sa.Column("tipo", sa.Text, nullable=True),
    sa.Column("situacao", sa.Text, nullable=False),
    sa.Column("chave", sa.Text, nullable=False),
    sa.Column("canal", sa.Text, nullable=True),
    sa.Column("entrega_modalidade", sa.Text, nullable=True),
    sa.Column("valor_desconto", Money, nullable=True),
    sa.Column("valor_taxa_entrega", Money, nullable=True),
    sa.Column("valor_taxa_servico", Money, nullable=True),
    sa.Column("valor_taxa_adicional", Money, nullable=True),
    sa.Column("descontos", JSONB, nullable=True),
    sa.Column("pagamentos", JSONB, nullable=True),
    # The delivery address (with its matching key), for the buyer's client locations.
    sa.Column("entrega_endereco", JSONB, nullable=True),
    sa.Column("data_venda", Timestamp, nullable=False),
    sa.Column("data_venda_precisao", sa.Text, nullable=False),
    sa.Column("valida", sa.Boolean, nullable=False),
    sa.Column("hash_conteudo", sa.Text, nullable=False),
    # Filled by the entity step (client matching); read by the sales step.
    sa.Column("cliente_id", sa.Uuid, nullable=True),
    # The sale's items, one JSON object per line (staging.ITEM_FIELDS), expanded by SQL.
    sa.Column("itens", postgresql.JSON, nullable=False),
    prefixes=["UNLOGGED"],
)
