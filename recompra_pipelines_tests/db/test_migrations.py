"""Migrations that move data: what was stored before is still there, byte for byte, after."""

from __future__ import annotations

import gzip
import secrets

import sqlalchemy as sa
from alembic import command

from recompra_pipelines.db.engine import ensure_database
from recompra_pipelines.db.migrate import alembic_config, upgrade

RESPONSE = '{"resultado": [{"id": "1", "cliente": "José", "valor": "10,00"}]}'


def test_raw_extracts_survive_the_gzip_migration_both_ways(database_server_url):
    name = f"recompra_migration_{secrets.token_hex(4)}"
    url = ensure_database(database_server_url, name)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        upgrade(url, "0005")
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO organizations (id, nome) VALUES ('org-m', 'M')"))
            conn.execute(
                sa.text(
                    "INSERT INTO erp_raw_extracts (organizacao_id, data_referencia, integracao_tipo,"
                    " requisicao, status_http, hash_conteudo, conteudo, tamanho_bytes)"
                    " VALUES ('org-m', '2026-11-20', 'ONLINE-SOFTWARE', '{}', 200, 'h', :text, 1)"
                ),
                {"text": RESPONSE},
            )

        upgrade(url, "0006")
        with engine.connect() as conn:
            stored = conn.scalar(sa.text("SELECT conteudo_gzip FROM erp_raw_extracts"))
        assert gzip.decompress(stored).decode() == RESPONSE

        command.downgrade(alembic_config(url), "0005")
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT conteudo FROM erp_raw_extracts")) == RESPONSE
    finally:
        engine.dispose()
        admin = sa.create_engine(
            database_server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
        )
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_stored_documents_are_masked_as_the_crm_stores_them(database_server_url):
    name = f"recompra_migration_{secrets.token_hex(4)}"
    url = ensure_database(database_server_url, name)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        upgrade(url, "0006")
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO organizations (id, nome) VALUES ('org-d', 'D')"))
            for document in (
                "12345678909",
                "11222333000181",
                "529.982.247-25",
                "52998224725",
                "123",
            ):
                conn.execute(
                    sa.text(
                        "INSERT INTO clients (organizacao_id, nome, nome_chave, cpf_cnpj)"
                        " VALUES ('org-d', 'C', 'c', :d)"
                    ),
                    {"d": document},
                )
            conn.execute(
                sa.text(
                    "INSERT INTO partners (organizacao_id, nome, identificador, codigo_afiliacao,"
                    " cpf_cnpj) VALUES ('org-d', 'P', '11222333000181', 'x', '11222333000181')"
                )
            )

        upgrade(url)

        with engine.connect() as conn:
            clients = sorted(conn.scalars(sa.text("SELECT cpf_cnpj FROM clients")))
            partner = conn.scalar(sa.text("SELECT cpf_cnpj FROM partners"))
        # The second form of 529.982.247-25 keeps its value: the unique index allows one.
        assert clients == sorted(
            ["123.456.789-09", "11.222.333/0001-81", "529.982.247-25", "52998224725", "123"]
        )
        assert partner == "11.222.333/0001-81"
    finally:
        engine.dispose()
        admin = sa.create_engine(
            database_server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
        )
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
