"""The yardstick of the performance targets (docs/architecture.md#performance-targets): a plain
`COPY … FROM STDIN` of the same sales and items rows.

The rows of one org x day are read back from `sales` and `sale_items` (not timed) and copied
into empty regular (logged) tables created with `LIKE … INCLUDING ALL`: same columns, types,
defaults, NOT NULL/CHECK constraints, primary key, unique constraints and secondary indexes as
the real tables; no foreign keys (LIKE never copies them). Timed: COPY sales + COPY items +
COMMIT, with psycopg's `copy.write_row` from Python tuples (the same mechanism as the product's
`copy_rows`). Also timed, for information: the same COPYs from pre-encoded COPY text, i.e. the
server's share alone.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from datetime import date

import psycopg
import sqlalchemy as sa

TABLES = ("sales", "sale_items")
TARGET_KIND = (
    "regular logged tables, CREATE TABLE … (LIKE <table> INCLUDING ALL): same PK, unique and "
    "secondary indexes, defaults and constraints; no foreign keys"
)

_ROWS_SQL = {
    "sales": "SELECT {cols} FROM sales s WHERE s.organizacao_id = %(org)s AND s.data_referencia = %(day)s",
    "sale_items": (
        "SELECT {cols} FROM sale_items i JOIN sales s ON s.id = i.venda_id "
        "WHERE s.organizacao_id = %(org)s AND s.data_referencia = %(day)s"
    ),
}
_ALIAS = {"sales": "s", "sale_items": "i"}


@dataclass
class CopyBaseline:
    rows: dict[str, int]
    seconds_runs: list[float] = field(default_factory=list)  # write_row from Python tuples
    server_only_seconds_runs: list[float] = field(default_factory=list)  # pre-encoded text

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def seconds(self) -> float:
        return statistics.median(self.seconds_runs)

    @property
    def server_only_seconds(self) -> float:
        return statistics.median(self.server_only_seconds_runs)

    def as_dict(self) -> dict:
        return {
            "target_tables": TARGET_KIND,
            "rows": self.rows,
            "total_rows": self.total_rows,
            "seconds_median": self.seconds,
            "seconds_runs": self.seconds_runs,
            "rows_per_second": self.total_rows / self.seconds,
            "server_only_seconds_median": self.server_only_seconds,
            "server_only_seconds_runs": self.server_only_seconds_runs,
        }


def measure_copy(engine: sa.Engine, org_id: str, day: date, *, runs: int = 3) -> CopyBaseline:
    """Median of `runs` COPYs of the org x day's CRM sales and items into empty copies."""
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        params = {"org": org_id, "day": day}
        columns = {table: _columns(conn, table) for table in TABLES}
        rows: dict[str, list[tuple]] = {}
        texts: dict[str, bytes] = {}
        with conn.cursor() as cur:
            for table in TABLES:
                select = _select(table, columns[table])
                cur.execute(select, params)
                rows[table] = cur.fetchall()
                chunks: list[bytes] = []
                literal = psycopg.ClientCursor(conn).mogrify(select, params)
                with cur.copy(f"COPY ({literal}) TO STDOUT") as copy:
                    for chunk in copy:
                        chunks.append(bytes(chunk))
                texts[table] = b"".join(chunks)
            for table in TABLES:
                cur.execute(f"DROP TABLE IF EXISTS bench_copy_{table}")
                cur.execute(f"CREATE TABLE bench_copy_{table} (LIKE {table} INCLUDING ALL)")
        conn.commit()

        baseline = CopyBaseline(rows={table: len(rows[table]) for table in TABLES})
        for _ in range(runs):
            baseline.seconds_runs.append(_timed_copy(conn, columns, rows=rows))
            baseline.server_only_seconds_runs.append(_timed_copy(conn, columns, texts=texts))

        with conn.cursor() as cur:
            for table in TABLES:
                cur.execute(f"DROP TABLE bench_copy_{table}")
        conn.commit()
        return baseline
    finally:
        raw.close()


def _timed_copy(conn, columns: dict[str, list[tuple[str, str]]], *, rows=None, texts=None) -> float:
    with conn.cursor() as cur:
        cur.execute("TRUNCATE " + ", ".join(f"bench_copy_{t}" for t in TABLES))
    conn.commit()
    started = time.perf_counter()
    with conn.cursor() as cur:
        for table in TABLES:
            names = ", ".join(name for name, _ in columns[table])
            with cur.copy(f"COPY bench_copy_{table} ({names}) FROM STDIN") as copy:
                if rows is not None:
                    for row in rows[table]:
                        copy.write_row(row)
                else:
                    copy.write(texts[table])
    conn.commit()
    return time.perf_counter() - started


def _columns(conn, table: str) -> list[tuple[str, str]]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
            (table,),
        )
        return [(name, kind) for name, kind in cur.fetchall()]


def _select(table: str, columns: list[tuple[str, str]]) -> str:
    alias = _ALIAS[table]
    # JSON columns come back as dicts; as text they COPY in without a Python adapter.
    cols = ", ".join(
        f"{alias}.{name}::text" if kind in ("json", "jsonb") else f"{alias}.{name}"
        for name, kind in columns
    )
    return _ROWS_SQL[table].format(cols=cols)
