"""Shared fixtures: a real PostgreSQL (RECOMPRA_TEST_DATABASE_URL's server, else an embedded
one), migrated by Alembic; the ERP simulator on loopback; Dagster test instances."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from recompra_pipelines.db.engine import create_crm_engine, ensure_database, with_psycopg_driver
from recompra_pipelines.db.migrate import upgrade

TEST_DATABASE_URL_ENV = "RECOMPRA_TEST_DATABASE_URL"
# Sync-graph runs in tests send no WhatsApp message unless a test enables it, and nothing in a
# test run can reach Meta.
os.environ.setdefault("RECOMPRA_WHATSAPP_DISPATCH", "off")
os.environ.setdefault("WHATSAPP_GRAPH_URL", "http://127.0.0.1:9")


@pytest.fixture(scope="session")
def database_server_url() -> Iterator[str]:
    configured = os.environ.get(TEST_DATABASE_URL_ENV)
    if configured:
        yield with_psycopg_driver(configured)
        return
    import pgserver

    with tempfile.TemporaryDirectory(prefix="recompra-test-pg-") as directory:
        server = pgserver.get_server(Path(directory) / "pgdata", cleanup_mode="delete")
        yield with_psycopg_driver(server.get_uri("postgres"))
        server.cleanup()


@pytest.fixture(scope="session")
def database_url(database_server_url: str) -> Iterator[str]:
    """A fresh database for this test session, migrated to the latest revision."""
    name = f"recompra_test_{secrets.token_hex(4)}"
    url = ensure_database(database_server_url, name)
    upgrade(url)
    os.environ["RECOMPRA_DATABASE_URL"] = url
    yield url
    admin = sa.create_engine(
        database_server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = create_crm_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def erp_simulator():
    """The Online Software simulator on a free loopback port: (simulator, base URL)."""
    from recompra_pipelines.simulators.erp_online_software import OnlineSoftwareSimulator

    simulator = OnlineSoftwareSimulator()
    with simulator.run_in_thread() as base_url:
        yield simulator, base_url


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture(scope="module")
def receiver(engine, database_url):
    """The WhatsApp webhook receiver on a free loopback port, storing into the test database;
    yields its webhook URL (``…/webhooks/whatsapp``)."""
    from recompra_pipelines.messaging.webhook_receiver import (
        WEBHOOK_PATH,
        ReceiverSettings,
        create_app,
    )
    from recompra_pipelines.simulators.serving import serve_in_thread
    from recompra_pipelines_tests.messaging.support import APP_SECRET, VERIFY_TOKEN

    settings = ReceiverSettings(APP_SECRET, VERIFY_TOKEN, database_url)
    with serve_in_thread(create_app(settings, engine), name="webhook receiver") as base:
        yield base + WEBHOOK_PATH
