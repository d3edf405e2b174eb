"""One sync of one org x day through the four step functions (no Dagster), in its own process.

    python -m bench.sync_once --org ORG --day 2026-11-20 --out result.json

The database URL comes from RECOMPRA_DATABASE_URL (or --url), so a password never shows in
`ps`. Run as a child of `bench.run`, whose thread serves the ERP simulator: this process's
peak RSS (`ru_maxrss`) is then the sync's alone, not the simulator's — provided it is not
exec'd straight from the big parent: Linux carries the exec'ing address space's high-water
mark into ru_maxrss, so `bench.run` starts it through a small `sh` that forks it.

Writes JSON (rewritten after every step, so a run cut short still tells how far it got): wall
time per step, the step results, a profile (time inside the main Python functions and per SQL
statement of each step), the peak RSS, and the error if a step failed (e.g. cancelled by the
parent's time budget).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import resource
import sys
import time
import traceback
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from recompra_pipelines.connectors.registry import FetchSettings, connector_for
from recompra_pipelines.db import entities, staging
from recompra_pipelines.db.engine import DATABASE_URL_ENV, create_crm_engine
from recompra_pipelines.sync import steps

STEPS = ("fetch", "normalize", "entities", "sales")


class Profile:
    """Seconds and calls per (step, label); the current step is set by the driver."""

    def __init__(self) -> None:
        self.step = "-"
        self.seconds: dict[tuple[str, str], float] = defaultdict(float)
        self.calls: dict[tuple[str, str], int] = defaultdict(int)

    def add(self, label: str, seconds: float) -> None:
        key = (self.step, label)
        self.seconds[key] += seconds
        self.calls[key] += 1

    def wrap(self, owner: Any, attribute: str, label: str | Callable[..., str]) -> None:
        """Time every call of `owner.attribute`; silently skipped if the code has no such thing."""
        original = getattr(owner, attribute, None)
        if not callable(original):
            return

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                name = label(*args, **kwargs) if callable(label) else label
                self.add(name, time.perf_counter() - started)

        setattr(owner, attribute, timed)

    def as_rows(self) -> list[dict[str, Any]]:
        return [
            {"step": step, "label": label, "seconds": seconds, "calls": self.calls[(step, label)]}
            for (step, label), seconds in self.seconds.items()
        ]


_SQL_TARGET = (
    ("INSERT INTO", re.compile(r"\bINSERT\s+INTO\s+(\w+)", re.I)),
    ("UPDATE", re.compile(r"\bUPDATE\s+(\w+)", re.I)),
    ("DELETE FROM", re.compile(r"\bDELETE\s+FROM\s+(\w+)", re.I)),
    (
        "CREATE TEMP TABLE",
        re.compile(r"\bCREATE\s+TEMP\s+TABLE\s+(?:IF NOT EXISTS\s+)?(\w+)", re.I),
    ),
    ("DROP TABLE", re.compile(r"\bDROP\s+TABLE\s+(\w+)", re.I)),
    ("ANALYZE", re.compile(r"\bANALYZE\s+(\w+)", re.I)),
    ("SELECT FROM", re.compile(r"\bFROM\s+(\w+)", re.I)),
)


def sql_label(statement: str) -> str:
    """`SQL INSERT INTO sales (upsert)`-style names: enough to find the statement in the code."""
    for verb, pattern in _SQL_TARGET:
        match = pattern.search(statement)
        if match:
            upsert = " (upsert)" if "ON CONFLICT" in statement.upper() else ""
            return f"SQL {verb} {match.group(1)}{upsert}"
    return "SQL " + " ".join(statement.split())[:40]


def instrument(profile: Profile, engine: sa.Engine, integration_type: str) -> None:
    """Time the main Python functions of each step and every SQL statement (COPY apart)."""
    connector = connector_for(integration_type)
    profile.wrap(connector, "fetch_day", "HTTP POST + read body + sha256 (connector.fetch_day)")
    profile.wrap(connector, "records", "json.loads of the extract (connector.records)")
    profile.wrap(connector, "map_record", "map_record per sale (connector.map_record)")
    profile.wrap(steps, "latest_extract", "read stored extract text (latest_extract)")
    profile.wrap(connector, "pending_ids", "pending_ids")
    profile.wrap(connector, "resolve_repeated_ids", "resolve_repeated_ids")
    profile.wrap(steps, "normalize_sale", "normalize_sale per sale")
    profile.wrap(steps, "replace_staging", "replace_staging (delete + COPY + quarantine)")
    copy_label = lambda conn, table, *rest, **kw: f"COPY {table} (incl. building rows)"  # noqa: E731
    profile.wrap(staging, "copy_rows", copy_label)
    profile.wrap(entities, "copy_rows", copy_label)
    for name in (
        "_upsert_sellers",
        "_upsert_partners",
        "_upsert_products",
        "_resolve_clients",
        "_known_clients",
        "match_clients",
        "_insert_new_clients",
        "_record_assignments",
        "upsert_client_locations",
    ):
        profile.wrap(entities, name, name)

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    @sa.event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        started = conn.info["bench_started"].pop()
        profile.add(sql_label(statement), time.perf_counter() - started)

    @sa.event.listens_for(engine, "handle_error")
    def _failed(context):  # noqa: ANN001
        stack = context.connection.info.get("bench_started") if context.connection else None
        if stack:
            label = sql_label(context.statement or "") + " (failed or cancelled)"
            profile.add(label, time.perf_counter() - stack.pop())


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)


def max_rss_bytes() -> int:
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib if sys.platform == "darwin" else kib * 1024  # Linux reports KiB, macOS bytes


def vm_hwm_bytes() -> int | None:
    """Linux's peak RSS of this process's own address space (VmHWM): a cross-check of
    ru_maxrss, which also counts the address space this process was exec'd from."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def sync_once(
    url: str, org_id: str, day: date, out: Path, *, profiled: bool = True
) -> dict[str, Any]:
    engine = create_crm_engine(url)
    profile = Profile()
    if profiled:
        with engine.connect() as conn:
            integration_type = conn.scalar(
                sa.text("SELECT integracao_tipo FROM organizations WHERE id = :org"),
                {"org": org_id},
            )
        instrument(profile, engine, integration_type)
    report: dict[str, Any] = {
        "org_id": org_id,
        "day": day.isoformat(),
        "completed": False,
        "failed_step": None,
        "error": None,
        "total_seconds": 0.0,
        "step_seconds": {},
        "results": {},
        "profile": [],
        "max_rss_bytes_before_sync": max_rss_bytes(),
        "pid": os.getpid(),
    }
    actions: list[tuple[str, Callable[[], Any]]] = [
        ("fetch", lambda: steps.fetch_raw_extract(engine, org_id, day, FetchSettings())),
        ("normalize", lambda: steps.normalize_sales(engine, org_id, day, now=datetime.now(UTC))),
        ("entities", lambda: steps.upsert_day_entities(engine, org_id, day)),
        ("sales", lambda: steps.load_day_sales(engine, org_id, day)),
    ]
    started = time.perf_counter()
    try:
        for name, action in actions:
            profile.step = name
            step_started = time.perf_counter()
            try:
                report["results"][name] = _plain(action())
            except BaseException as error:
                report["failed_step"] = name
                report["error"] = _describe(error)
                report["traceback"] = traceback.format_exc(limit=8)
                raise
            finally:
                report["step_seconds"][name] = time.perf_counter() - step_started
                report["total_seconds"] = time.perf_counter() - started
                report["profile"] = profile.as_rows()
                report["max_rss_bytes"] = max_rss_bytes()
                report["vm_hwm_bytes"] = vm_hwm_bytes()
                _write(out, report)
        report["completed"] = True
        _write(out, report)
    finally:
        engine.dispose()
    return report


def _describe(error: BaseException) -> str:
    """`QueryCanceled: canceling statement due to user request`: the driver's error if any."""
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else ''}"


def _write(out: Path, report: dict[str, Any]) -> None:
    partial = out.with_suffix(".tmp")
    partial.write_text(json.dumps(report, indent=2), encoding="utf-8")
    partial.replace(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get(DATABASE_URL_ENV))
    parser.add_argument("--org", required=True)
    parser.add_argument("--day", required=True, type=date.fromisoformat)
    parser.add_argument("--out", required=True, type=Path, help="where to write the JSON result")
    parser.add_argument("--no-profile", action="store_true", help="no per-function timers")
    args = parser.parse_args(argv)
    if not args.url:
        parser.error(f"give --url or set {DATABASE_URL_ENV}")
    try:
        sync_once(args.url, args.org, args.day, args.out, profiled=not args.no_profile)
    except Exception:
        return 1  # the JSON says which step failed and why
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
