"""The ERP's catalog into the CRM: its raw response stored first, then products, add-on groups,
options and product-group links upserted on their natural keys.

Products are keyed by code like everywhere else (`products (organizacao_id, codigo)`), so a
product an order created is the same row the catalog completes, and the reverse. The catalog
is authoritative for what it says (active, description, picture, price, unit, group, kind,
stock); a row is rewritten only when one of those changed, with the time of that sync. What
left the catalog is made inactive, never deleted: sales and chats refer to it. A catalog with
unreadable entries deactivates nothing (the unreadable one may be the "missing" one)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from recompra_pipelines.connectors.extract import RawExtract
from recompra_pipelines.db.extracts import compress_extract
from recompra_pipelines.db.tables.catalog import erp_catalog_extracts
from recompra_pipelines.domain.catalog import Catalog


@dataclass(frozen=True)
class CatalogCounts:
    products: int  # in the catalog (combos aside)
    products_inserted: int
    products_updated: int
    products_deactivated: int
    add_ons_written: int
    options_written: int
    references_written: int
    references_removed: int
    combos_skipped: int
    rejected: int


def store_catalog_extract(
    conn: sa.Connection, org_id: str, integration_type: str, raw: RawExtract
) -> UUID:
    """One row per distinct catalog response; seeing it again bumps its capture time."""
    body = raw.text.encode()
    statement = insert(erp_catalog_extracts).values(
        organizacao_id=org_id,
        integracao_tipo=integration_type,
        status_http=raw.status_code,
        hash_conteudo=raw.content_hash,
        conteudo_gzip=compress_extract(body),
        tamanho_bytes=len(body),
    )
    return conn.execute(
        statement.on_conflict_do_update(
            constraint="uq_erp_catalog_extracts_conteudo",
            set_={
                "ultima_captura_em": sa.func.now(),
                "capturas": erp_catalog_extracts.c.capturas + 1,
            },
        ).returning(erp_catalog_extracts.c.id)
    ).scalar_one()


PRODUCT_COLUMNS = (
    "codigo", "id_externo", "ativo", "descricao", "imagem_capa_url", "preco_venda", "unidade",
    "grupo", "tipo", "quantidade",
)  # fmt: skip
_CATALOG_FACTS = [c for c in PRODUCT_COLUMNS if c != "codigo"]

UPSERT_PRODUCTS = f"""
WITH upserted AS (
    INSERT INTO products AS p (organizacao_id, {", ".join(PRODUCT_COLUMNS)}, data_ultima_sincronizacao)
    SELECT :org, {", ".join(f"u.{c}" for c in PRODUCT_COLUMNS)}, :now
    FROM unnest(CAST(:codigo AS text[]), CAST(:id_externo AS text[]), CAST(:ativo AS boolean[]),
                CAST(:descricao AS text[]), CAST(:imagem_capa_url AS text[]),
                CAST(:preco_venda AS numeric[]), CAST(:unidade AS text[]), CAST(:grupo AS text[]),
                CAST(:tipo AS text[]), CAST(:quantidade AS numeric[]))
         AS u({", ".join(PRODUCT_COLUMNS)})
    ON CONFLICT (organizacao_id, codigo) DO UPDATE SET
        {", ".join(f"{c} = excluded.{c}" for c in _CATALOG_FACTS)},
        data_ultima_sincronizacao = excluded.data_ultima_sincronizacao,
        data_atualizacao = now()
    WHERE ({", ".join(f"p.{c}" for c in _CATALOG_FACTS)})
          IS DISTINCT FROM ({", ".join(f"excluded.{c}" for c in _CATALOG_FACTS)})
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upserted
"""

# Products the catalog kept before and no longer lists.
DEACTIVATE_PRODUCTS = """
UPDATE products SET ativo = false, data_ultima_sincronizacao = :now, data_atualizacao = now()
WHERE organizacao_id = :org AND id_externo IS NOT NULL AND ativo
  AND NOT (codigo = ANY(CAST(:codes AS text[])))
"""

UPSERT_ADD_ONS = """
INSERT INTO product_add_ons AS a (organizacao_id, id_externo, nome, min_opcoes, max_opcoes, ativo)
SELECT :org, u.* FROM unnest(CAST(:id_externo AS text[]), CAST(:nome AS text[]),
     CAST(:min_opcoes AS int[]), CAST(:max_opcoes AS int[]), CAST(:ativo AS boolean[]))
     AS u(id_externo, nome, min_opcoes, max_opcoes, ativo)
ON CONFLICT (organizacao_id, id_externo) DO UPDATE SET
    nome = excluded.nome, min_opcoes = excluded.min_opcoes, max_opcoes = excluded.max_opcoes,
    ativo = excluded.ativo, data_atualizacao = now()
WHERE (a.nome, a.min_opcoes, a.max_opcoes, a.ativo)
      IS DISTINCT FROM (excluded.nome, excluded.min_opcoes, excluded.max_opcoes, excluded.ativo)
"""

UPSERT_OPTIONS = """
INSERT INTO product_add_on_options AS o (organizacao_id, produto_add_on_id, id_externo, nome,
    codigo, preco_delta, max_qtde_por_item, ativo)
SELECT :org, a.id, u.id_externo, u.nome, u.codigo, u.preco_delta, u.max_qtde_por_item, u.ativo
FROM unnest(CAST(:grupo AS text[]), CAST(:id_externo AS text[]), CAST(:nome AS text[]),
     CAST(:codigo AS text[]), CAST(:preco_delta AS numeric[]), CAST(:max_qtde_por_item AS int[]),
     CAST(:ativo AS boolean[]))
     AS u(grupo, id_externo, nome, codigo, preco_delta, max_qtde_por_item, ativo)
JOIN product_add_ons a ON a.organizacao_id = :org AND a.id_externo = u.grupo
ON CONFLICT (organizacao_id, produto_add_on_id, id_externo) DO UPDATE SET
    nome = excluded.nome, codigo = excluded.codigo, preco_delta = excluded.preco_delta,
    max_qtde_por_item = excluded.max_qtde_por_item, ativo = excluded.ativo,
    data_atualizacao = now()
WHERE (o.nome, o.codigo, o.preco_delta, o.max_qtde_por_item, o.ativo)
      IS DISTINCT FROM (excluded.nome, excluded.codigo, excluded.preco_delta,
                        excluded.max_qtde_por_item, excluded.ativo)
"""

# Groups and options the catalog no longer lists: inactive too.
DEACTIVATE_ADD_ONS = """
UPDATE product_add_ons SET ativo = false, data_atualizacao = now()
WHERE organizacao_id = :org AND ativo AND NOT (id_externo = ANY(CAST(:add_ons AS text[])))
"""
DEACTIVATE_OPTIONS = """
UPDATE product_add_on_options o SET ativo = false, data_atualizacao = now()
FROM product_add_ons a
WHERE o.organizacao_id = :org AND a.id = o.produto_add_on_id AND o.ativo
  AND NOT EXISTS (SELECT 1 FROM unnest(CAST(:grupos AS text[]), CAST(:opcoes AS text[])) AS k(grupo, opcao)
                  WHERE k.grupo = a.id_externo AND k.opcao = o.id_externo)
"""

UPSERT_REFERENCES = """
WITH wanted AS (
    SELECT p.id AS produto_id, a.id AS produto_add_on_id, u.ordem
    FROM unnest(CAST(:codigo AS text[]), CAST(:grupo AS text[]), CAST(:ordem AS int[]))
         AS u(codigo, grupo, ordem)
    JOIN products p ON p.organizacao_id = :org AND p.codigo = u.codigo
    JOIN product_add_ons a ON a.organizacao_id = :org AND a.id_externo = u.grupo
)
INSERT INTO product_add_on_references AS r (organizacao_id, produto_id, produto_add_on_id, ordem)
SELECT :org, produto_id, produto_add_on_id, ordem FROM wanted
ON CONFLICT (produto_id, produto_add_on_id) DO UPDATE SET ordem = excluded.ordem,
    data_atualizacao = now()
WHERE r.ordem IS DISTINCT FROM excluded.ordem
"""

# A listed product's links to groups it no longer offers.
REMOVE_REFERENCES = """
DELETE FROM product_add_on_references r
USING products p, product_add_ons a
WHERE r.organizacao_id = :org AND p.id = r.produto_id AND a.id = r.produto_add_on_id
  AND p.codigo = ANY(CAST(:codes AS text[]))
  AND NOT EXISTS (SELECT 1 FROM unnest(CAST(:codigo AS text[]), CAST(:grupo AS text[])) AS k(c, g)
                  WHERE k.c = p.codigo AND k.g = a.id_externo)
"""


def apply_catalog(
    conn: sa.Connection, org_id: str, catalog: Catalog, now: datetime
) -> CatalogCounts:
    """Write the catalog (the caller holds the organization lock)."""
    products = list(catalog.products.values())
    params = {"org": org_id, "now": now}
    inserted, updated = conn.execute(
        sa.text(UPSERT_PRODUCTS),
        {
            **params,
            "codigo": [p.code for p in products],
            "id_externo": [p.external_id for p in products],
            "ativo": [p.active for p in products],
            "descricao": [p.description for p in products],
            "imagem_capa_url": [p.image_url for p in products],
            "preco_venda": [p.price for p in products],
            "unidade": [p.unit for p in products],
            "grupo": [p.group for p in products],
            "tipo": [p.kind for p in products],
            "quantidade": [p.stock for p in products],
        },
    ).one()
    add_ons = list(catalog.add_ons.values())
    add_ons_written = conn.execute(
        sa.text(UPSERT_ADD_ONS),
        {
            **params,
            "id_externo": [a.external_id for a in add_ons],
            "nome": [a.name for a in add_ons],
            "min_opcoes": [a.min_options for a in add_ons],
            "max_opcoes": [a.max_options for a in add_ons],
            "ativo": [a.active for a in add_ons],
        },
    ).rowcount
    options = list(catalog.options.values())
    options_written = conn.execute(
        sa.text(UPSERT_OPTIONS),
        {
            **params,
            "grupo": [o.add_on_external_id for o in options],
            "id_externo": [o.external_id for o in options],
            "nome": [o.name for o in options],
            "codigo": [o.code for o in options],
            "preco_delta": [o.price_delta for o in options],
            "max_qtde_por_item": [o.max_per_item for o in options],
            "ativo": [o.active for o in options],
        },
    ).rowcount
    references = list(catalog.references.values())
    links = {
        **params,
        "codigo": [r.product_code for r in references],
        "grupo": [r.add_on_external_id for r in references],
        "ordem": [r.order for r in references],
        "codes": [p.code for p in products],
    }
    references_written = conn.execute(sa.text(UPSERT_REFERENCES), links).rowcount
    references_removed = conn.execute(sa.text(REMOVE_REFERENCES), links).rowcount
    deactivated = 0
    if catalog.complete:
        deactivated = conn.execute(
            sa.text(DEACTIVATE_PRODUCTS), {**params, "codes": [p.code for p in products]}
        ).rowcount
        conn.execute(
            sa.text(DEACTIVATE_ADD_ONS), {**params, "add_ons": [a.external_id for a in add_ons]}
        )
        conn.execute(
            sa.text(DEACTIVATE_OPTIONS),
            {
                **params,
                "grupos": [o.add_on_external_id for o in options],
                "opcoes": [o.external_id for o in options],
            },
        )
    return CatalogCounts(
        products=len(products),
        products_inserted=inserted,
        products_updated=updated,
        products_deactivated=deactivated,
        add_ons_written=add_ons_written,
        options_written=options_written,
        references_written=references_written,
        references_removed=references_removed,
        combos_skipped=catalog.combos_skipped,
        rejected=len(catalog.rejected),
    )
