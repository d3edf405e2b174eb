"""Shared fixtures: a real PostgreSQL (RECOMPRA_TEST_DATABASE_URL's server, else an embedded
one), one database per test process migrated by Alembic; the ERP simulator on loopback; Dagster
test instances.

`make test` runs the suite on parallel workers (pytest-xdist). Each worker is its own process with
its own database, simulators on free ports, Dagster instances in their own temporary
DAGSTER_HOME, and environment. Without RECOMPRA_TEST_DATABASE_URL the controller starts one
embedded server for all workers (one server is cheaper than one per worker, and two pgserver
handles on one data directory must not race to initialise it) and stops it when they are done.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator

import dagster as dg
import pytest
import sqlalchemy as sa

from recompra_pipelines.db.engine import (
    DATABASE_URL_ENV,
    create_crm_engine,
    ensure_database,
    temporary_embedded_server,
    with_psycopg_driver,
)
from recompra_pipelines.db.migrate import upgrade
from recompra_pipelines_tests import no_skips
from recompra_pipelines_tests.dagster_instance import in_memory_instance

TEST_DATABASE_URL_ENV = "RECOMPRA_TEST_DATABASE_URL"
# The key under which the xdist controller hands its embedded server's URL to the workers.
EMBEDDED_SERVER_URL = "recompra_embedded_server_url"
# The controller's embedded server: what stops it, and its URL.
_shared_server = pytest.StashKey[tuple[contextlib.ExitStack, str]]()
# Sync-graph runs in tests send no WhatsApp message unless a test enables it, and nothing in a
# test run can reach Meta.
os.environ.setdefault("RECOMPRA_WHATSAPP_DISPATCH", "off")
os.environ.setdefault("WHATSAPP_GRAPH_URL", "http://127.0.0.1:9")


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(no_skips, "recompra-no-skips")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """xdist controller, before each worker starts: share one embedded server among them."""
    if os.environ.get(TEST_DATABASE_URL_ENV):
        return
    config = node.config
    if _shared_server not in config.stash:
        stack = contextlib.ExitStack()
        config.stash[_shared_server] = stack, stack.enter_context(temporary_embedded_server())
    node.workerinput[EMBEDDED_SERVER_URL] = config.stash[_shared_server][1]


def pytest_unconfigure(config: pytest.Config) -> None:
    if _shared_server in config.stash:
        config.stash[_shared_server][0].close()


@pytest.fixture(scope="session")
def database_server_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The server this process's database lives on."""
    shared = getattr(request.config, "workerinput", {}).get(EMBEDDED_SERVER_URL)
    configured = os.environ.get(TEST_DATABASE_URL_ENV) or shared
    if configured:
        yield with_psycopg_driver(configured)
        return
    with temporary_embedded_server() as url:
        yield url


@pytest.fixture(scope="session")
def database_url(database_server_url: str) -> Iterator[str]:
    """A fresh database for this test process, migrated to the latest revision."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"recompra_test_{worker}_{secrets.token_hex(4)}"
    url = ensure_database(database_server_url, name)
    admin = sa.create_engine(
        database_server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
    )
    with admin.connect() as conn:
        # A commit need not wait for its WAL flush here: nothing is kept after the session,
        # and visibility, locks and isolation are unchanged. On a machine whose disk is busy
        # (parallel workers, other suites) the flush is most of a small transaction's time.
        conn.execute(sa.text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    upgrade(url)
    os.environ[DATABASE_URL_ENV] = url
    yield url
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
    with in_memory_instance() as instance:
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
