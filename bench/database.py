"""A throwaway CRM database for one benchmark run.

RECOMPRA_BENCH_DATABASE_URL names a PostgreSQL server: a fresh `recompra_bench_<hex>` database
is created on it and dropped at the end. Without it, an embedded pgserver runs in a temp dir.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from recompra_pipelines.db.engine import ensure_database, with_psycopg_driver
from recompra_pipelines.db.migrate import upgrade

BENCH_DATABASE_URL_ENV = "RECOMPRA_BENCH_DATABASE_URL"


@dataclass(frozen=True)
class BenchDatabase:
    url: str  # may hold a password: never print it
    server: str  # what to print instead
    name: str


@contextlib.contextmanager
def bench_database() -> Iterator[BenchDatabase]:
    with _server() as (server_url, description):
        name = f"recompra_bench_{secrets.token_hex(4)}"
        url = ensure_database(server_url, name)
        try:
            upgrade(url)
            yield BenchDatabase(url=url, server=description, name=name)
        finally:
            admin = sa.create_engine(
                server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
            )
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


@contextlib.contextmanager
def _server() -> Iterator[tuple[str, str]]:
    configured = os.environ.get(BENCH_DATABASE_URL_ENV)
    if configured:
        url = sa.make_url(with_psycopg_driver(configured))
        yield (
            url.render_as_string(hide_password=False),
            (f"{BENCH_DATABASE_URL_ENV} ({url.host or 'local socket'}:{url.port or 5432})"),
        )
        return
    import pgserver

    with tempfile.TemporaryDirectory(prefix="recompra-bench-pg-") as directory:
        server = pgserver.get_server(Path(directory) / "pgdata", cleanup_mode="delete")
        try:
            yield with_psycopg_driver(server.get_uri("postgres")), "embedded pgserver (temp dir)"
        finally:
            server.cleanup()
