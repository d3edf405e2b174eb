"""Test an ERP connector plugin without editing this project (docs/adding-an-integration.md).

- `erp_server(answer)`: a loopback HTTP server standing for the ERP; `answer` builds each
  response from the request, in the ERP's own wire format, and every request is recorded.
- `crm_database()`: a fresh CRM database, migrated, dropped afterwards.
- `run_connector_day(engine, connector, integration, day)`: one organization-day through the
  real sync steps (fetch and store the raw answer, map, quarantine, match clients, load sales)
  with the connector served under its type; returns what each step reported and what the
  database then holds; a step that fails raises its `SyncError`.
- `contract_problem(connector)`: why the registry would refuse it, or None.

Everything runs for real: HTTP on 127.0.0.1, PostgreSQL (RECOMPRA_TEST_DATABASE_URL's server,
else an embedded one from the `dev` extra), the same steps the Dagster assets call.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa

from recompra_pipelines.connectors.base import Connector
from recompra_pipelines.connectors.http import FetchSettings, RetrySettings
from recompra_pipelines.connectors.registry import CONNECTORS, contract_problem
from recompra_pipelines.db.day_view import DayQuarantine, DaySale, day_quarantine, day_sales
from recompra_pipelines.db.engine import (
    create_crm_engine,
    ensure_database,
    temporary_embedded_server,
    with_psycopg_driver,
)
from recompra_pipelines.db.entities import EntityCounts
from recompra_pipelines.db.migrate import upgrade
from recompra_pipelines.db.sales_load import SalesCounts
from recompra_pipelines.orgfile.organization import OrgFile
from recompra_pipelines.orgfile_store.writer import apply_org_file
from recompra_pipelines.sync import steps
from recompra_pipelines.sync.steps import SyncError

__all__ = [
    "DayRun",
    "ErpAnswer",
    "ErpRequest",
    "LoopbackErp",
    "QUICK_FETCH",
    "SyncError",
    "contract_problem",
    "crm_database",
    "erp_server",
    "run_connector_day",
]

# The server the test databases are created on (a database of its own per `crm_database`).
TEST_DATABASE_URL_ENV = "RECOMPRA_TEST_DATABASE_URL"
# Fetch settings for tests: short deadlines and no waiting between retries, so a test of a
# failing ERP takes milliseconds (the production defaults back off for seconds).
QUICK_FETCH = FetchSettings(
    timeout_seconds=5.0,
    retry=RetrySettings(max_attempts=2, backoff_seconds=0.0, max_backoff_seconds=0.0),
    request_deadline_seconds=5.0,
    fetch_deadline_seconds=30.0,
)


# --- the ERP on loopback ------------------------------------------------------------------


@dataclass(frozen=True)
class ErpRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class ErpAnswer:
    """A response: `body` as bytes (sent as they are), text, or a JSON value."""

    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)

    def content(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


@dataclass
class LoopbackErp:
    url: str
    requests: list[ErpRequest] = field(default_factory=list)


@contextlib.contextmanager
def erp_server(answer: Callable[[ErpRequest], ErpAnswer]) -> Iterator[LoopbackErp]:
    """An HTTP server on a free 127.0.0.1 port answering every request with `answer(request)`
    (an exception in `answer` is a 500 naming it). Yields its base URL and the requests seen."""
    served = LoopbackErp(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            request = ErpRequest(
                method=self.command,
                path=parts.path,
                query={k: v[-1] for k, v in parse_qs(parts.query).items()},
                headers=dict(self.headers.items()),
                body=self.rfile.read(int(self.headers.get("Content-Length") or 0)),
            )
            with lock:
                served.requests.append(request)
            try:
                response = answer(request)
            except Exception as error:  # the test's own answer failed: say so to the client
                response = ErpAnswer(500, f"answer failed: {type(error).__name__}: {error}")
            content = response.content()
            self.send_response(response.status)
            headers = {"Content-Type": "application/json", **response.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_DELETE = _serve  # noqa: N815 (http.server's naming)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="loopback ERP", daemon=True)
    thread.start()
    served.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# --- the CRM database ---------------------------------------------------------------------


@contextlib.contextmanager
def crm_database(server_url: str | None = None) -> Iterator[sa.Engine]:
    """A new database on `server_url` (else RECOMPRA_TEST_DATABASE_URL's server, else an
    embedded PostgreSQL in a temporary directory), migrated to the latest revision; dropped
    when the block ends."""
    with contextlib.ExitStack() as stack:
        server = server_url or os.environ.get(TEST_DATABASE_URL_ENV)
        if not server:
            server = stack.enter_context(temporary_embedded_server())
        server = with_psycopg_driver(server)
        name = f"recompra_plugin_test_{secrets.token_hex(4)}"
        url = ensure_database(server, name)
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        stack.callback(admin.dispose)
        stack.callback(_drop_database, admin, name)
        upgrade(url)
        engine = create_crm_engine(url)
        stack.callback(engine.dispose)
        yield engine


def _drop_database(admin: sa.Engine, name: str) -> None:
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- one day through the sync -------------------------------------------------------------


@dataclass(frozen=True)
class DayRun:
    """What each step reported, and what the database holds for the day afterwards."""

    extract: steps.ExtractResult
    normalized: steps.NormalizeResult
    entities: EntityCounts
    loaded: SalesCounts
    # External id -> the stored sale.
    sales: dict[str, DaySale]
    quarantined: list[DayQuarantine]


def run_connector_day(
    engine: sa.Engine,
    connector: Connector,
    integration: Mapping[str, Any],
    day: date,
    *,
    org_id: str = "plugin-test",
    timezone: str = "America/Sao_Paulo",
    settings: FetchSettings = QUICK_FETCH,
    now: datetime | None = None,
) -> DayRun:
    """Sync `day` of an organization whose org file's `integration` section is `integration`
    (its `type` is the connector's), exactly as a run does: the org file is validated and
    applied (`recompra org apply`), then fetch, normalize, entities and sales. Run it again
    for a re-run; a step's SyncError propagates as a run's failure would."""
    with CONNECTORS.registered(connector):
        org = OrgFile.model_validate(
            {
                "id": org_id,
                "name": org_id,
                "timezone": timezone,
                "integration": {"type": connector.integration_type, **integration},
            }
        )
        with engine.begin() as conn:
            apply_org_file(conn, org)
        extract = steps.fetch_raw_extract(engine, org_id, day, settings)
        normalized = steps.normalize_sales(engine, org_id, day, now or datetime.now(UTC))
        entities = steps.upsert_day_entities(engine, org_id, day)
        loaded = steps.load_day_sales(engine, org_id, day)
    with engine.connect() as conn:
        return DayRun(
            extract=extract,
            normalized=normalized,
            entities=entities,
            loaded=loaded,
            sales=day_sales(conn, org_id, day),
            quarantined=day_quarantine(conn, org_id, day),
        )
