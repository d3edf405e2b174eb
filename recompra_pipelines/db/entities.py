"""Entity upserts of one org x day from staging: clients, sellers, partners, products.

Set-based: one statement per entity kind, whatever the number of sales. Entities keep what
was first seen (a backfill of an old day must not roll names back) and only gain missing
details; unchanged data writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

import sqlalchemy as sa

from recompra_pipelines.db.bulk import allow_day_sized_sorts, analyze_after_bulk_write, copy_rows
from recompra_pipelines.db.client_locations import upsert_client_locations
from recompra_pipelines.db.ordering import client_order
from recompra_pipelines.db.staging import staged_products
from recompra_pipelines.db.tables.sync import document_digits
from recompra_pipelines.domain.client_matching import ClientEvidence, KnownClient, match_clients
from recompra_pipelines.domain.names import name_match_key

# Partners' own client records, created when no client holds the partner's document
# (docs/business-rules.md#partner-cashback).
PARTNER_CLIENT_NAME = "NÃO DEFINIDO"
PARTNER_ACQUISITION_CHANNEL = "PARCEIRO"


@dataclass(frozen=True)
class EntityCounts:
    clients_inserted: int
    clients_phone_added: int
    sales_with_client: int
    anonymous_sales: int
    sellers_inserted: int
    partners_inserted: int
    partner_clients_inserted: int
    products_inserted: int
    products_completed: int
    client_locations_inserted: int = 0


def upsert_entities(conn: sa.Connection, org_id: str, day: date) -> EntityCounts:
    allow_day_sized_sorts(conn)
    sellers = _upsert_sellers(conn, org_id, day)
    partner_clients, partners = _upsert_partners(conn, org_id, day)
    products_inserted, products_completed = _upsert_products(conn, org_id, day)
    clients = _resolve_clients(conn, org_id, day)
    locations = upsert_client_locations(conn, org_id, day)
    return EntityCounts(
        clients_inserted=clients["inserted"],
        clients_phone_added=clients["phone_added"],
        sales_with_client=clients["with_client"],
        anonymous_sales=clients["anonymous"],
        sellers_inserted=sellers,
        partners_inserted=partners,
        partner_clients_inserted=partner_clients,
        products_inserted=products_inserted,
        products_completed=products_completed,
        client_locations_inserted=locations,
    )


def _staged(alias: str = "") -> str:
    """The staged rows of the org x day being synced (bind :org and :day)."""
    prefix = f"{alias}." if alias else ""
    return f"{prefix}organizacao_id = :org AND {prefix}data_referencia = :day"


STAGED = _staged()


def _upsert_sellers(conn: sa.Connection, org_id: str, day: date) -> int:
    return conn.execute(
        sa.text(
            f"""
            INSERT INTO sellers (organizacao_id, nome, identificador)
            SELECT DISTINCT ON (vendedor_identificador) organizacao_id, btrim(vendedor_nome), vendedor_identificador
            FROM erp_staging_sales
            WHERE {STAGED} AND vendedor_identificador IS NOT NULL
            ORDER BY vendedor_identificador, data_venda, id_externo
            ON CONFLICT (organizacao_id, identificador) DO NOTHING
            """
        ),
        {"org": org_id, "day": day},
    ).rowcount


def _upsert_partners(conn: sa.Connection, org_id: str, day: date) -> tuple[int, int]:
    params = {"org": org_id, "day": day}
    clients_inserted = conn.execute(
        sa.text(
            f"""
            INSERT INTO clients (organizacao_id, nome, nome_chave, cpf_cnpj, canal_aquisicao, analise_rfm_titulo)
            SELECT DISTINCT s.organizacao_id, :name, :name_key, s.parceiro_cpf_cnpj, :channel, NULL
            FROM erp_staging_sales s
            WHERE {_staged("s")} AND s.parceiro_cpf_cnpj IS NOT NULL
              AND NOT EXISTS (
                  SELECT 1 FROM clients c
                  WHERE c.organizacao_id = s.organizacao_id AND c.cpf_cnpj IS NOT NULL
                    AND {document_digits("c.cpf_cnpj")} = s.parceiro_identificador)
            ON CONFLICT (organizacao_id, cpf_cnpj) WHERE cpf_cnpj IS NOT NULL DO NOTHING
            """
        ),
        {
            **params,
            "name": PARTNER_CLIENT_NAME,
            "name_key": name_match_key(PARTNER_CLIENT_NAME),
            "channel": PARTNER_ACQUISITION_CHANNEL,
        },
    ).rowcount
    partners_inserted = conn.execute(
        sa.text(
            f"""
            INSERT INTO partners (organizacao_id, nome, identificador, codigo_afiliacao, cpf_cnpj, cliente_id)
            SELECT DISTINCT ON (s.parceiro_identificador)
                   s.organizacao_id, :name, s.parceiro_identificador, s.parceiro, s.parceiro_cpf_cnpj, c.id
            FROM erp_staging_sales s
            LEFT JOIN clients c ON c.organizacao_id = s.organizacao_id AND c.cpf_cnpj IS NOT NULL
                 AND s.parceiro_cpf_cnpj IS NOT NULL
                 AND {document_digits("c.cpf_cnpj")} = s.parceiro_identificador
            WHERE {_staged("s")} AND s.parceiro_identificador IS NOT NULL
            ORDER BY s.parceiro_identificador, s.data_venda, s.id_externo, c.data_insercao, c.id
            ON CONFLICT (organizacao_id, identificador) DO UPDATE
               SET cliente_id = excluded.cliente_id, data_atualizacao = now()
             WHERE partners.cliente_id IS NULL AND excluded.cliente_id IS NOT NULL
            """
        ),
        {**params, "name": PARTNER_CLIENT_NAME},
    ).rowcount
    return clients_inserted, partners_inserted


def _upsert_products(conn: sa.Connection, org_id: str, day: date) -> tuple[int, int]:
    rows = conn.execute(
        sa.text(
            f"""
            INSERT INTO products (organizacao_id, codigo, descricao, unidade, grupo, ncm, tipo)
            SELECT e.organizacao_id, p.codigo, p.descricao, p.unidade, p.grupo, p.ncm, p.tipo
            FROM erp_staging_extracts e, {staged_products("e")}
            WHERE {_staged("e")}
            ON CONFLICT (organizacao_id, codigo) DO UPDATE SET
                unidade = COALESCE(products.unidade, excluded.unidade),
                grupo = COALESCE(products.grupo, excluded.grupo),
                ncm = COALESCE(products.ncm, excluded.ncm),
                tipo = COALESCE(products.tipo, excluded.tipo),
                data_atualizacao = now()
            WHERE (products.unidade IS NULL AND excluded.unidade IS NOT NULL)
               OR (products.grupo IS NULL AND excluded.grupo IS NOT NULL)
               OR (products.ncm IS NULL AND excluded.ncm IS NOT NULL)
               OR (products.tipo IS NULL AND excluded.tipo IS NOT NULL)
            RETURNING (xmax = 0) AS inserted
            """
        ),
        {"org": org_id, "day": day},
    ).all()
    inserted = sum(1 for row in rows if row.inserted)
    return inserted, len(rows) - inserted


def _resolve_clients(conn: sa.Connection, org_id: str, day: date) -> dict[str, int]:
    """Match each staged sale's buyer (pure rule in domain.client_matching) and record it."""
    params = {"org": org_id, "day": day}
    staged = conn.execute(
        sa.text(
            f"""
            SELECT s.id_externo, s.cliente_nome, s.cliente_nome_chave, s.cliente_telefone,
                   s.cliente_telefone_base, s.cliente_telefone_e164, s.cliente_id_externo,
                   sa.cliente_id AS cliente_atual
            FROM erp_staging_sales s
            LEFT JOIN sales sa ON sa.organizacao_id = s.organizacao_id
             AND sa.integracao_tipo = s.integracao_tipo AND sa.id_externo = s.id_externo
            WHERE {_staged("s")} AND s.cliente_nome_chave IS NOT NULL
            ORDER BY s.data_venda, s.id_externo
            """
        ),
        params,
    ).all()
    anonymous = conn.scalar(
        sa.text(
            f"SELECT count(*) FROM erp_staging_sales WHERE {STAGED} AND cliente_nome_chave IS NULL"
        ),
        params,
    )
    records = [
        (
            row.id_externo,
            ClientEvidence(
                name=row.cliente_nome,
                name_key=row.cliente_nome_chave,
                phone=row.cliente_telefone,
                phone_base=row.cliente_telefone_base,
                phone_e164=row.cliente_telefone_e164,
                external_id=row.cliente_id_externo,
            ),
        )
        for row in staged
    ]
    stored = {row.id_externo: row.cliente_atual for row in staged if row.cliente_atual}
    match = match_clients(records, _known_clients(conn, org_id, day), previous=stored)

    new_ids = _insert_new_clients(conn, org_id, match.new_clients)
    analyze_after_bulk_write(conn, len(new_ids), "clients")
    if match.phone_fills:
        conn.execute(
            sa.text(
                """
                UPDATE clients SET telefone = :phone, telefone_base = :base, telefone_e164 = :e164,
                       data_atualizacao = now()
                WHERE id = :id AND organizacao_id = :org AND telefone_base IS NULL
                """
            ),
            [
                {
                    "phone": f.phone,
                    "base": f.phone_base,
                    "e164": f.phone_e164,
                    "id": f.client_id,
                    "org": org_id,
                }
                for f in match.phone_fills
            ],
        )
    assignments = [(key, client_id) for key, client_id in match.existing.items()]
    assignments += [(key, new_ids[index]) for key, index in match.created.items()]
    _record_assignments(conn, org_id, day, assignments)
    return {
        "inserted": len(new_ids),
        "phone_added": len(match.phone_fills),
        "with_client": len(assignments),
        "anonymous": anonymous,
    }


def _known_clients(conn: sa.Connection, org_id: str, day: date) -> list[KnownClient]:
    """Only the clients this day's sales could match: by external id, phone or name key."""
    rows = conn.execute(
        sa.text(
            f"""
            WITH staged AS (
                SELECT cliente_nome_chave, cliente_telefone_base, cliente_id_externo
                FROM erp_staging_sales WHERE {STAGED} AND cliente_nome_chave IS NOT NULL
            )
            SELECT c.id, c.nome_chave, c.telefone_base, c.id_externo
            FROM clients c
            WHERE c.organizacao_id = :org AND c.cpf_cnpj IS NULL AND (
                  c.nome_chave IN (SELECT cliente_nome_chave FROM staged)
               OR c.telefone_base IN (SELECT cliente_telefone_base FROM staged)
               OR c.id_externo IN (SELECT cliente_id_externo FROM staged))
            ORDER BY {client_order("c")}
            """
        ),
        {"org": org_id, "day": day},
    ).all()
    return [
        KnownClient(
            id=r.id, name_key=r.nome_chave, phone_base=r.telefone_base, external_id=r.id_externo
        )
        for r in rows
    ]


def _insert_new_clients(conn: sa.Connection, org_id: str, new_clients) -> list[UUID]:
    if not new_clients:
        return []
    conn.execute(
        sa.text(
            "CREATE TEMP TABLE IF NOT EXISTS tmp_new_clients (ordem int, nome text, nome_chave text, "
            "telefone text, telefone_base text, telefone_e164 text, id_externo text) ON COMMIT DROP"
        )
    )
    copy_rows(
        conn,
        "tmp_new_clients",
        ("ordem", "nome", "nome_chave", "telefone", "telefone_base", "telefone_e164", "id_externo"),
        (
            (i, c.name, c.name_key, c.phone, c.phone_base, c.phone_e164, c.external_id)
            for i, c in enumerate(new_clients)
        ),
    )
    rows = conn.execute(
        sa.text(
            """
            WITH inserted AS (
                INSERT INTO clients (organizacao_id, nome, nome_chave, telefone, telefone_base, telefone_e164, id_externo)
                SELECT :org, nome, nome_chave, telefone, telefone_base, telefone_e164, id_externo
                FROM tmp_new_clients ORDER BY ordem
                RETURNING id, nome_chave, telefone_base, id_externo
            )
            SELECT t.ordem, i.id FROM tmp_new_clients t
            JOIN inserted i ON i.nome_chave = t.nome_chave
             AND i.telefone_base IS NOT DISTINCT FROM t.telefone_base
             AND i.id_externo IS NOT DISTINCT FROM t.id_externo
            """
        ),
        {"org": org_id},
    ).all()
    ids: dict[int, UUID] = {row.ordem: row.id for row in rows}
    conn.execute(sa.text("DROP TABLE tmp_new_clients"))
    return [ids[i] for i in range(len(new_clients))]


def _record_assignments(conn: sa.Connection, org_id: str, day: date, assignments) -> None:
    """Write each staged sale's client id, touching only rows whose client changed."""
    conn.execute(
        sa.text(
            "CREATE TEMP TABLE IF NOT EXISTS tmp_client_assignments "
            "(id_externo text PRIMARY KEY, cliente_id uuid) ON COMMIT DROP"
        )
    )
    copy_rows(conn, "tmp_client_assignments", ("id_externo", "cliente_id"), assignments)
    # Temp tables have no statistics until analyzed; without them the planner loops.
    conn.execute(sa.text("ANALYZE tmp_client_assignments"))
    params = {"org": org_id, "day": day}
    conn.execute(
        sa.text(
            f"""
            UPDATE erp_staging_sales s SET cliente_id = a.cliente_id
            FROM tmp_client_assignments a
            WHERE {_staged("s")} AND s.id_externo = a.id_externo
              AND s.cliente_id IS DISTINCT FROM a.cliente_id
            """
        ),
        params,
    )
    conn.execute(
        sa.text(
            f"""
            UPDATE erp_staging_sales s SET cliente_id = NULL
            WHERE {_staged("s")} AND s.cliente_id IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM tmp_client_assignments a WHERE a.id_externo = s.id_externo)
            """
        ),
        params,
    )
    conn.execute(sa.text("DROP TABLE tmp_client_assignments"))
