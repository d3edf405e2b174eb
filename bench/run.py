"""`make bench`: the performance figures of DESIGN §8, all measured in one run.

    .venv/bin/python -m bench.run [--sales 20000] [--day 2026-11-20]

1. A fresh PostgreSQL database (RECOMPRA_BENCH_DATABASE_URL's server, else an embedded
   pgserver), migrated; the Online Software simulator serving from a thread of this process.
2. Org A (sales_per_day=N): the sync stage (fetch -> normalize -> entities -> sales, the four
   step functions, no Dagster) in a subprocess, so its peak RSS is the sync's alone; per-step
   and per-function/SQL timings of that run.
3. A plain COPY of the same sales + items rows into empty same-shaped tables: the yardstick.
4. The same four steps again on the unchanged day: time ratio, and no CRM row rewritten (xmin).
5. Org B (new token, same volume): the whole graph through a Dagster `materialize` of the
   partition, against a COPY of its own rows.

Prints a table (figure, target, met?) and writes bench/results/latest.md and latest.json.
Targets are reported, never enforced: the exit status is 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.copy_baseline import TARGET_KIND, CopyBaseline, measure_copy
from bench.database import bench_database
from bench.report import FIGURE_HEADER, Figure, figure_rows, markdown_table, text_table
from bench.sync_once import STEPS
from recompra_pipelines.db.engine import DATABASE_URL_ENV, create_crm_engine
from recompra_pipelines.db.org_writer import apply_org_file
from recompra_pipelines.orgfile.organization import OrgFile
from recompra_pipelines.simulators.erp_online_software import OnlineSoftwareSimulator

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_DAY = date(2026, 11, 20)
CRM_TABLES = ("sales", "sale_items", "clients", "products", "sellers", "partners")

TARGET_SYNC_RATIO = 0.4
TARGET_GRAPH_RATIO = 0.25
TARGET_RERUN_RATIO = 0.2
TARGET_PEAK_BYTES = 1024**3

MIB = 1024**2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Recompra performance benchmark (DESIGN §8)")
    parser.add_argument("--sales", type=int, default=20_000, help="sales per org x day (default 20000)")
    parser.add_argument("--day", type=date.fromisoformat, default=DEFAULT_DAY, help="a past day")
    parser.add_argument("--copy-runs", type=int, default=3, help="COPY baseline repetitions (median)")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    warnings.filterwarnings("ignore", module="dagster")
    started = time.perf_counter()
    report = run(args.sales, args.day, args.copy_runs)
    report["bench_wall_seconds"] = time.perf_counter() - started
    write_outputs(report, args.out_dir)
    return 0


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(sales: int, day: date, copy_runs: int) -> dict[str, Any]:
    report: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": _git_revision(),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "sales_per_day": sales,
        "day": day.isoformat(),
    }
    with bench_database() as db:
        say(f"database {db.name} on {db.server}, migrated")
        engine = create_crm_engine(db.url)
        with engine.connect() as conn:
            report["postgres"] = conn.scalar(sa.text("SHOW server_version"))
        report["database_server"] = db.server
        simulator = OnlineSoftwareSimulator()
        # Pinned two days after `day`: the day is complete whatever the wall clock says.
        simulator.set_now(datetime.combine(day + timedelta(days=2), datetime.min.time()))
        with simulator.run_in_thread() as base_url:
            run_tag = secrets.token_hex(3)
            org_a, token_a = _new_org(engine, simulator, base_url, f"bench-{run_tag}-a", sales, day, report, "org_a")

            say(f"org A: first sync of {sales} sales (subprocess, four step functions)")
            first = _sync_in_subprocess(db.url, org_a, day)
            report["first_sync"] = first
            report["first_sync"]["rusage_children_max_rss_bytes"] = _children_max_rss()
            report["org_a"]["crm_rows"] = _crm_counts(engine, org_a, day)

            say("org A: plain COPY baseline of the same rows")
            copy_a = measure_copy(engine, org_a, day, runs=copy_runs)
            report["copy_baseline_a"] = copy_a.as_dict()

            say("org A: re-run of the unchanged day")
            before = _row_versions(engine, org_a)
            rerun = _sync_in_subprocess(db.url, org_a, day)
            after = _row_versions(engine, org_a)
            report["rerun"] = rerun
            report["rerun"]["crm_rows_changed"] = _changed_rows(before, after)

            say("org B: whole graph through Dagster (new token, same volume)")
            org_b, _ = _new_org(engine, simulator, base_url, f"bench-{run_tag}-b", sales, day, report, "org_b")
            report["dagster"] = _materialize(db.url, org_b, day)
            report["org_b"]["crm_rows"] = _crm_counts(engine, org_b, day)
            say("org B: plain COPY baseline of its rows")
            copy_b = measure_copy(engine, org_b, day, runs=copy_runs)
            report["copy_baseline_b"] = copy_b.as_dict()
        engine.dispose()

    report["figures"] = [f.as_dict() for f in _figures(report, copy_a, copy_b)]
    return report


# -- setup -------------------------------------------------------------------------------------


def _new_org(engine, simulator, base_url, org_id, sales, day, report, key) -> tuple[str, str]:
    token = f"token-{org_id}-{secrets.token_hex(4)}"
    simulator.configure(token, sales_per_day=sales)
    started = time.perf_counter()
    records = simulator.sales_for(token, day)  # generates and caches the day: not in the timings
    generated = time.perf_counter() - started
    report[key] = {
        "org_id": org_id,
        "erp_records": len(records),
        "erp_items": sum(len(r["itens"]) for r in records if isinstance(r.get("itens"), list)),
        "simulator_generation_seconds": generated,
    }
    del records
    org_file = OrgFile.model_validate(
        {
            "id": org_id,
            "name": f"Bench {org_id}",
            "integration": {"type": "ONLINE-SOFTWARE", "server_url": base_url, "token": token},
        }
    )
    with engine.begin() as conn:
        apply_org_file(conn, org_file)
    return org_id, token


# -- measurements ----------------------------------------------------------------------------


def _sync_in_subprocess(url: str, org_id: str, day: date) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="recompra-bench-") as directory:
        out = Path(directory) / "result.json"
        started = time.perf_counter()
        completed = subprocess.run(
            [sys.executable, "-m", "bench.sync_once", "--org", org_id, "--day", day.isoformat(), "--out", str(out)],
            cwd=ROOT,
            env={**os.environ, DATABASE_URL_ENV: url},
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
        if completed.returncode != 0:
            raise RuntimeError(f"bench.sync_once failed ({completed.returncode}):\n{completed.stderr[-4000:]}")
        result = json.loads(out.read_text(encoding="utf-8"))
    result["process_wall_seconds"] = wall  # interpreter start and imports included
    return result


def _children_max_rss() -> int:
    kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return kib if sys.platform == "darwin" else kib * 1024


def _materialize(url: str, org_id: str, day: date) -> dict[str, Any]:
    import dagster as dg

    from recompra_pipelines.assets.erp_sync import SYNC_ASSETS
    from recompra_pipelines.checks.erp_sync_checks import SYNC_CHECKS
    from recompra_pipelines.partitions import ORGANIZATIONS, org_day_key
    from recompra_pipelines.resources.crm_database import CrmDatabase
    from recompra_pipelines.resources.erp import ErpConnectors

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(ORGANIZATIONS, [org_id])
        started = time.perf_counter()
        result = dg.materialize(
            [*SYNC_ASSETS, *SYNC_CHECKS],
            partition_key=str(org_day_key(org_id, day)),
            instance=instance,
            resources={"crm_db": CrmDatabase(url=url), "erp": ErpConnectors()},
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            raise_on_error=False,
        )
        seconds = time.perf_counter() - started
        steps = {
            stat.step_key: (stat.end_time or 0) - (stat.start_time or 0)
            for stat in instance.get_run_step_stats(result.run_id)
        }
        checks = {
            evaluation.check_name: evaluation.passed
            for evaluation in result.get_asset_check_evaluations()
        }
    return {
        "success": result.success,
        "seconds": seconds,
        "assets": [a.key.to_user_string() for a in SYNC_ASSETS],
        "step_seconds": steps,
        "checks_passed": checks,
    }


def _crm_counts(engine: sa.Engine, org_id: str, day: date) -> dict[str, int]:
    with engine.connect() as conn:
        counts = {
            table: conn.scalar(sa.text(f"SELECT count(*) FROM {table} WHERE organizacao_id = :org"), {"org": org_id})
            for table in CRM_TABLES
        }
        counts["erp_quarantine"] = conn.scalar(
            sa.text("SELECT count(*) FROM erp_quarantine WHERE organizacao_id = :org AND data_referencia = :day"),
            {"org": org_id, "day": day},
        )
    return counts


def _row_versions(engine: sa.Engine, org_id: str) -> dict[str, dict[str, str]]:
    """Every CRM row of the org with its xmin: any write (even a no-op UPDATE) changes it."""
    with engine.connect() as conn:
        return {
            table: {
                str(row_id): xmin
                for row_id, xmin in conn.execute(
                    sa.text(f"SELECT id, xmin::text FROM {table} WHERE organizacao_id = :org"), {"org": org_id}
                )
            }
            for table in CRM_TABLES
        }


def _changed_rows(before: dict, after: dict) -> dict[str, int]:
    changed = {}
    for table in CRM_TABLES:
        old, new = before[table], after[table]
        changed[table] = sum(1 for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    return changed


# -- figures ---------------------------------------------------------------------------------


def _figures(report: dict[str, Any], copy_a: CopyBaseline, copy_b: CopyBaseline) -> list[Figure]:
    first, rerun, dagster = report["first_sync"], report["rerun"], report["dagster"]
    rows_a = copy_a.total_rows
    sync_seconds = first["total_seconds"]
    sync_ratio = copy_a.seconds / sync_seconds
    rerun_ratio = rerun["total_seconds"] / sync_seconds
    changed = sum(rerun["crm_rows_changed"].values())
    graph_ratio = copy_b.seconds / dagster["seconds"]
    peak = first["max_rss_bytes"]
    rows_desc = f"{copy_a.rows['sales']:,} sales + {copy_a.rows['sale_items']:,} items"
    return [
        Figure(
            "Sync stage, first run (fetch→normalize→entities→sales, no Dagster)",
            f"{sync_seconds:.2f} s = {rows_a / sync_seconds:,.0f} rows/s ({rows_desc})",
        ),
        Figure(
            "Plain COPY of the same rows (median of runs)",
            f"{copy_a.seconds:.2f} s = {rows_a / copy_a.seconds:,.0f} rows/s",
        ),
        Figure(
            "Sync stage vs COPY, throughput ratio (COPY time ÷ sync time)",
            f"{sync_ratio:.3f}",
            f"≥ {TARGET_SYNC_RATIO}",
            sync_ratio >= TARGET_SYNC_RATIO,
        ),
        Figure(
            "Re-run of the unchanged day, time ÷ first run",
            f"{rerun_ratio:.3f} ({rerun['total_seconds']:.2f} s)",
            f"≤ {TARGET_RERUN_RATIO}",
            rerun_ratio <= TARGET_RERUN_RATIO,
        ),
        Figure(
            "Re-run: CRM rows written (xmin of sales, sale_items, clients, products, sellers, partners)",
            f"{changed}",
            "0",
            changed == 0,
        ),
        Figure(
            "Whole graph via Dagster materialize (org B; only the 4 sync assets + checks exist yet)",
            f"{dagster['seconds']:.2f} s = {copy_b.total_rows / dagster['seconds']:,.0f} rows/s"
            + ("" if dagster["success"] else " (RUN FAILED)"),
        ),
        Figure(
            "Whole graph vs COPY of its rows, throughput ratio",
            f"{graph_ratio:.3f} (COPY {copy_b.seconds:.2f} s)",
            f"≥ {TARGET_GRAPH_RATIO}",
            graph_ratio >= TARGET_GRAPH_RATIO and dagster["success"],
        ),
        Figure(
            "Peak RSS of the first-sync subprocess (ru_maxrss)",
            f"{peak / MIB:,.0f} MiB",
            f"≤ {TARGET_PEAK_BYTES // MIB} MiB",
            peak <= TARGET_PEAK_BYTES,
        ),
    ]


def _step_rows(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    total = result["total_seconds"]
    rows = [
        (name, f"{result['step_seconds'][name]:.2f}", f"{100 * result['step_seconds'][name] / total:.0f} %")
        for name in STEPS
    ]
    rows.append(("total", f"{total:.2f}", "100 %"))
    return rows


def _profile_rows(result: dict[str, Any], per_step: int = 8) -> list[tuple[str, str, str, str]]:
    rows = []
    for step in STEPS:
        entries = sorted(
            (p for p in result["profile"] if p["step"] == step), key=lambda p: p["seconds"], reverse=True
        )
        for p in entries[:per_step]:
            if p["seconds"] < 0.01:
                continue
            rows.append((step, p["label"], f"{p['seconds']:.2f}", f"{p['calls']:,}"))
    return rows


def _context_lines(report: dict[str, Any]) -> list[str]:
    a, first, copy_a = report["org_a"], report["first_sync"], report["copy_baseline_a"]
    fetch = first["results"]["fetch"]
    normalize = first["results"]["normalize"]
    crm = a["crm_rows"]
    dagster = report["dagster"]
    return [
        f"Run {report['generated_at']}, git {report['git']}, Python {report['machine']['python']}, "
        f"{report['machine']['cpus']} CPUs, PostgreSQL {report['postgres']} ({report['database_server']}).",
        f"Day {report['day']}, {report['sales_per_day']:,} sales/day per org: the simulator served "
        f"{a['erp_records']:,} records with {a['erp_items']:,} items ({fetch['size_bytes'] / MIB:,.1f} MiB of JSON); "
        f"staged {normalize['staged']:,}, quarantined {normalize['quarantined']:,}, troco lines dropped "
        f"{normalize['troco_dropped']:,}.",
        f"Org A in the CRM after the sync: {crm['sales']:,} sales, {crm['sale_items']:,} items, "
        f"{crm['clients']:,} clients, {crm['products']:,} products, {crm['sellers']:,} sellers, "
        f"{crm['partners']:,} partners.",
        f"Simulator day generation ({a['simulator_generation_seconds']:.1f} s) happens before the "
        "timed runs; serving the cached day over HTTP is inside `fetch`.",
        f"COPY baseline target: {TARGET_KIND}. Timed: COPY sales + COPY items + COMMIT, "
        f"psycopg write_row from Python tuples; runs {', '.join(f'{s:.2f}' for s in copy_a['seconds_runs'])} s. "
        f"Server share alone (pre-encoded COPY text): {copy_a['server_only_seconds_median']:.2f} s.",
        f"Sync subprocess wall time incl. interpreter start and imports: {first['process_wall_seconds']:.1f} s; "
        f"its RSS high-water mark before the sync started (imports): "
        f"{first['max_rss_bytes_before_sync'] / MIB:,.0f} MiB; RUSAGE_CHILDREN cross-check "
        f"{first['rusage_children_max_rss_bytes'] / MIB:,.0f} MiB.",
        f"Dagster run success: {dagster['success']}; asset checks passed: "
        + ", ".join(f"{k}={v}" for k, v in sorted(dagster["checks_passed"].items()))
        + ". The ledger and campaign assets of DESIGN §8's whole-graph target do not exist yet.",
    ]


def write_outputs(report: dict[str, Any], out_dir: Path) -> None:
    figures = [Figure(**f) for f in report["figures"]]
    step_header = ("Step", "Seconds", "Share")
    profile_header = ("Step", "Where (nested: a function's time includes its SQL/COPY)", "Seconds", "Calls")
    dagster_rows = [(k, f"{v:.2f}") for k, v in sorted(report["dagster"]["step_seconds"].items(), key=lambda kv: -kv[1])]
    dagster_rows.append(("whole materialize() call", f"{report['dagster']['seconds']:.2f}"))

    sections = [
        ("Figures", FIGURE_HEADER, figure_rows(figures)),
        ("First sync, per step", step_header, _step_rows(report["first_sync"])),
        ("First sync, profile (top entries per step)", profile_header, _profile_rows(report["first_sync"])),
        ("Re-run of the unchanged day, per step", step_header, _step_rows(report["rerun"])),
        ("Re-run, profile", profile_header, _profile_rows(report["rerun"], per_step=4)),
        ("Dagster materialize (org B), per step", ("Step", "Seconds"), dagster_rows),
    ]
    context = _context_lines(report)

    print()
    for title, header, rows in sections:
        print(title)
        print(text_table(header, rows))
        print()
    for line in context:
        print(f"- {line}")
    print(f"\nbench wall time {report['bench_wall_seconds']:.0f} s; written {out_dir}/latest.md and latest.json")

    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = ["# Recompra benchmark (DESIGN §8)", ""]
    markdown += [f"- {line}" for line in context] + [""]
    for title, header, rows in sections:
        markdown += [f"## {title}", "", markdown_table(header, rows), ""]
    markdown.append(f"Benchmark wall time {report['bench_wall_seconds']:.0f} s. Targets are reported, not enforced.")
    (out_dir / "latest.md").write_text("\n".join(markdown) + "\n", encoding="utf-8")
    (out_dir / "latest.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")


def _git_revision() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


if __name__ == "__main__":
    raise SystemExit(main())
