"""Bulk writes and per-organization serialization shared by every sync step."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

import psycopg
import sqlalchemy as sa
from psycopg.copy import QueuedLibpqWriter
from psycopg.types.json import Jsonb

from recompra_pipelines import json_codec

# Namespace of our advisory locks (first key of the two-key form).
ORG_LOCK_NAMESPACE = 4243


def lock_organization(conn: sa.Connection, org_id: str) -> None:
    """Serialize this transaction with every other writer of the organization
    (docs/architecture.md#3-one-transaction-per-step-under-the-organizations-lock).

    Two overlapping runs of one organization (a slow run and the next tick, a backfill and the
    schedule) take turns step by step instead of racing on the same rows.
    """
    conn.execute(
        sa.text("SELECT pg_advisory_xact_lock(:ns, hashtext(:org))"),
        {"ns": ORG_LOCK_NAMESPACE, "org": org_id},
    )


def copy_rows(
    conn: sa.Connection,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence],
    json_columns: Collection[str] = (),
) -> int:
    """COPY rows into `table` (the fastest way into PostgreSQL); the values of `json_columns`
    (JSON or JSONB) are Python objects, serialized here."""
    json_positions = [columns.index(name) for name in json_columns]
    cursor = conn.connection.driver_connection.cursor()
    count = 0
    # The queued writer sends from a thread, so the server ingests while Python builds rows.
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
        for row in rows:
            if json_positions:
                row = list(row)
                for position in json_positions:
                    if row[position] is not None:
                        row[position] = Jsonb(row[position], dumps=json_codec.dumps)
            copy.write_row(row)
            count += 1
    return count


def copy_new_rows(
    conn: sa.Connection,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence],
    *,
    unique_key: str,
    conflict: Exception,
    json_columns: Collection[str] = (),
) -> int:
    """`copy_rows` for rows whose `unique_key` (an idempotency key) the caller checked is new,
    under the organization's lock. A key that exists anyway means someone wrote without the
    lock: `conflict` is raised and the transaction rolls back rather than guess."""
    try:
        return copy_rows(conn, table, columns, rows, json_columns)
    except psycopg.errors.UniqueViolation as error:
        if error.diag.constraint_name != unique_key:
            raise
        raise conflict from error


def allow_day_sized_sorts(conn: sa.Connection) -> None:
    """Let this transaction's hashes and sorts of a 100,000-item day stay in memory: at the
    default 4 MB they spill to disk and take several times longer."""
    conn.execute(sa.text("SET LOCAL work_mem = '64MB'"))


# A step that writes this many rows refreshes the planner statistics of what it wrote...
ANALYZE_AFTER_ROWS = 1000
# ...when they are this share of the table or more (autovacuum's default analyze threshold):
# a tick that adds 400 sales to 100,000 leaves the statistics as good as they were.
ANALYZE_SHARE = 0.1


def analyze_after_bulk_write(conn: sa.Connection, changed_rows: int, *tables: str) -> None:
    """Refresh statistics of tables a step just filled in bulk (`name` or `name (columns)`).

    The next steps of the same run join these tables at once, long before autovacuum gets to
    them; with the old statistics (say, an empty ledger) the planner picks nested loops that
    turn a 20,000-sale day into minutes.
    """
    if changed_rows < ANALYZE_AFTER_ROWS:
        return
    sizes = dict(
        conn.execute(
            sa.text("SELECT relname, reltuples FROM pg_class WHERE relname = ANY(:names)"),
            {"names": [table.split()[0] for table in tables]},
        ).all()
    )
    # reltuples is -1 (PostgreSQL 14+) or 0 for a table never analyzed.
    stale = [t for t in tables if changed_rows >= ANALYZE_SHARE * sizes.get(t.split()[0], 0)]
    if stale:
        conn.execute(sa.text(f"ANALYZE {', '.join(stale)}"))
