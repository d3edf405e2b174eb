"""`make bench`: the performance targets of docs/architecture.md#performance-targets, all measured
in one run.

    .venv/bin/python -m bench.run [--sales 20000] [--day 2026-11-20] [--budget 180]

1. A fresh PostgreSQL database (RECOMPRA_BENCH_DATABASE_URL's server, else an embedded
   pgserver), migrated; the Online Software simulator serving from a thread of this process.
2. Org A (sales_per_day=N): the sync stage (fetch -> normalize -> entities -> sales, the four
   step functions, no Dagster) in a subprocess, so its peak RSS is the sync's alone; per-step
   and per-function/SQL timings of that run.
3. A plain COPY of the same sales + items rows into empty same-shaped tables: the yardstick.
4. The same four steps again on the unchanged day: time ratio, and no CRM row rewritten (xmin).
5. Org B (new token, same volume): the whole graph through a Dagster `materialize` of the
   partition, against a COPY of its own rows.
6. Org C (new token, same volume), as a user would time it: a whole `recompra sync` (CLI
   subprocess: process start, Dagster, matching, money, checks), first and on the unchanged
   day; then dlt (bench/dlt/, its own virtualenv) merging the same day's JSON into the same
   PostgreSQL server on the sale's key with its nested items, first load and re-load, each a
   subprocess timed from its start.

Every measured run has a time budget (--budget): past it, the run's statements on the bench
database are cancelled and the figure is reported as not finished. Prints a table (figure,
target, met?) and writes bench/results/latest.md and latest.json. Targets are reported, never
enforced: the exit status is 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.copy_baseline import TARGET_KIND, measure_copy
from bench.database import bench_database
from bench.report import FIGURE_HEADER, Figure, figure_rows, markdown_table, text_table
from bench.sync_once import STEPS
from recompra_pipelines.db.engine import DATABASE_URL_ENV, create_crm_engine
from recompra_pipelines.orgfile.organization import OrgFile
from recompra_pipelines.orgfile_store.writer import apply_org_file
from recompra_pipelines.simulators.erp_online_software import OnlineSoftwareSimulator

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_DAY = date(2026, 11, 20)
CRM_TABLES = ("sales", "sale_items", "clients", "products", "sellers", "partners")

TARGET_SYNC_RATIO = 0.25
# The whole `recompra sync` against dlt merging the same day: we do more, and should be faster.
TARGET_VS_DLT_FIRST = 0.5
TARGET_VS_DLT_RELOAD = 0.1
DLT_PYTHON = ROOT / ".venv-bench-dlt" / "bin" / "python"
DLT_LOADER = Path(__file__).resolve().parent / "dlt" / "load_day.py"
TARGET_GRAPH_RATIO = 0.25
TARGET_RERUN_RATIO = 0.2
TARGET_PEAK_BYTES = 1024**3

MIB = 1024**2


def main(argv: list[str] | None = None) -> int:
    # The bench never talks to Meta: any WhatsApp request would go to a closed loopback port.
    os.environ.setdefault("WHATSAPP_GRAPH_URL", "http://127.0.0.1:9")
    parser = argparse.ArgumentParser(description="Recompra performance benchmark")
    parser.add_argument(
        "--sales", type=int, default=20_000, help="sales per org x day (default 20000)"
    )
    parser.add_argument("--day", type=date.fromisoformat, default=DEFAULT_DAY, help="a past day")
    parser.add_argument(
        "--budget", type=float, default=180.0, help="seconds allowed per measured run"
    )
    parser.add_argument(
        "--copy-runs", type=int, default=3, help="COPY baseline repetitions (median)"
    )
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument(
        "--dlt-python",
        type=Path,
        default=DLT_PYTHON,
        help="the interpreter of the dlt bench virtualenv (`make bench` creates it)",
    )
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    warnings.filterwarnings("ignore", module="dagster")
    # A TERM (e.g. a CI timeout) still drops the bench database and stops the embedded server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.perf_counter()
    report = run(args)
    report["bench_wall_seconds"] = time.perf_counter() - started
    write_outputs(report, args.out_dir, "latest")
    return 0


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    day: date = args.day
    report: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": _git_revision(),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "sales_per_day": args.sales,
        "day": day.isoformat(),
        "budget_seconds": args.budget,
        "skipped": {},
    }
    with bench_database() as db:
        say(f"database {db.name} on {db.server}, migrated")
        engine = create_crm_engine(db.url)
        with engine.connect() as conn:
            report["postgres"] = conn.scalar(sa.text("SHOW server_version"))
            report["postgres_settings"] = {
                name: conn.scalar(sa.text(f"SHOW {name}"))
                for name in ("shared_buffers", "work_mem", "synchronous_commit", "fsync", "jit")
            }
        report["load_average_start"] = _load_average()
        report["database_server"] = db.server
        simulator = OnlineSoftwareSimulator()
        # Pinned two days after `day`: the day is complete whatever the wall clock says.
        simulator.set_now(datetime.combine(day + timedelta(days=2), datetime.min.time()))
        with simulator.run_in_thread() as base_url:
            tag = secrets.token_hex(3)
            org_a, token_a = _new_org(
                engine, simulator, base_url, f"bench-{tag}-a", args.sales, day, report, "org_a"
            )

            say(
                f"org A: first sync of {args.sales} sales (subprocess, four step functions, budget {args.budget:.0f} s)"
            )
            first = report["first_sync"] = _sync_in_subprocess(db.url, org_a, day, args)
            report["org_a"]["crm_rows"] = _crm_counts(engine, org_a, day)
            _say_outcome("first sync", first)

            if first["completed"]:
                say("org A: plain COPY baseline of the same rows")
                report["copy_baseline_a"] = measure_copy(
                    engine, org_a, day, runs=args.copy_runs
                ).as_dict()

                say("org A: re-run of the unchanged day")
                before = _row_versions(engine, org_a)
                rerun = report["rerun"] = _sync_in_subprocess(db.url, org_a, day, args)
                after = _row_versions(engine, org_a)
                rerun["crm_rows_changed"] = _changed_rows(before, after)
                _say_outcome("re-run", rerun)

                say("org A: a later tick, 1 % of the day's sales cancelled and 1 % new")
                report["tick_change"] = _change_one_percent(simulator, token_a, day)
                before = _row_versions(engine, org_a)
                tick = report["tick"] = _sync_in_subprocess(db.url, org_a, day, args)
                tick["crm_rows_changed"] = _changed_rows(before, _row_versions(engine, org_a))
                _say_outcome("tick", tick)

                say("org B: whole graph through Dagster (new token, same volume)")
                org_b, _ = _new_org(
                    engine, simulator, base_url, f"bench-{tag}-b", args.sales, day, report, "org_b"
                )
                dagster = report["dagster"] = _materialize(db.url, org_b, day, args)
                report["org_b"]["crm_rows"] = _crm_counts(engine, org_b, day)
                say(f"Dagster run: success={dagster['success']} in {dagster['seconds']:.1f} s")
                if dagster["success"]:
                    say("org B: plain COPY baseline of its rows")
                    report["copy_baseline_b"] = measure_copy(
                        engine, org_b, day, runs=args.copy_runs
                    ).as_dict()

                say("org C: whole `recompra sync` (CLI subprocess), first and unchanged re-run")
                org_c, token_c = _new_org(
                    engine, simulator, base_url, f"bench-{tag}-c", args.sales, day, report, "org_c"
                )
                report["cli_sync"] = _cli_syncs(db.url, org_c, day, args)
                say(
                    "org C: "
                    + ", ".join(
                        f"{k} {v['seconds']:.1f} s (ok={v['success']})"
                        for k, v in report["cli_sync"].items()
                    )
                )
                if args.dlt_python.exists():
                    say("org C: dlt merging the same day, first load and re-load (subprocess)")
                    report["dlt"] = _dlt_loads(db.url, base_url, token_c, day, args)
                    say(
                        "dlt: "
                        + ", ".join(
                            f"{k} {v['seconds']:.1f} s (ok={v['success']})"
                            for k, v in report["dlt"].items()
                        )
                    )
                else:
                    report["skipped"]["dlt"] = (
                        f"no dlt virtualenv at {args.dlt_python} (`make bench` creates it from "
                        "bench/dlt/requirements.txt)"
                    )
            else:
                reason = "the first sync did not finish, so there are no CRM rows to copy or re-run"
                report["skipped"] = {
                    "copy_baseline": reason,
                    "rerun": reason,
                    "dagster": "the whole graph runs the same steps as the first sync, which did not finish",
                    "cli_sync": "the whole sync runs the same steps as the first sync, which did not finish",
                    "dlt": "compared with the whole sync, which was not measured",
                }
        engine.dispose()

    report["load_average_end"] = _load_average()
    report["figures"] = [f.as_dict() for f in _figures(report)]
    return report


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


# -- setup -------------------------------------------------------------------------------------


def _new_org(engine, simulator, base_url, org_id, sales, day, report, key) -> tuple[str, str]:
    """The organization's id and its ERP token (never written to the results)."""
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
    # A realistic organization: the whole graph accrues cashback and fires purchase campaigns
    # (the bench day is in the past, so its sales are allowed to fire campaigns).
    org_file = OrgFile.model_validate(
        {
            "id": org_id,
            "name": f"Bench {org_id}",
            "integration": {"type": "ONLINE-SOFTWARE", "server_url": base_url, "token": token},
            "effects_start": str(day),
            "campaign_settings": {"max_sale_age_days": 3650},
            "cashback_program": {
                "accrual_type": "PERCENTUAL",
                "accrual_value": 5,
                "expiry_days": 90,
            },
            "campaigns": [
                {"key": "primeira", "title": "Primeira", "trigger": "PRIMEIRA-COMPRA"},
                {
                    "key": "nova",
                    "title": "Nova",
                    "trigger": {"type": "NOVA-COMPRA", "minimum_sale_value": "50"},
                },
                {"key": "cashback", "title": "Cashback", "trigger": "CASHBACK-ACUMULADO"},
            ],
        }
    )
    with engine.begin() as conn:
        apply_org_file(conn, org_file)
    return org_id, token


def _change_one_percent(simulator, token: str, day: date) -> dict[str, int]:
    """What an open day looks like a few minutes later: every 100th sale cancelled (value 0,
    situação 02: how Online Software reports a cancellation) and as many new sales (copies of others
    under new ids)."""
    records = simulator.sales_for(token, day)
    cancelled = {
        str(r["id"]): {"valor": "0.00", "situacao": "02"} for r in records[::100] if "id" in r
    }
    new = [{**r, "id": f"9{index:08d}"} for index, r in enumerate(records[50::100])]
    simulator.configure(token, overrides=cancelled, extra_sales=new)
    return {"cancelled": len(cancelled), "new": len(new)}


class Watchdog:
    """Past `seconds`, cancel every running statement on the bench database (ours alone), and
    keep doing so until the measured run ends: the run fails instead of running for hours."""

    def __init__(self, url: str, seconds: float) -> None:
        self._url, self._seconds = url, seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="bench-watchdog", daemon=True)
        self.fired = False

    def __enter__(self) -> Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _watch(self) -> None:
        if self._stop.wait(self._seconds):
            return
        self.fired = True
        engine = sa.create_engine(
            self._url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT"
        )
        try:
            while not self._stop.is_set():
                with engine.connect() as conn:
                    conn.execute(
                        sa.text(
                            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                            "AND state = 'active'"
                        )
                    )
                self._stop.wait(2)
        finally:
            engine.dispose()


# -- measurements ----------------------------------------------------------------------------


# `sh` forks the sync (a command followed by `exit` is not exec'd in place): ru_maxrss counts the
# address space a process was exec'd from, so a direct spawn from this big process (simulator,
# generated days) would report our RSS, not the sync's.
FORKING_SHELL = ("/bin/sh", "-c", '"$0" "$@"; exit $?')


def _sync_in_subprocess(
    url: str, org_id: str, day: date, args: argparse.Namespace
) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.sync_once", "--org", org_id, "--day", day.isoformat()]
    with tempfile.TemporaryDirectory(prefix="recompra-bench-") as directory:
        out = Path(directory) / "result.json"
        started = time.perf_counter()
        killed = False
        with Watchdog(url, args.budget) as watchdog:
            process = subprocess.Popen(
                [*FORKING_SHELL, *command, "--out", str(out)],
                cwd=ROOT,
                env={**os.environ, DATABASE_URL_ENV: url},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,  # its own process group: sh and the sync are killed together
            )
            try:
                _, stderr = process.communicate(timeout=args.budget + 60)
            except subprocess.TimeoutExpired:  # stuck outside SQL, where the watchdog cannot reach
                killed = True
                os.killpg(process.pid, signal.SIGKILL)
                _, stderr = process.communicate()
        wall = time.perf_counter() - started
        if not out.exists():
            raise RuntimeError(f"bench.sync_once wrote no result:\n{stderr[-4000:]}")
        result = json.loads(out.read_text(encoding="utf-8"))
    result["process_wall_seconds"] = wall  # interpreter start and imports included
    result["budget_exceeded"] = watchdog.fired or killed
    result["killed"] = killed
    if not result["completed"] and killed:
        result["error"] = result.get("error") or "killed by the bench after the time budget"
    return result


def _say_outcome(what: str, result: dict[str, Any]) -> None:
    if result["completed"]:
        steps = ", ".join(f"{k} {v:.1f}" for k, v in result["step_seconds"].items())
        say(f"{what}: {result['total_seconds']:.1f} s ({steps})")
    else:
        say(
            f"{what} DID NOT FINISH: step {result['failed_step'] or '?'} after {result['total_seconds']:.0f} s "
            f"(budget exceeded: {result['budget_exceeded']}; {result['error']})"
        )


def _materialize(url: str, org_id: str, day: date, args: argparse.Namespace) -> dict[str, Any]:
    import dagster as dg

    from recompra_pipelines.automation.erp_sync import SYNC_GRAPH, erp_sync_job
    from recompra_pipelines.definitions import defs
    from recompra_pipelines.partitions import ORGANIZATIONS, org_day_key
    from recompra_pipelines.resources.crm_database import CrmDatabase
    from recompra_pipelines.resources.erp import ErpConnectors

    # Twice the budget: the graph adds its asset checks and Dagster's own work to the steps.
    with dg.instance_for_test() as instance, Watchdog(url, 2 * args.budget) as watchdog:
        instance.add_dynamic_partitions(ORGANIZATIONS, [org_id])
        started = time.perf_counter()
        # The `erp_sync` job's graph: sync, ledger, campaigns, attribution, dispatch, checks.
        result = dg.materialize(
            [*defs.assets, *defs.asset_checks],
            selection=SYNC_GRAPH,
            partition_key=str(org_day_key(org_id, day)),
            instance=instance,
            resources={**defs.resources, "crm_db": CrmDatabase(url=url), "erp": ErpConnectors()},
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
            raise_on_error=False,
        )
        seconds = time.perf_counter() - started
        stats = instance.get_run_step_stats(result.run_id)
        checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    return {
        "success": result.success,
        "seconds": seconds,
        "budget_exceeded": watchdog.fired,
        "assets": sorted(
            key.to_user_string()
            for key in erp_sync_job.selection.resolve(defs.resolve_asset_graph())
        ),
        "step_seconds": {s.step_key: (s.end_time or 0) - (s.start_time or 0) for s in stats},
        "step_status": {s.step_key: str(s.status.value if s.status else None) for s in stats},
        "checks_passed": checks,
    }


def _timed_subprocess(command: list[str], env: dict[str, str], args) -> dict[str, Any]:
    """Wall time of one subprocess from its start (interpreter, imports and all) to its exit."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=2 * args.budget)
        killed = False
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        killed = True
    seconds = time.perf_counter() - started
    result: dict[str, Any] = {
        "seconds": seconds,
        "success": process.returncode == 0 and not killed,
        "returncode": process.returncode,
        "killed": killed,
    }
    if not result["success"]:
        result["error"] = (stderr or stdout).strip()[-2000:]
    return result


def _cli_syncs(url: str, org_id: str, day: date, args: argparse.Namespace) -> dict[str, Any]:
    """`recompra sync` twice, as a user tries it: the first sync of the day, then the unchanged
    day again. Without DAGSTER_HOME, as on a fresh machine: the CLI's ephemeral instance (what
    tells an unchanged day is in the CRM database, not in Dagster's storage)."""
    recompra = Path(sys.executable).with_name("recompra")
    command = [str(recompra), "sync", "--org", org_id, "--date", day.isoformat()]
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env[DATABASE_URL_ENV] = url
    runs: dict[str, Any] = {}
    for name in ("first", "unchanged"):
        runs[name] = _timed_subprocess(command, env, args)
        if not runs[name]["success"]:
            break
    return runs


def _dlt_loads(
    url: str, base_url: str, token: str, day: date, args: argparse.Namespace
) -> dict[str, Any]:
    """dlt's first load of the day, then the re-load of the unchanged day (same pipeline)."""
    parsed = sa.make_url(url)
    # dlt takes a connection string; an embedded server listens on a Unix socket only, which
    # libpq reads from the `host` query parameter (the authority part cannot hold a path), and
    # dlt insists on a password even where the server trusts local connections.
    socket_dir = parsed.query.get("host")
    database = sa.URL.create(
        "postgresql",
        username=parsed.username or "postgres",
        password=parsed.password or "unused",
        host=parsed.host or "localhost",
        port=parsed.port or 5432,
        database=parsed.database,
        query={"host": socket_dir} if socket_dir else {},
    ).render_as_string(hide_password=False)
    env = {
        **os.environ,
        "DLT_BENCH_ERP_TOKEN": token,
        "DLT_BENCH_DATABASE": json.dumps(database),
        # dlt reports anonymous usage to its makers by default: not from a benchmark, whose
        # timing would also include that request.
        "RUNTIME__DLTHUB_TELEMETRY": "false",
    }
    runs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="recompra-bench-dlt-") as directory:
        out = Path(directory) / "result.json"
        command = [
            str(args.dlt_python),
            str(DLT_LOADER),
            "--server-url", base_url,
            "--day", day.isoformat(),
            "--pipelines-dir", str(Path(directory) / "pipelines"),
            "--dataset", "dlt_online_software",
            "--out", str(out),
        ]  # fmt: skip
        for name in ("first", "reload"):
            out.unlink(missing_ok=True)
            runs[name] = _timed_subprocess(command, env, args)
            if out.exists():
                runs[name].update(json.loads(out.read_text(encoding="utf-8")))
            if not runs[name]["success"]:
                break
    return runs


def _crm_counts(engine: sa.Engine, org_id: str, day: date) -> dict[str, int]:
    with engine.connect() as conn:
        counts = {
            table: conn.scalar(
                sa.text(f"SELECT count(*) FROM {table} WHERE organizacao_id = :org"),
                {"org": org_id},
            )
            for table in CRM_TABLES
        }
        counts["erp_quarantine"] = conn.scalar(
            sa.text(
                "SELECT count(*) FROM erp_quarantine WHERE organizacao_id = :org AND data_referencia = :day"
            ),
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
                    sa.text(f"SELECT id, xmin::text FROM {table} WHERE organizacao_id = :org"),
                    {"org": org_id},
                )
            }
            for table in CRM_TABLES
        }


def _changed_rows(before: dict, after: dict) -> dict[str, int]:
    return {
        table: sum(
            1
            for k in before[table].keys() | after[table].keys()
            if before[table].get(k) != after[table].get(k)
        )
        for table in CRM_TABLES
    }


# -- figures ---------------------------------------------------------------------------------


def _figures(report: dict[str, Any]) -> list[Figure]:
    budget = report["budget_seconds"]
    first = report["first_sync"]
    copy_a, copy_b = report.get("copy_baseline_a"), report.get("copy_baseline_b")
    rerun, dagster = report.get("rerun"), report.get("dagster")
    not_measured = "not measured: " + report["skipped"].get("rerun", "")
    figures: list[Figure] = []

    if first["completed"]:
        rows = copy_a["total_rows"]
        rows_desc = f"{copy_a['rows']['sales']:,} sales + {copy_a['rows']['sale_items']:,} items"
        figures.append(
            Figure(
                "Sync stage, first run (fetch→normalize→entities→sales, no Dagster)",
                f"{first['total_seconds']:.2f} s = {rows / first['total_seconds']:,.0f} rows/s ({rows_desc})",
            )
        )
        figures.append(
            Figure(
                "Plain COPY of the same rows (median of runs)",
                f"{copy_a['seconds_median']:.2f} s = {copy_a['rows_per_second']:,.0f} rows/s",
            )
        )
        ratio = copy_a["seconds_median"] / first["total_seconds"]
        figures.append(
            Figure(
                "Sync stage vs COPY, throughput ratio (COPY time ÷ sync time)",
                f"{ratio:.3f}",
                f"≥ {TARGET_SYNC_RATIO}",
                ratio >= TARGET_SYNC_RATIO,
            )
        )
    else:
        figures.append(
            Figure(
                "Sync stage, first run (fetch→normalize→entities→sales, no Dagster)",
                f"DID NOT FINISH: step `{first['failed_step']}` still running when the {budget:.0f} s budget "
                "ran out (statement cancelled)"
                if first["budget_exceeded"]
                else f"FAILED in step `{first['failed_step']}`: {first['error']}",
            )
        )
        figures.append(Figure("Plain COPY of the same rows", not_measured))
        figures.append(
            Figure(
                "Sync stage vs COPY, throughput ratio (COPY time ÷ sync time)",
                not_measured,
                f"≥ {TARGET_SYNC_RATIO}",
                None,
            )
        )

    if rerun and rerun["completed"]:
        ratio = rerun["total_seconds"] / first["total_seconds"]
        changed = sum(rerun["crm_rows_changed"].values())
        figures.append(
            Figure(
                "Re-run of the unchanged day, time ÷ first run",
                f"{ratio:.3f} ({rerun['total_seconds']:.2f} s)",
                f"≤ {TARGET_RERUN_RATIO}",
                ratio <= TARGET_RERUN_RATIO,
            )
        )
        figures.append(
            Figure(
                "Re-run: CRM rows written (xmin of sales, sale_items, clients, products, sellers, partners)",
                f"{changed}"
                + (
                    ""
                    if not changed
                    else " ("
                    + ", ".join(
                        f"{table} {n}" for table, n in rerun["crm_rows_changed"].items() if n
                    )
                    + ")"
                ),
                "0",
                changed == 0,
            )
        )
    else:
        why = (
            not_measured
            if rerun is None
            else f"re-run failed in step `{rerun['failed_step']}`: {rerun['error']}"
        )
        figures.append(
            Figure(
                "Re-run of the unchanged day, time ÷ first run",
                why,
                f"≤ {TARGET_RERUN_RATIO}",
                None,
            )
        )
        figures.append(Figure("Re-run: CRM rows written", why, "0", None))

    tick, change = report.get("tick"), report.get("tick_change")
    if tick and tick["completed"]:
        written = sum(tick["crm_rows_changed"].values())
        figures.append(
            Figure(
                f"A later tick: {change['cancelled']} sales cancelled and {change['new']} new "
                "(1 % each), time ÷ first run",
                f"{tick['total_seconds'] / first['total_seconds']:.3f} ({tick['total_seconds']:.2f} s;"
                f" normalize mapped {tick['results']['normalize']['mapped']:,} records), "
                f"{written:,} CRM rows written",
            )
        )
    elif tick:
        figures.append(
            Figure(
                "A later tick (1 % of the day cancelled, 1 % new)",
                f"failed in step `{tick['failed_step']}`: {tick['error']}",
            )
        )

    graph_name = "Whole graph via Dagster materialize (org B: sync, ledger, campaigns, attribution, dispatch, checks)"
    if dagster and dagster["success"]:
        ratio = copy_b["seconds_median"] / dagster["seconds"]
        figures.append(
            Figure(
                graph_name,
                f"{dagster['seconds']:.2f} s = {copy_b['total_rows'] / dagster['seconds']:,.0f} rows/s",
            )
        )
        figures.append(
            Figure(
                "Whole graph vs COPY of its rows, throughput ratio",
                f"{ratio:.3f} (COPY {copy_b['seconds_median']:.2f} s)",
                f"≥ {TARGET_GRAPH_RATIO}",
                ratio >= TARGET_GRAPH_RATIO,
            )
        )
        # Issue #3's figure: the ledger step's own cost against the time the whole graph may
        # take at the target ratio (COPY time ÷ 0.25).
        graph_budget = copy_b["seconds_median"] / TARGET_GRAPH_RATIO
        ledger = dagster["step_seconds"].get("cashback_ledger")
        if ledger is not None:
            figures.append(
                Figure(
                    "Ledger step (cashback_ledger) of that run vs the whole-graph budget",
                    f"{ledger:.2f} s = {100 * ledger / graph_budget:.0f} % of "
                    f"{graph_budget:.2f} s (COPY ÷ {TARGET_GRAPH_RATIO})",
                    "inside the budget",
                    ledger <= graph_budget,
                )
            )
    else:
        if dagster is None:
            why = "not measured: " + report["skipped"].get("dagster", "")
        else:
            failed = [k for k, v in dagster["step_status"].items() if v == "FAILURE"]
            why = (
                f"run FAILED after {dagster['seconds']:.0f} s (failed steps: {', '.join(failed) or '?'}"
                + (f"; {2 * budget:.0f} s budget exceeded" if dagster["budget_exceeded"] else "")
                + ")"
            )
        figures.append(Figure(graph_name, why))
        figures.append(
            Figure(
                "Whole graph vs COPY of its rows, throughput ratio",
                why,
                f"≥ {TARGET_GRAPH_RATIO}",
                None,
            )
        )

    figures += _dlt_figures(report)

    peak = first.get("max_rss_bytes", 0)
    complete = first["completed"]
    figures.append(
        Figure(
            "Peak RSS of the first-sync subprocess (ru_maxrss)",
            f"{peak / MIB:,.0f} MiB"
            + ("" if complete else f" (up to step `{first['failed_step']}`: run incomplete)"),
            f"≤ {TARGET_PEAK_BYTES // MIB} MiB",
            False if peak > TARGET_PEAK_BYTES else (True if complete else None),
        )
    )
    return figures


def _dlt_figures(report: dict[str, Any]) -> list[Figure]:
    """The whole `recompra sync` of org C against dlt merging the same day."""
    cli, dlt = report.get("cli_sync") or {}, report.get("dlt") or {}
    pairs = (
        ("first", "first", "first sync", "first load", TARGET_VS_DLT_FIRST),
        ("unchanged", "reload", "re-run of the unchanged day", "re-load", TARGET_VS_DLT_RELOAD),
    )
    figures = []
    for ours_key, theirs_key, ours_name, theirs_name, target in pairs:
        name = f"Whole `recompra sync` {ours_name} ÷ dlt {theirs_name} of the same day"
        ours, theirs = cli.get(ours_key), dlt.get(theirs_key)
        if ours and theirs and ours["success"] and theirs["success"]:
            ratio = ours["seconds"] / theirs["seconds"]
            figures.append(
                Figure(
                    name,
                    f"{ratio:.2f} ({ours['seconds']:.2f} s vs {theirs['seconds']:.2f} s)",
                    f"≤ {target}",
                    ratio <= target,
                )
            )
            continue
        if ours is None or theirs is None:
            why = "not measured: " + (
                report["skipped"].get("cli_sync" if ours is None else "dlt") or "earlier run failed"
            )
        else:
            failed = ours if not ours["success"] else theirs
            why = f"FAILED: {failed.get('error', '')[-300:]}"
        figures.append(Figure(name, why, f"≤ {target}", None))
    return figures


def _dlt_rows(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = []
    for key, name in (("first", "first sync"), ("unchanged", "re-run of the unchanged day")):
        run = (report.get("cli_sync") or {}).get(key)
        if run:
            rows.append(
                (
                    f"`recompra sync` {name}",
                    f"{run['seconds']:.2f}",
                    "ok" if run["success"] else "FAILED",
                )
            )
    for key, name in (("first", "first load"), ("reload", "re-load of the unchanged day")):
        run = (report.get("dlt") or {}).get(key)
        if run:
            steps = ", ".join(
                f"{step} {seconds:.2f}"
                for step, seconds in run.get("step_seconds", {}).items()
                if step != "run"
            )
            rows.append(
                (
                    f"dlt {name}",
                    f"{run['seconds']:.2f}",
                    ("ok" if run["success"] else "FAILED")
                    + (
                        f"; in-process pipeline.run {run['run_seconds']:.2f} s ({steps})"
                        if steps
                        else ""
                    ),
                )
            )
    return rows


def _step_rows(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    total = result["total_seconds"] or 1e-9
    rows = []
    for name in STEPS:
        if name in result["step_seconds"]:
            seconds = result["step_seconds"][name]
            note = "" if name != result.get("failed_step") else " (did not finish)"
            rows.append((name + note, f"{seconds:.2f}", f"{100 * seconds / total:.0f} %"))
    rows.append(("total", f"{result['total_seconds']:.2f}", "100 %"))
    return rows


def _profile_rows(result: dict[str, Any], per_step: int = 8) -> list[tuple[str, str, str, str]]:
    rows = []
    for step in STEPS:
        entries = sorted(
            (p for p in result["profile"] if p["step"] == step), key=lambda p: -p["seconds"]
        )
        for p in entries[:per_step]:
            if p["seconds"] >= 0.01:
                rows.append((step, p["label"], f"{p['seconds']:.2f}", f"{p['calls']:,}"))
    return rows


def _context_lines(report: dict[str, Any]) -> list[str]:
    a, first = report["org_a"], report["first_sync"]
    crm = a["crm_rows"]
    settings = ", ".join(f"{k}={v}" for k, v in report["postgres_settings"].items())
    lines = [
        f"Run {report['generated_at']}, git {report['git']}, Python {report['machine']['python']}, "
        f"{report['machine']['cpus']} CPUs, load average (1/5/15 min) {report['load_average_start']} at start, "
        f"{report['load_average_end']} at end: other work on the machine inflates every time.",
        f"PostgreSQL {report['postgres']} ({report['database_server']}; {settings}).",
    ]
    fetch = first["results"].get("fetch", {})
    normalize = first["results"].get("normalize", {})
    lines.append(
        f"Day {report['day']}, {report['sales_per_day']:,} sales/day per org: the simulator served "
        f"{a['erp_records']:,} records with {a['erp_items']:,} items"
        + (f" ({fetch['size_bytes'] / MIB:,.1f} MiB of JSON)" if "size_bytes" in fetch else "")
        + (
            f"; staged {normalize['staged']:,}, quarantined {normalize['quarantined']:,}, troco lines dropped "
            f"{normalize['troco_dropped']:,}."
            if "staged" in normalize
            else "."
        )
    )
    lines.append(
        f"Org A in the CRM after the first sync: {crm['sales']:,} sales, {crm['sale_items']:,} items, "
        f"{crm['clients']:,} clients, {crm['products']:,} products, {crm['sellers']:,} sellers, {crm['partners']:,} partners."
    )
    lines.append(
        f"Simulator day generation ({a['simulator_generation_seconds']:.1f} s) happens before the timed runs; "
        "serving the cached day over HTTP is inside `fetch`. Time budget per measured run: "
        f"{report['budget_seconds']:.0f} s."
    )
    copy_a = report.get("copy_baseline_a")
    if copy_a:
        lines.append(
            f"COPY baseline target: {TARGET_KIND}. Timed: COPY sales + COPY items + COMMIT, psycopg write_row "
            f"from Python tuples; runs {', '.join(f'{s:.2f}' for s in copy_a['seconds_runs'])} s. Server share "
            f"alone (pre-encoded COPY text): {copy_a['server_only_seconds_median']:.2f} s."
        )
    lines.append(
        f"Sync subprocess wall time incl. interpreter start and imports: {first['process_wall_seconds']:.1f} s; "
        f"its ru_maxrss before the sync started (imports): {first['max_rss_bytes_before_sync'] / MIB:,.0f} MiB; "
        + (
            f"cross-check, peak RSS of its own address space (VmHWM): {first['vm_hwm_bytes'] / MIB:,.0f} MiB. "
            if first.get("vm_hwm_bytes")
            else ""
        )
        + "It is started through `sh`, which forks it: exec'd straight from the bench process, its "
        "ru_maxrss would start at the bench's own RSS (Linux keeps the exec'ing address space's peak)."
    )
    dagster = report.get("dagster")
    if dagster:
        lines.append(
            f"Dagster run success: {dagster['success']}; asset checks passed: "
            + (
                ", ".join(f"{k}={v}" for k, v in sorted(dagster["checks_passed"].items()))
                or "none ran"
            )
            + "."
        )
    dlt_first = (report.get("dlt") or {}).get("first")
    if dlt_first and dlt_first.get("rows"):
        lines.append(
            f"dlt {dlt_first.get('dlt_version', '?')} (bench/dlt/load_day.py, its own virtualenv): one "
            '`@dlt.resource(primary_key="id", write_disposition="merge")` over the day\'s records '
            "fetched from the same simulator, default normalizer (items unnested into `sales__itens`), "
            f"PostgreSQL destination on the same server; it stored {dlt_first['rows']['sales']:,} sales "
            f"and {dlt_first['rows']['sales__itens']:,} items, every value as the ERP's text (no money, "
            "no clients, no checks). `recompra sync` ran without DAGSTER_HOME (the CLI's "
            "ephemeral Dagster instance), as on a fresh machine."
        )
    for what, reason in report["skipped"].items():
        lines.append(f"Skipped {what}: {reason}.")
    return lines


def write_outputs(report: dict[str, Any], out_dir: Path, stem: str) -> None:
    figures = [Figure(**f) for f in report["figures"]]
    step_header = ("Step", "Seconds", "Share")
    profile_header = (
        "Step",
        "Where (nested: a function's time includes its SQL/COPY)",
        "Seconds",
        "Calls",
    )
    sections = [
        ("Figures", FIGURE_HEADER, figure_rows(figures)),
        ("First sync, per step", step_header, _step_rows(report["first_sync"])),
        (
            "First sync, profile (top entries per step)",
            profile_header,
            _profile_rows(report["first_sync"]),
        ),
    ]
    if report.get("rerun"):
        sections += [
            ("Re-run of the unchanged day, per step", step_header, _step_rows(report["rerun"])),
            ("Re-run, profile", profile_header, _profile_rows(report["rerun"], per_step=4)),
        ]
    if report.get("tick"):
        sections.append(
            (
                "A later tick (1 % cancelled, 1 % new), per step",
                step_header,
                _step_rows(report["tick"]),
            )
        )
    if report.get("dagster"):
        dagster = report["dagster"]
        rows = [
            (k, dagster["step_status"].get(k, ""), f"{v:.2f}")
            for k, v in sorted(dagster["step_seconds"].items(), key=lambda kv: -kv[1])
        ]
        rows.append(("whole materialize() call", "", f"{dagster['seconds']:.2f}"))
        sections.append(
            ("Dagster materialize (org B), per step", ("Step", "Status", "Seconds"), rows)
        )
    if report.get("cli_sync") or report.get("dlt"):
        sections.append(
            (
                "Org C: whole `recompra sync` vs dlt on the same day (subprocess wall time)",
                ("Run", "Seconds", "Outcome"),
                _dlt_rows(report),
            )
        )
    context = _context_lines(report)

    print()
    for title, header, rows in sections:
        print(title)
        print(text_table(header, rows))
        print()
    for line in context:
        print(f"- {line}")
    print(
        f"\nbench wall time {report['bench_wall_seconds']:.0f} s; written {out_dir}/{stem}.md and {stem}.json"
    )

    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = [
        "# Recompra benchmark (targets: docs/architecture.md#performance-targets)",
        "",
        *(f"- {line}" for line in context),
        "",
    ]
    for title, header, rows in sections:
        markdown += [f"## {title}", "", markdown_table(header, rows), ""]
    markdown.append(
        f"Benchmark wall time {report['bench_wall_seconds']:.0f} s. Targets are reported, not enforced."
    )
    (out_dir / f"{stem}.md").write_text("\n".join(markdown) + "\n", encoding="utf-8")
    (out_dir / f"{stem}.json").write_text(
        json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8"
    )


def _git_revision() -> str:
    try:

        def git(*args: str) -> str:
            return subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout.strip()

        dirty = git("status", "--porcelain", "--untracked-files=no")
        return git("rev-parse", "--short", "HEAD") + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


if __name__ == "__main__":
    raise SystemExit(main())
