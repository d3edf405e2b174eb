"""Bringing a new fleet to its steady state before the daemon is measured.

A fleet that has run for a while has today and yesterday synced, each partition's last run
tagged with the ERP content it processed, and the day's expiry and lifecycle runs done; a tick
then launches runs only for what changed. A fresh fleet has none of that, and its first ticks
would measure a one-off catch-up instead. So the warm-up asks the product's own schedules what
they would launch at the last lookback tick (today and yesterday, with the change check's
content tags) and at the hourly ticks of the daily jobs, and executes those runs in-process on
the same Dagster storage, a few at a time, until the sync schedule has nothing left to launch.
The warm-up's instance differs from the daemon's in one setting: it does not capture each
step's stdout and stderr to files (a `tail` and a watcher process per step), which would make
the warm-up of a large fleet take an hour; the runs it records are the same.
"""

from __future__ import annotations

import multiprocessing
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
from dagster._core.storage.tags import RUN_KEY_TAG

SYNC_SCHEDULE = "erp_sync_schedule"
DAILY_SCHEDULES = ("cashback_expiry_schedule", "lifecycle_schedule")
ROUNDS = 3
# Warm-up runs log warnings and errors only (the daemon's runs log as configured).
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
SAO_PAULO = ZoneInfo("America/Sao_Paulo")


@dataclass(frozen=True)
class RunSpec:
    job_name: str
    partition_key: str
    tags: dict[str, str]


@dataclass
class WarmUp:
    runs: int = 0
    failed: int = 0
    seconds: float = 0.0
    rounds: int = 0


def warm_up(database_url: str, workers: int, home: Path) -> WarmUp:
    """`home`: a DAGSTER_HOME whose dagster.yaml uses the measured instance's storage.
    DAGSTER_PG_URL and the simulators' URLs must be in the environment (workers inherit it)."""
    from recompra_pipelines.definitions import defs

    started = time.perf_counter()
    result = WarmUp()
    now = datetime.now(SAO_PAULO)
    lookback_tick = now.replace(minute=now.minute - now.minute % 30, second=0, microsecond=0)
    daily_tick = now.replace(minute=10, second=0, microsecond=0)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_quiet_worker, initargs=(home,)
    ) as pool:
        for round_number in range(1, ROUNDS + 1):
            specs = _requested(defs, database_url, SYNC_SCHEDULE, lookback_tick, home)
            if not specs:
                break
            result.rounds = round_number
            _execute(pool, specs, result)
        _execute(
            pool,
            [
                s
                for name in DAILY_SCHEDULES
                for s in _requested(defs, database_url, name, daily_tick, home)
            ],
            result,
        )
    result.seconds = time.perf_counter() - started
    return result


def _requested(
    defs: dg.Definitions, database_url: str, schedule_name: str, tick: datetime, home: Path
) -> list[RunSpec]:
    from recompra_pipelines.resources.crm_database import CrmDatabase
    from recompra_pipelines.resources.settings import RecompraSettings

    schedule = defs.resolve_schedule_def(schedule_name)
    with (
        dg.DagsterInstance.from_config(str(home)) as instance,
        dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=tick,
            resources={"crm_db": CrmDatabase(url=database_url), "settings": RecompraSettings()},
            repository_def=defs.get_repository_def(),
        ) as context,
    ):
        requests = schedule.evaluate_tick(context).run_requests or []
    return [
        RunSpec(schedule.job_name, str(request.partition_key), _tags(request))
        for request in requests
    ]


def _tags(request: dg.RunRequest) -> dict[str, str]:
    """The tags the daemon would give the run that matter later: the schedule's own (the
    content hash the change check compares) and the run key (the daily schedules look a day's
    run up by it). Dagster adds the partition tags itself."""
    tags = {key: value for key, value in request.tags.items() if not key.startswith("dagster/")}
    if request.run_key:
        tags[RUN_KEY_TAG] = request.run_key
    return tags


def _execute(pool: ProcessPoolExecutor, specs: list[RunSpec], result: WarmUp) -> None:
    # Yesterday before today, each organization's days far apart, as the daemon would queue them.
    specs = sorted(specs, key=lambda s: s.partition_key)
    for ok in pool.map(_run, specs):
        result.runs += 1
        result.failed += not ok


_worker_instance: dg.DagsterInstance | None = None


def _quiet_worker(home: Path) -> None:
    global _worker_instance
    warnings.filterwarnings("ignore")
    _worker_instance = dg.DagsterInstance.from_config(str(home))


def _run(spec: RunSpec) -> bool:
    from recompra_pipelines.definitions import defs

    job = defs.resolve_job_def(spec.job_name)
    outcome = job.execute_in_process(
        run_config=QUIET,
        instance=_worker_instance,
        partition_key=spec.partition_key,
        tags=spec.tags,
        raise_on_error=False,
    )
    return outcome.success
