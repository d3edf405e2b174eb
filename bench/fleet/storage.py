"""Dagster's own storage: table sizes, and what given runs and ticks take in it.

What a short window adds to a table on disk is too coarse to divide by a few dozen runs (a
table grows by whole pages), so the bytes of a run are its rows' exact sizes
(`pg_column_size`) in each run table, scaled by that table's on-disk size per byte of row
(indexes, TOAST and page overhead included), measured over the whole table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

# The rows a run writes, and how each table finds them.
RUN_ROWS = {
    "event_logs": "SELECT {what} FROM event_logs t WHERE t.run_id = ANY(:ids)",
    "runs": "SELECT {what} FROM runs t WHERE t.run_id = ANY(:ids)",
    "run_tags": "SELECT {what} FROM run_tags t WHERE t.run_id = ANY(:ids)",
    "asset_check_executions": (
        "SELECT {what} FROM asset_check_executions t WHERE t.run_id = ANY(:ids)"
    ),
    "asset_event_tags": (
        "SELECT {what} FROM asset_event_tags t JOIN event_logs e ON e.id = t.event_id"
        " WHERE e.run_id = ANY(:ids)"
    ),
}
RUN_TABLES = tuple(RUN_ROWS)
TICK_ROWS = "SELECT {what} FROM job_ticks t WHERE t.id > :after"
ROW_SIZE = "count(*), COALESCE(sum(pg_column_size(t.*)), 0)"


@dataclass(frozen=True)
class TableSize:
    rows: int
    bytes: int


def snapshot(engine: sa.Engine) -> dict[str, TableSize]:
    """Every table of the storage: rows and bytes on disk."""
    with engine.connect() as conn:
        tables = conn.scalars(
            sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        ).all()
        return {
            table: TableSize(
                rows=conn.scalar(sa.text(f'SELECT count(*) FROM "{table}"')),
                bytes=conn.scalar(sa.text("SELECT pg_total_relation_size(:t)"), {"t": table}),
            )
            for table in tables
        }


def runs_footprint(engine: sa.Engine, run_ids: Sequence[str]) -> dict[str, TableSize]:
    """Per run table: the rows of these runs and their bytes on disk."""
    with engine.connect() as conn:
        footprint = {}
        for table, query in RUN_ROWS.items():
            rows, row_bytes = conn.execute(
                sa.text(query.format(what=ROW_SIZE)), {"ids": list(run_ids)}
            ).one()
            footprint[table] = TableSize(rows, round(row_bytes * _disk_per_row_byte(conn, table)))
        return footprint


def last_tick_id(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(sa.text("SELECT COALESCE(max(id), 0) FROM job_ticks"))


def ticks_footprint(engine: sa.Engine, after_id: int) -> TableSize:
    """The ticks of every schedule and sensor written after that one, and their bytes on disk."""
    with engine.connect() as conn:
        rows, row_bytes = conn.execute(
            sa.text(TICK_ROWS.format(what=ROW_SIZE)), {"after": after_id}
        ).one()
        return TableSize(rows, round(row_bytes * _disk_per_row_byte(conn, "job_ticks")))


def sessions(server_url: str, databases: Sequence[str]) -> dict[str, int]:
    """Connections ever opened to each database (PostgreSQL 14+ counts them)."""
    engine = sa.create_engine(server_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return {
                name: conn.scalar(
                    sa.text("SELECT sessions FROM pg_stat_database WHERE datname = :n"),
                    {"n": name},
                )
                or 0
                for name in databases
            }
    finally:
        engine.dispose()


def total(sizes: dict[str, TableSize]) -> TableSize:
    return TableSize(
        rows=sum(s.rows for s in sizes.values()), bytes=sum(s.bytes for s in sizes.values())
    )


def _disk_per_row_byte(conn: sa.Connection, table: str) -> float:
    on_disk = conn.scalar(sa.text("SELECT pg_total_relation_size(:t)"), {"t": table})
    in_rows = conn.scalar(sa.text(f'SELECT COALESCE(sum(pg_column_size(t.*)), 0) FROM "{table}" t'))
    return on_disk / in_rows if in_rows else 1.0
