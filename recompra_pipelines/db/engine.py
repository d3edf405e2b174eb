"""Where the CRM database is: RECOMPRA_DATABASE_URL, or an embedded PostgreSQL for demo and tests.

There is one dialect, PostgreSQL. Without a URL, pgserver runs a private server under
`.recompra/pgdata` (RECOMPRA_HOME overrides `.recompra`) that keeps running between commands,
so `make demo`, the CLI and Dagster's processes all see the same data.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from recompra_pipelines.settings import DATABASE_URL, HOME

DATABASE_URL_ENV = DATABASE_URL.env
HOME_ENV = HOME.env
CRM_DATABASE_NAME = "recompra"


def recompra_home() -> Path:
    return Path(HOME.read()).resolve()


def with_psycopg_driver(url: str) -> str:
    """SQLAlchemy needs the driver spelled out; we use psycopg 3 for the CRM database."""
    for prefix in ("postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class EmbeddedDatabaseUnavailable(RuntimeError):
    """No database URL is configured and the embedded server is not installed."""


def embedded_server_uri(database: str = "postgres") -> str:
    """Start (or reuse) the embedded PostgreSQL and return a libpq URI for `database`."""
    return _embedded_server(cleanup_mode=None).get_uri(database)


def _embedded_server(*, cleanup_mode: str | None):
    """A handle on the embedded PostgreSQL under RECOMPRA_HOME, started if needed.

    pgserver comes with the `demo` extra (and `dev`, which includes it): the production image
    installs neither and always names its server, so it is imported here and nowhere else.
    """
    try:
        import pgserver
    except ImportError as missing:
        raise EmbeddedDatabaseUnavailable(
            f"{DATABASE_URL_ENV} is not set and the embedded PostgreSQL (pgserver) is not"
            f" installed: set {DATABASE_URL_ENV} to your PostgreSQL server, or install the demo"
            " extra (`pip install -e '.[demo]'`; `make demo` and `make test` install it)"
        ) from missing
    home = recompra_home()
    home.mkdir(parents=True, exist_ok=True)
    return pgserver.get_server(home / "pgdata", cleanup_mode=cleanup_mode)


@contextmanager
def temporary_embedded_server() -> Iterator[str]:
    """A PostgreSQL of its own in a temporary directory (pgserver), deleted afterwards: for
    tests, which must not share the CRM's embedded server under RECOMPRA_HOME."""
    try:
        import pgserver
    except ImportError as missing:
        raise EmbeddedDatabaseUnavailable(
            "no database server URL is given and the embedded PostgreSQL (pgserver) is not"
            " installed: install the dev extra (`pip install -e '.[dev]'`)"
        ) from missing
    with tempfile.TemporaryDirectory(prefix="recompra-test-pg-") as directory:
        server = pgserver.get_server(Path(directory) / "pgdata", cleanup_mode="delete")
        try:
            yield with_psycopg_driver(server.get_uri("postgres"))
        finally:
            server.cleanup()


def ensure_database(server_url: str, name: str) -> str:
    """Create database `name` on the server of `server_url` if missing; return its URL."""
    url = sa.make_url(with_psycopg_driver(server_url))
    engine = sa.create_engine(
        url,
        isolation_level="AUTOCOMMIT",
        poolclass=sa.pool.NullPool,
        hide_parameters=True,
        connect_args=connect_args(url),
    )
    try:
        with engine.connect() as conn:
            exists = conn.scalar(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            )
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@contextmanager
def crm_database_url(*, stop_embedded: bool) -> Iterator[str]:
    """The CRM database URL for the duration of a command. With `stop_embedded`, an embedded
    server this process starts is stopped at the end — unless another process still holds it
    (pgserver counts the processes using it), or it was already running before."""
    configured = DATABASE_URL.read()
    if configured or not stop_embedded:
        yield resolve_database_url()
        return
    already_running = _embedded_server_running(recompra_home() / "pgdata")
    server = _embedded_server(cleanup_mode=None if already_running else "stop")
    try:
        yield ensure_database(server.get_uri("postgres"), CRM_DATABASE_NAME)
    finally:
        server.cleanup()


def _embedded_server_running(pgdata: Path) -> bool:
    """Whether a postmaster already serves `pgdata` (its pid file names a live process)."""
    pid_file = pgdata / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def resolve_database_url() -> str:
    """The CRM database URL: the configured one, else the embedded server's `recompra` database."""
    configured = DATABASE_URL.read()
    if configured:
        return with_psycopg_driver(configured)
    return ensure_database(embedded_server_uri(), CRM_DATABASE_NAME)


@dataclass(frozen=True)
class DatabaseTimeouts:
    """How long anything waits on the CRM database.

    A server that accepts connections and never answers (a hung host, a full connection
    queue, a firewall that drops packets) must fail the CLI or the run with a clear error in
    known time, never hang it: the connection attempt has a deadline, every statement has one
    (server side), and TCP keepalives notice a peer that vanished mid-session. A URL that sets
    `connect_timeout` or `options` itself (libpq parameters) keeps its own values.
    """

    connect_seconds: int = 10
    # The longest statement of a 20,000-sale day takes seconds; this bounds lock waits too.
    statement_seconds: float = 600.0
    # Idle seconds before probing, seconds between probes, probes before giving up.
    keepalive: tuple[int, int, int] = (30, 10, 3)


# PostgreSQL compiles a query with LLVM when its estimated cost passes `jit_above_cost`, and the
# estimates of our checks' counts over a grown outbox pass it: the engagement checks' one query
# of a 20,000-sale day ran 0.15 s and compiled for 0.7 s more, every run. No query of ours runs
# long enough to earn its compilation back (they are index lookups and day-sized joins).
NO_JIT_OPTION = "-c jit=off"


def connect_args(url: str | sa.URL, timeouts: DatabaseTimeouts = DatabaseTimeouts()) -> dict:
    """psycopg connection parameters enforcing `timeouts` where the URL sets none, and no JIT
    compilation (`NO_JIT_OPTION`) unless the URL sets its own `options`."""
    query = sa.make_url(str(url) if isinstance(url, sa.URL) else url).query
    idle, interval, count = timeouts.keepalive
    args: dict[str, object] = {
        "keepalives": 1,
        "keepalives_idle": idle,
        "keepalives_interval": interval,
        "keepalives_count": count,
    }
    if "connect_timeout" not in query:
        # libpq counts whole seconds and treats anything below 2 as 2.
        args["connect_timeout"] = max(2, int(timeouts.connect_seconds))
    if "options" not in query:
        args["options"] = (
            f"-c statement_timeout={int(timeouts.statement_seconds * 1000)} {NO_JIT_OPTION}"
        )
    return {name: value for name, value in args.items() if name not in query}


def create_crm_engine(
    url: str, timeouts: DatabaseTimeouts = DatabaseTimeouts(), **options
) -> sa.Engine:
    """The CRM engine. A run holds one connection at a time (steps run in series), hence the
    small pool; a long-lived service such as the webhook receiver passes its own ``options``.
    Errors never carry statement parameters (they can hold tokens)."""
    settings = {
        "pool_pre_ping": True,
        "pool_size": 2,
        "max_overflow": 2,
        "hide_parameters": True,
        "connect_args": connect_args(url, timeouts),
    } | options
    return sa.create_engine(with_psycopg_driver(url), **settings)
