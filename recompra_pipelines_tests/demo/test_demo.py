"""`make demo` stays in its lane: `--once` syncs the three demo organizations with every asset
check passing, prints its table last and leaves no PostgreSQL of its own running; a port held
by a process it did not start is refused before anything starts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import psutil

from recompra_pipelines.db.engine import DATABASE_URL_ENV, HOME_ENV
from recompra_pipelines.resources.alerting import WEBHOOK_URL_ENV

ROOT = Path(__file__).resolve().parents[2]
DEMO_ORGS = {"demo-loja-centro", "demo-mercado-bairro", "demo-restaurante-sabor"}


def _demo(home: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, HOME_ENV: str(home)}
    for name in (DATABASE_URL_ENV, WEBHOOK_URL_ENV, "DAGSTER_HOME"):
        env.pop(name, None)  # the demo's own embedded PostgreSQL, inbox and instance
    return subprocess.run(
        [sys.executable, "-m", "recompra_pipelines.cli", "demo", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def _postgres_serving(pgdata: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if "postgres" in (process.info["name"] or "") and str(pgdata) in cmdline:
            found.append(process)
    return found


def test_once_passes_every_check_prints_the_table_last_and_stops_its_postgresql(tmp_path):
    completed = _demo(tmp_path, "--once")

    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = completed.stdout.rstrip().splitlines()
    header = lines.index(next(line for line in lines if line.startswith("org ")))
    table = lines[header:]
    assert header + 2 + len(DEMO_ORGS) == len(lines), "the table is the last thing printed"
    columns = table[0].split()
    rows = {row.split()[0]: row.split() for row in table[2:]}
    assert set(rows) == DEMO_ORGS
    for org_id, row in rows.items():
        passed, run = row[columns.index("checks")].split("/")  # passed / run
        assert passed == run and int(run) > 0, (org_id, row)
        assert int(row[columns.index("fetched")]) > 0
    assert "DEBUG" not in completed.stdout + completed.stderr
    assert (tmp_path / "pgdata" / "PG_VERSION").exists()  # it did start one...
    assert not _postgres_serving(tmp_path / "pgdata")  # ...and stopped it


def test_a_port_held_by_another_process_is_refused_before_anything_starts(tmp_path):
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        foreign.setblocking(False)
        port = foreign.getsockname()[1]

        completed = _demo(tmp_path, "--erp-port", str(port), "--ui-port", "0", timeout=120)

        assert completed.returncode != 0
        assert f"port {port} (Online Software simulator) is already in use" in completed.stderr
        assert "--free-ports" in completed.stderr
        try:
            foreign.accept()
        except BlockingIOError:
            pass  # nobody knocked
        else:
            raise AssertionError("the demo connected to a process it did not start")
    assert not (tmp_path / "pgdata").exists()
