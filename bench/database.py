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
class BenchServer:
    url: str  # may hold a password: never print it
    description: str  # what to print instead
    postmaster_pid: int | None  # the embedded server's; None for a configured one


@dataclass(frozen=True)
class BenchDatabase:
    url: str  # may hold a password: never print it
    server: str  # what to print instead
    name: str


@contextlib.contextmanager
def bench_database() -> Iterator[BenchDatabase]:
    with bench_server() as server, fresh_database(server, "recompra_bench") as url:
        upgrade(url)
        yield BenchDatabase(url=url, server=server.description, name=sa.make_url(url).database)


@contextlib.contextmanager
def fresh_database(server: BenchServer, prefix: str) -> Iterator[str]:
    """A new empty database `<prefix>_<hex>` on the server, dropped on exit; yields its URL."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    url = ensure_database(server.url, name)
    try:
        yield url
    finally:
        admin = sa.create_engine(
            server.url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
        )
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def bench_server() -> Iterator[BenchServer]:
    configured = os.environ.get(BENCH_DATABASE_URL_ENV)
    if configured:
        url = sa.make_url(with_psycopg_driver(configured))
        yield BenchServer(
            url=url.render_as_string(hide_password=False),
            description=f"{BENCH_DATABASE_URL_ENV} ({url.host or 'local socket'}:{url.port or 5432})",
            postmaster_pid=None,
        )
        return
    import pgserver

    with tempfile.TemporaryDirectory(prefix="recompra-bench-pg-") as directory:
        server = pgserver.get_server(Path(directory) / "pgdata", cleanup_mode="delete")
        try:
            yield BenchServer(
                url=with_psycopg_driver(server.get_uri("postgres")),
                description="embedded pgserver (temp dir)",
                postmaster_pid=server.get_pid(),
            )
        finally:
            server.cleanup()
