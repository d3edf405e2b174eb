"""One fleet of N organizations under the real `dagster-daemon`, measured over a few ticks.

Everything it starts it stops, on success, failure or Ctrl-C: the embedded PostgreSQL (or the
two databases it created on RECOMPRA_BENCH_DATABASE_URL's server), the simulators' process and
the daemon's whole process group (its code server and run workers). It binds loopback ports
picked by the OS only, never the demo's.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import psutil
import sqlalchemy as sa
import yaml
from dagster._core.scheduler.instigation import TickStatus

from bench.database import bench_server, fresh_database
from bench.fleet import storage, volume
from bench.fleet.orgs import fleet
from bench.fleet.processes import Part, PartUsage, ProcessSampler
from bench.fleet.simulators import ORG_FILES_DIR, READY_FILE, STORE_TIMEZONE
from bench.fleet.ticks import (
    TickStats,
    run_timings,
    sync_job_runs,
    sync_ticks,
    tick_stats,
)
from bench.fleet.warmup import WarmUp, warm_up
from recompra_pipelines.asset_groups import SYNC_JOB
from recompra_pipelines.automation.run_status import IN_PROGRESS
from recompra_pipelines.demo import DemoPorts

ROOT = Path(__file__).resolve().parents[2]
TICK_SECONDS = 300
# The daemon loads the code location and starts its schedule loop before the first tick counts.
DAEMON_START_SECONDS = 60
POLL_SECONDS = 5
STOP_TIMEOUT_SECONDS = 60
READY_TIMEOUT_SECONDS = 120
FAILURE_MESSAGES = 3
# The demo's fixed ports (UI, simulators, webhook receiver): never bound by the bench.
RESERVED_PORTS = tuple(DemoPorts().services().values())
LOG_TAIL_LINES = 40
UNFINISHED = dg.RunsFilter(statuses=IN_PROGRESS)


@dataclass(frozen=True)
class FleetSettings:
    n: int
    ticks: int = 4
    clock_start: str = "17:30"
    max_concurrent_runs: int | None = None  # None: dagster.yaml's
    warmup_workers: int = 2


@dataclass
class RetentionPass:
    runs_before: int
    runs_deleted: int
    runs_kept: int
    partitions_materialized: int
    event_rows_deleted: int
    ticks_deleted: int
    seconds: float


@dataclass
class FleetResult:
    settings: FleetSettings
    server: str
    max_concurrent_runs: int
    warm_up: WarmUp
    ticks: list[TickStats]
    window_seconds: float
    usage: dict[Part, PartUsage]
    machine_cpu_seconds: float
    harness_cpu_seconds: float
    runs_in_window: int
    connections_opened: dict[str, int]  # per database, over the window
    other_runs: Counter
    runs_cut_off: int  # still queued or running when the window closed (stopped with the daemon)
    failures: list[str]
    run_footprint: dict[str, storage.TableSize]
    tick_footprint: storage.TableSize
    runs_per_day_modelled: int
    retention: RetentionPass
    storage_before_retention: dict[str, storage.TableSize]
    storage_after_retention: dict[str, storage.TableSize]

    @property
    def sustained(self) -> bool:
        """Every measured tick was evaluated, found nothing of its partitions still running and
        saw its last run end within 5 minutes."""
        return len(self.ticks) == self.settings.ticks and all(
            t.evaluated and t.lag is not None and t.lag < TICK_SECONDS and not t.busy
            for t in self.ticks
        )


def run_fleet(settings: FleetSettings, log=print) -> FleetResult:
    _check_ephemeral_ports()
    with tempfile.TemporaryDirectory(prefix="recompra-fleet-") as directory:
        work = Path(directory)
        try:
            return _run_fleet(settings, work, log)
        except BaseException:
            for name in ("daemon.log", "simulators.log"):
                if (work / name).exists():
                    tail = (work / name).read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
                    log(f"--- last lines of {name} ---\n" + "\n".join(tail))
            raise


def _run_fleet(settings: FleetSettings, work: Path, log) -> FleetResult:
    with ExitStack() as stack:
        server = stack.enter_context(bench_server())
        crm_url = stack.enter_context(fresh_database(server, "fleet_crm"))
        dagster_url = stack.enter_context(fresh_database(server, "fleet_dagster"))
        from recompra_pipelines.db.migrate import upgrade

        upgrade(crm_url)
        home = work / "dagster_home"
        home.mkdir()
        concurrency = _write_instance_config(home, settings.max_concurrent_runs)
        warm_home = work / "warm_up_home"
        warm_home.mkdir()
        _write_instance_config(warm_home, settings.max_concurrent_runs, capture_step_logs=False)
        simulators = _start(
            stack,
            [
                sys.executable,
                "-m",
                "bench.fleet.simulators",
                "--n",
                str(settings.n),
                "--clock-start",
                settings.clock_start,
                "--out",
                str(work),
            ],
            log_file=work / "simulators.log",
        )
        ready = _wait_ready(work / READY_FILE, simulators)
        os.environ.update(
            {
                "DAGSTER_HOME": str(home),
                "DAGSTER_PG_URL": _psycopg2(dagster_url),
                "RECOMPRA_DATABASE_URL": crm_url,
                "WHATSAPP_GRAPH_URL": ready["urls"]["whatsapp"],
            }
        )
        org_ids = _apply_org_files(crm_url, work / ORG_FILES_DIR)
        instance = stack.enter_context(dg.DagsterInstance.get())
        from recompra_pipelines.partitions import ORGANIZATIONS

        instance.add_dynamic_partitions(ORGANIZATIONS, org_ids)
        log(f"N={settings.n}: {len(org_ids)} organizations applied; warming up")
        since = time.time()
        warm = warm_up(crm_url, settings.warmup_workers, warm_home)
        log(
            f"N={settings.n}: warm-up {warm.runs} runs ({warm.failed} failed) in {warm.seconds:.0f} s"
        )

        daemon_started = time.time()
        daemon = _start(
            stack,
            [
                str(Path(sys.executable).parent / "dagster-daemon"),
                "run",
                "-w",
                str(ROOT / "workspace.yaml"),
            ],
            log_file=work / "daemon.log",
        )
        first = math.ceil((daemon_started + DAEMON_START_SECONDS) / TICK_SECONDS) * TICK_SECONDS
        last = first + (settings.ticks - 1) * TICK_SECONDS
        log(
            f"N={settings.n}: daemon up; measuring ticks "
            f"{_clock(first)}..{_clock(last)} (São Paulo)"
        )
        dagster_engine = sa.create_engine(dagster_url, poolclass=sa.pool.NullPool)
        stack.callback(dagster_engine.dispose)
        _sleep_until(first - 10, daemon)
        last_tick = storage.last_tick_id(dagster_engine)
        sampler = ProcessSampler(
            daemon=daemon.pid, simulators=simulators.pid, postmaster=server.postmaster_pid
        )
        databases = {"Dagster storage": _name(dagster_url), "CRM": _name(crm_url)}
        sessions_before = storage.sessions(server.url, list(databases.values()))
        harness = psutil.Process()
        harness_cpu, machine_cpu = _cpu(harness), _machine_cpu()
        window_start = time.time()
        sampler.start()
        _wait_for_ticks(instance, first, last, daemon, log, settings.n)
        usage = sampler.stop()
        window_end = time.time()
        cut_off = {run.run_id for run in instance.get_runs(filters=UNFINISHED)}
        harness_cpu, machine_cpu = _cpu(harness) - harness_cpu, _machine_cpu() - machine_cpu
        sessions_after = storage.sessions(server.url, list(databases.values()))
        connections = {
            label: sessions_after[name] - sessions_before[name] for label, name in databases.items()
        }
        _stop(daemon)

        timings = run_timings(instance, since)
        sync_runs = sync_job_runs(timings)
        ticks = [
            tick_stats(tick, org_ids, STORE_TIMEZONE, sync_runs)
            for tick in sync_ticks(instance, first, last)
        ]
        in_window = [t for t in timings if window_start <= t.created <= window_end]
        run_footprint = storage.runs_footprint(dagster_engine, [t.run_id for t in in_window])
        tick_footprint = storage.ticks_footprint(dagster_engine, after_id=last_tick)
        storage_before_retention = storage.snapshot(dagster_engine)
        retention = _retention_pass(instance, timings)
        day = datetime.fromisoformat(ready["day"]).date()
        return FleetResult(
            settings=settings,
            server=server.description,
            max_concurrent_runs=concurrency,
            warm_up=warm,
            ticks=ticks,
            window_seconds=window_end - window_start,
            usage=usage,
            machine_cpu_seconds=machine_cpu,
            harness_cpu_seconds=harness_cpu,
            runs_in_window=len(in_window),
            connections_opened=connections,
            other_runs=Counter(t.job_name for t in in_window if t.job_name != SYNC_JOB),
            runs_cut_off=len(cut_off),
            failures=_failures(
                instance,
                [
                    t
                    for t in in_window
                    if t.status == dg.DagsterRunStatus.FAILURE and t.run_id not in cut_off
                ],
            ),
            run_footprint=run_footprint,
            tick_footprint=tick_footprint,
            runs_per_day_modelled=volume.runs_per_day(fleet(settings.n), day),
            retention=retention,
            storage_before_retention=storage_before_retention,
            storage_after_retention=storage.snapshot(dagster_engine),
        )


def _check_ephemeral_ports() -> None:
    """Every server of the run (simulators, Dagster's code servers) binds a port the OS picks
    from its ephemeral range; the demo's ports must lie outside it."""
    ports = Path("/proc/sys/net/ipv4/ip_local_port_range")
    if not ports.exists():
        return
    low, high = (int(p) for p in ports.read_text().split())
    reserved = [p for p in RESERVED_PORTS if low <= p <= high]
    if reserved:
        raise RuntimeError(
            f"the ephemeral port range {low}-{high} includes the demo's ports {reserved}; "
            "bench-fleet would risk binding them"
        )


def _write_instance_config(
    home: Path, max_concurrent_runs: int | None, *, capture_step_logs: bool = True
) -> int:
    """The repository's dagster.yaml, the run limit optionally changed; returns the limit."""
    config = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    runs = config["concurrency"]["runs"]
    if max_concurrent_runs is not None:
        runs["max_concurrent_runs"] = max_concurrent_runs
    if not capture_step_logs:
        config["compute_logs"] = {
            "module": "dagster._core.storage.noop_compute_log_manager",
            "class": "NoOpComputeLogManager",
        }
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return runs["max_concurrent_runs"]


def _start(stack: ExitStack, command: list[str], *, log_file: Path) -> subprocess.Popen:
    """A process in a session of its own, so stopping it stops all it started."""
    output = stack.enter_context(log_file.open("wb"))
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
    )
    stack.callback(_stop, process)
    return process


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process group, SIGKILL to what is left after a minute."""
    if process.poll() is None:
        _signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            pass
    _signal_group(process.pid, signal.SIGKILL)
    process.wait()


def _signal_group(group: int, sig: signal.Signals) -> None:
    try:
        os.killpg(group, sig)
    except ProcessLookupError:
        pass


def _wait_ready(path: Path, simulators: subprocess.Popen) -> dict:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not path.exists():
        if simulators.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                f"the simulators did not start (log: {path.parent / 'simulators.log'})"
            )
        time.sleep(0.2)
    return json.loads(path.read_text())


def _apply_org_files(crm_url: str, directory: Path) -> list[str]:
    from recompra_pipelines.db.engine import create_crm_engine
    from recompra_pipelines.orgfile.organization import OrgFile
    from recompra_pipelines.orgfile_store.writer import apply_org_file

    engine = create_crm_engine(crm_url)
    org_ids = []
    try:
        for path in sorted(directory.glob("*.json")):
            org_file = OrgFile.model_validate(json.loads(path.read_text()))
            with engine.begin() as conn:
                apply_org_file(conn, org_file)
            org_ids.append(org_file.id)
    finally:
        engine.dispose()
    return org_ids


def _wait_for_ticks(instance, first: float, last: float, daemon, log, n: int) -> None:
    """Until every run of the measured ticks has ended, or the last tick is 5 minutes old
    (then its lag is at least that: the fleet did not keep up)."""
    deadline = last + TICK_SECONDS
    reported = set()
    while time.time() < deadline:
        _sleep_until(time.time() + POLL_SECONDS, daemon)
        ticks = sync_ticks(instance, first, last)
        for tick in ticks:
            if tick.tick_id not in reported and tick.status != TickStatus.STARTED:
                reported.add(tick.tick_id)
                log(f"N={n}: tick {_clock(tick.timestamp)}: {len(tick.run_ids)} runs launched")
        if time.time() < last or len(reported) < round((last - first) / TICK_SECONDS) + 1:
            continue
        run_ids = [run_id for tick in ticks for run_id in tick.run_ids]
        runs = instance.get_runs(filters=dg.RunsFilter(run_ids=run_ids)) if run_ids else []
        if all(run.is_finished for run in runs):
            return


def _sleep_until(moment: float, daemon: subprocess.Popen) -> None:
    while time.time() < moment:
        if daemon.poll() is not None:
            raise RuntimeError("the process under measurement exited (see its log)")
        time.sleep(min(1.0, max(0.0, moment - time.time())))


def _retention_pass(instance: dg.DagsterInstance, timings) -> RetentionPass:
    """The maintenance job's deletion, with the age limit at now: what it removes of this
    run's history, what it must keep (each partition's latest materialization), how fast."""
    from recompra_pipelines.resources.dagster_history import (
        HistoryCutoffs,
        prune_dagster_history,
    )

    runs_before = len(instance.get_run_ids())
    now = datetime.now(UTC)
    started = time.perf_counter()
    counts = prune_dagster_history(
        instance, HistoryCutoffs(runs_finished_before=now, ticks_before=now)
    )
    seconds = time.perf_counter() - started
    partitions = {(t.job_name, t.partition) for t in timings if t.partition}
    return RetentionPass(
        runs_before=runs_before,
        runs_deleted=counts.runs_deleted,
        runs_kept=counts.runs_kept_for_partition_status,
        partitions_materialized=len(partitions),
        event_rows_deleted=counts.event_rows_deleted,
        ticks_deleted=counts.ticks_deleted,
        seconds=seconds,
    )


def _failures(instance: dg.DagsterInstance, failed) -> list[str]:
    messages = []
    for run in failed[:FAILURE_MESSAGES]:
        errors = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE) or (
            instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        )
        text = errors[0].message if errors else "no failure event"
        messages.append(f"{run.job_name} {run.partition or ''}: {text[:300]}")
    return messages


def _name(url: str) -> str:
    return sa.make_url(url).database


def _psycopg2(url: str) -> str:
    return sa.make_url(url).set(drivername="postgresql+psycopg2").render_as_string(False)


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def _machine_cpu() -> float:
    times = psutil.cpu_times()
    return times.user + times.nice + times.system + times.irq + times.softirq + times.steal


def _clock(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, STORE_TIMEZONE).strftime("%H:%M")
