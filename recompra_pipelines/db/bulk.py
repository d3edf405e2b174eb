"""Bulk writes and per-organization serialization shared by every sync step."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from psycopg.types.json import Jsonb

# Namespace of our advisory locks (first key of the two-key form).
ORG_LOCK_NAMESPACE = 4243


def lock_organization(conn: sa.Connection, org_id: str) -> None:
    """Serialize this transaction with every other writer of the organization (DESIGN §5.3).

    Two overlapping runs of one organization (a slow run and the next tick, a backfill and the
    schedule) take turns step by step instead of racing on the same rows.
    """
    conn.execute(
        sa.text("SELECT pg_advisory_xact_lock(:ns, hashtext(:org))"),
        {"ns": ORG_LOCK_NAMESPACE, "org": org_id},
    )


def copy_rows(
    conn: sa.Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence]
) -> int:
    """COPY rows into `table` (the fastest way into PostgreSQL); dicts go in as JSONB."""
    cursor = conn.connection.driver_connection.cursor()
    count = 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([Jsonb(v) if isinstance(v, dict | list) else v for v in row])
            count += 1
    return count


# A step that writes this many rows refreshes the planner statistics of what it wrote.
ANALYZE_AFTER_ROWS = 1000


def analyze_after_bulk_write(conn: sa.Connection, changed_rows: int, *tables: str) -> None:
    """Refresh statistics of tables a step just filled in bulk.

    The next steps of the same run join these tables at once, long before autovacuum gets to
    them; with the old statistics (say, an empty ledger) the planner picks nested loops that
    turn a 20,000-sale day into minutes.
    """
    if changed_rows >= ANALYZE_AFTER_ROWS:
        conn.execute(sa.text(f"ANALYZE {', '.join(tables)}"))
