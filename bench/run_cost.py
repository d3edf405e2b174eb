"""The fixed cost of one `erp_sync` run, against an empty run of the same graph shape.

`python -m bench.run_cost [--out PATH] [--label TEXT] [--baseline-root DIR --baseline-label T]`,
all figures from one run of this bench:
- the import of the code location in a fresh process (`import recompra_pipelines.definitions`,
  what every run worker does before its first step) against `import dagster, dagster_postgres`
  (what any run worker imports whatever the code), median of 5;
- in-process `erp_sync` runs of a 1,000-sale day, Dagster's storage in PostgreSQL as
  dagster.yaml configures it: an unchanged-content run (the day already synced and the ERP
  answering the same: a lookback tick, or a tick whose change check failed) and a 1 %-change
  run (every 100th sale cancelled and as many new ones, what an open day looks like 5 minutes
  later), interleaved with empty runs of the same graph shape (same asset keys, dependencies
  and checks; bodies that do nothing), median of 5 days each;
- per run: Dagster storage events written (`event_logs` rows) and new database connections, to
  Dagster's storage and to the CRM database;
- with `--baseline-root` (a checkout of earlier code; `make bench` extracts main before #17's
  cheaper runs), the same import and runs of that code too, in a process of its own on the same
  server: before and after side by side, each against its own empty run;
- `recompra sync` in a fresh process, with DAGSTER_HOME and without (a fresh machine).
Writes `bench/results/run_cost.md` (or `--out`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import sqlalchemy as sa
import yaml

from bench.database import BENCH_DATABASE_URL_ENV, bench_server, fresh_database
from bench.overhead import empty_graph_job
from bench.report import markdown_table

if TYPE_CHECKING:
    from recompra_pipelines.simulators.erp_online_software import OnlineSoftwareSimulator

RESULTS = Path(__file__).parent / "results" / "run_cost.md"
ROOT = Path(__file__).resolve().parents[1]
INSTANCE_YAML = ROOT / "dagster.yaml"
LAST_DAY = date(2026, 11, 20)
DAYS = 5
IMPORT_REPEATS = 5
SALES_PER_DAY = 1_000
ORG_ID = "run-cost"
CODE_LOCATION_IMPORT = "import recompra_pipelines.definitions"
DAGSTER_IMPORT = "import dagster, dagster_postgres"


@dataclass(frozen=True)
class RunCost:
    seconds: float
    events: int
    dagster_connections: int
    crm_connections: int


@dataclass(frozen=True)
class ImportCost:
    wall: float
    cpu: float


def import_costs(statements: dict[str, tuple[str, Path | None]]) -> dict[str, ImportCost]:
    """Median wall and CPU time of a fresh interpreter running each statement (from the given
    source root, else this one), the statements interleaved so load drift hits them alike; CPU
    time (user + system of the child) moves much less than wall time on a loaded machine."""
    samples: dict[str, list[ImportCost]] = {name: [] for name in statements}
    for repeat in range(IMPORT_REPEATS + 1):
        for name, (statement, root) in statements.items():
            env = {**os.environ, "PYTHONPATH": str(root)} if root else None
            started = time.perf_counter()
            child = subprocess.Popen([sys.executable, "-c", statement], env=env, cwd=root)
            _, status, usage = os.wait4(child.pid, 0)
            wall = time.perf_counter() - started
            assert os.waitstatus_to_exitcode(status) == 0, f"{statement!r} failed"
            if repeat:  # the first round writes bytecode caches
                samples[name].append(ImportCost(wall, usage.ru_utime + usage.ru_stime))
    return {
        name: ImportCost(
            statistics.median(c.wall for c in costs), statistics.median(c.cpu for c in costs)
        )
        for name, costs in samples.items()
    }


def _change_one_percent(simulator: OnlineSoftwareSimulator, day: date) -> None:
    """Every 100th sale of the day cancelled and as many new ones (copies under new ids)."""
    records = simulator.sales_for(ORG_ID, day)
    config = simulator.config_for(ORG_ID)
    cancelled = {
        str(r["id"]): {"valor": "0.00", "situacao": "02"} for r in records[::100] if "id" in r
    }
    new = [{**r, "id": f"9{day:%y%m%d}{index:04d}"} for index, r in enumerate(records[50::100])]
    simulator.configure(
        ORG_ID,
        overrides={**config.overrides, **cancelled},
        extra_sales=[*config.extra_sales, *new],
    )


def cli_costs(day: date) -> dict[str, dict[str, float | bool]]:
    """Wall time of `recompra sync` in a fresh process: as an operator runs it with a Dagster
    instance (DAGSTER_HOME with the repository's dagster.yaml) the day's first sync, the same
    day unchanged, then unchanged with `--force` (always a run: what every unchanged call cost
    before the CLI had a change check); and on the next day as on a fresh machine (no
    DAGSTER_HOME, an ephemeral instance), the first sync and the same day unchanged."""
    recompra = Path(sys.executable).with_name("recompra")

    def timed(env: dict[str, str], on: date, *extra: str) -> dict[str, float | bool]:
        command = [str(recompra), "sync", "--org", ORG_ID, "--date", on.isoformat(), *extra]
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        assert done.returncode == 0, done.stderr[-2000:]
        return {"seconds": seconds, "skipped": "skipped, no run started" in done.stdout}

    costs = {}
    with tempfile.TemporaryDirectory(prefix="bench-dagster-home-") as home:
        shutil.copy(INSTANCE_YAML, Path(home) / "dagster.yaml")
        env = {**os.environ, "DAGSTER_HOME": home}
        costs["first"] = timed(env, day)
        costs["unchanged"] = timed(env, day)
        costs["forced"] = timed(env, day, "--force")
    fresh_machine = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    next_day = day + timedelta(days=1)
    costs["first_no_home"] = timed(fresh_machine, next_day)
    costs["unchanged_no_home"] = timed(fresh_machine, next_day)
    return costs


def _cli_rows(cli: dict[str, dict[str, float | bool]]) -> list[tuple[str, str]]:
    def how(call: dict) -> str:
        return " (skipped by the change check)" if call["skipped"] else " (a full run)"

    return [
        ("with DAGSTER_HOME: first sync of the day", f"{cli['first']['seconds']:.2f} s"),
        (
            "with DAGSTER_HOME: the same day unchanged" + how(cli["unchanged"]),
            f"{cli['unchanged']['seconds']:.2f} s",
        ),
        (
            "with DAGSTER_HOME: the same day unchanged, `--force` (always a full run)",
            f"{cli['forced']['seconds']:.2f} s",
        ),
        (
            "no DAGSTER_HOME (ephemeral instance): first sync of the next day",
            f"{cli['first_no_home']['seconds']:.2f} s",
        ),
        (
            "no DAGSTER_HOME: that day unchanged" + how(cli["unchanged_no_home"]),
            f"{cli['unchanged_no_home']['seconds']:.2f} s",
        ),
    ]


CATEGORIES = ("empty", "unchanged", "changed", "first")
CATEGORY_NAMES = {
    "empty": "empty run, same graph shape",
    "unchanged": "unchanged-content run",
    "changed": "1 %-change run (10 cancelled, 10 new)",
    "first": f"first sync of the day ({SALES_PER_DAY:,} sales)",
}


def measure_runs(instance_yaml: Path, with_cli: bool) -> dict:
    """In this process, with whatever `recompra_pipelines` it imports (this checkout's or a
    baseline's, see `_runs_of`): a fresh CRM and Dagster database on the bench server, the
    simulated organization, then the interleaved runs. Returns each run's cost by category."""
    from recompra_pipelines.db.engine import create_crm_engine
    from recompra_pipelines.db.migrate import upgrade
    from recompra_pipelines.orgfile.organization import OrgFile
    from recompra_pipelines.orgfile_store.writer import apply_org_file
    from recompra_pipelines.partitions import ORGANIZATIONS, org_day_key
    from recompra_pipelines.simulators.erp_online_software import OnlineSoftwareSimulator

    simulator = OnlineSoftwareSimulator()
    simulator.configure(ORG_ID, sales_per_day=SALES_PER_DAY)
    connections: Counter[str] = Counter()

    def connected(dbapi_connection, _record) -> None:
        # Every SQLAlchemy engine of the process: Dagster's storage (psycopg2) and the CRM's
        # (psycopg 3) both name their database in `info`.
        connections[dbapi_connection.info.dbname] += 1

    with (
        bench_server() as server,
        fresh_database(server, "recompra_bench") as crm_url,
        fresh_database(server, "recompra_bench_dagster") as dagster_url,
        simulator.run_in_thread() as erp_url,
    ):
        upgrade(crm_url)
        crm_name = sa.make_url(crm_url).database
        dagster_name = sa.make_url(dagster_url).database
        storage_url = (
            sa.make_url(dagster_url)
            .set(drivername="postgresql+psycopg2")
            .render_as_string(hide_password=False)
        )
        engine = create_crm_engine(crm_url)
        org = OrgFile.model_validate(
            {
                "id": ORG_ID,
                "name": ORG_ID,
                "effects_start": str(LAST_DAY - timedelta(days=400)),
                "integration": {"type": "ONLINE-SOFTWARE", "server_url": erp_url, "token": ORG_ID},
                "cashback_program": {"accrual_type": "PERCENTUAL", "accrual_value": 5},
                "campaigns": [
                    {"key": "primeira", "title": "Primeira", "trigger": "PRIMEIRA-COMPRA"}
                ],
            }
        )
        with engine.begin() as conn:
            apply_org_file(conn, org)
        engine.dispose()
        os.environ["RECOMPRA_DATABASE_URL"] = crm_url
        from recompra_pipelines.definitions import defs

        real = defs.resolve_job_def("erp_sync")
        empty = empty_graph_job(defs)
        storage = sa.create_engine(dagster_url, poolclass=sa.pool.NullPool)
        # Dagster's storage exactly as the code's dagster.yaml configures it, on the bench's
        # database.
        os.environ["DAGSTER_PG_URL"] = storage_url
        storage_config = yaml.safe_load(instance_yaml.read_text())["storage"]
        with dg.instance_for_test(overrides={"storage": storage_config}) as instance:
            instance.add_dynamic_partitions(ORGANIZATIONS, [ORG_ID])
            sa.event.listen(sa.engine.Engine, "connect", connected)

            def run(job: dg.JobDefinition, day: date) -> RunCost:
                connections.clear()
                started = time.perf_counter()
                result = job.execute_in_process(
                    instance=instance, partition_key=org_day_key(ORG_ID, day)
                )
                seconds = time.perf_counter() - started
                assert result.success, f"{job.name} {day} failed"
                opened = dict(connections)
                with storage.connect() as conn:
                    events = conn.execute(
                        sa.text("SELECT count(*) FROM event_logs WHERE run_id = :run"),
                        {"run": result.run_id},
                    ).scalar_one()
                return RunCost(
                    seconds=seconds,
                    events=events,
                    dagster_connections=opened.get(dagster_name, 0),
                    crm_connections=opened.get(crm_name, 0),
                )

            days = [LAST_DAY - timedelta(days=n) for n in range(DAYS + 1)]
            run(real, days[-1])  # warm-up: imports, first connections, caches
            run(empty, days[-1])
            costs: dict[str, list[RunCost]] = {name: [] for name in CATEGORIES}
            # Interleaved, so drift on a shared machine hits the real and the empty runs alike.
            for day in days[:DAYS]:
                costs["first"].append(run(real, day))  # the day's first sync
                costs["unchanged"].append(run(real, day))
                costs["empty"].append(run(empty, day))
                _change_one_percent(simulator, day)
                costs["changed"].append(run(real, day))
                costs["empty"].append(run(empty, day))
            sa.event.remove(sa.engine.Engine, "connect", connected)
        storage.dispose()
        cli = cli_costs(days[0] + timedelta(days=1)) if with_cli else None
    return {
        "runs": {name: [dataclasses.asdict(c) for c in runs] for name, runs in costs.items()},
        "cli": cli,
    }


def _runs_of(root: Path | None, server_url: str) -> dict:
    """`measure_runs` in a fresh process importing `recompra_pipelines` from `root` (a baseline
    checkout; None: this one) and this checkout's bench; its Dagster storage as `root`'s
    dagster.yaml configures it; on the same bench server."""
    env = {**os.environ, BENCH_DATABASE_URL_ENV: server_url}
    with tempfile.TemporaryDirectory(prefix="bench-run-cost-") as directory:
        out = Path(directory) / "runs.json"
        cwd = ROOT
        if root is not None:
            # `python -m` puts its working directory first on sys.path: a directory holding
            # the baseline's package and this checkout's bench.
            cwd = Path(directory) / "code"
            cwd.mkdir()
            (cwd / "recompra_pipelines").symlink_to(root.resolve() / "recompra_pipelines")
            (cwd / "bench").symlink_to(ROOT / "bench")
        instance_yaml = (root or ROOT).resolve() / "dagster.yaml"
        command = [sys.executable, "-m", "bench.run_cost", "--measure-runs", str(out)]
        command += ["--instance-yaml", str(instance_yaml)]
        if root is None:
            command.append("--with-cli")
        subprocess.run(command, env=env, cwd=cwd, check=True)
        return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the results")
    parser.add_argument("--label", default="", help="what code this run measured")
    parser.add_argument(
        "--baseline-root",
        type=Path,
        help="a checkout of earlier code (e.g. main before a change): its code-location import "
        "and its runs are measured in the same bench run (`make bench` extracts one)",
    )
    parser.add_argument("--baseline-label", default="", help="what the baseline is")
    parser.add_argument("--measure-runs", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--instance-yaml", type=Path, default=INSTANCE_YAML, help=argparse.SUPPRESS)
    parser.add_argument("--with-cli", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("WHATSAPP_GRAPH_URL", "http://127.0.0.1:9")
    if args.measure_runs:
        figures = measure_runs(args.instance_yaml, args.with_cli)
        args.measure_runs.write_text(json.dumps(figures))
        return 0
    load_before = os.getloadavg()
    baseline = args.baseline_label or (args.baseline_root.name if args.baseline_root else "")

    imports = {
        f"`{CODE_LOCATION_IMPORT}`": (CODE_LOCATION_IMPORT, None),
        f"`{DAGSTER_IMPORT}` (any run worker)": (DAGSTER_IMPORT, None),
    }
    if args.baseline_root:
        imports[f"`{CODE_LOCATION_IMPORT}`, before ({baseline})"] = (
            CODE_LOCATION_IMPORT,
            args.baseline_root.resolve(),
        )
    import_figures = import_costs(imports)

    codes: dict[str, Path | None] = {"this code": None}
    if args.baseline_root:
        codes[f"before ({baseline})"] = args.baseline_root
    with bench_server() as server:
        measured = {name: _runs_of(root, server.url) for name, root in codes.items()}
        server_description = server.description
    load_after = os.getloadavg()

    def median(costs: list[dict], field: str) -> float:
        return statistics.median(cost[field] for cost in costs)

    header = ["run"]
    for name in codes:
        header += [f"{name}: wall time", f"{name}: vs its empty run"]
    header += ["storage events", "new connections: Dagster storage", "new connections: CRM"]
    rows = []
    for category in CATEGORIES:
        row = [CATEGORY_NAMES[category]]
        for name in codes:
            runs = measured[name]["runs"]
            seconds = median(runs[category], "seconds")
            row += [f"{seconds:.2f} s", f"{seconds / median(runs['empty'], 'seconds'):.2f}"]
        for field in ("events", "dagster_connections", "crm_connections"):
            row.append(
                " / ".join(f"{median(measured[n]['runs'][category], field):.0f}" for n in codes)
            )
        rows.append(tuple(row))
    cli = measured["this code"]["cli"]
    lines = [
        "# The fixed cost of a run",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        + (f", {args.label}" if args.label else "")
        + f"; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after "
        f"({os.cpu_count()} cores, shared machine: compare ratios within this run). "
        f"PostgreSQL: {server_description}.",
        "",
        "Start of every run worker, a fresh process each (median of "
        f"{IMPORT_REPEATS}, interleaved, bytecode cached):",
        "",
        markdown_table(
            ("import", "wall time", "CPU time"),
            [
                (name, f"{cost.wall:.2f} s", f"{cost.cpu:.2f} s")
                for name, cost in import_figures.items()
            ],
        ),
        "",
        f"`erp_sync` runs in-process, Dagster storage in PostgreSQL as each code's dagster.yaml "
        f"configures it, median of {DAYS} days (empty runs: {2 * DAYS}), interleaved; "
        + (
            "each code in a fresh process of its own, one after the other, on the same server "
            "(events and connections: " + " / ".join(codes) + ")"
            if len(codes) > 1
            else "one process"
        )
        + ":",
        "",
        markdown_table(tuple(header), rows),
        "",
        f"`recompra sync` of a {SALES_PER_DAY:,}-sale day in a fresh process:",
        "",
        markdown_table(("call", "wall time"), _cli_rows(cli)),
        "",
        "Under the daemon each run also starts a process that imports the code location (above);",
        "the storage events and connections of the launch itself (queue, run worker start) come",
        "on top of these in-process figures.",
    ]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
