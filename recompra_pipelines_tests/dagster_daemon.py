"""Dagster's own machinery in a test: the webserver's GraphQL API, the backfill daemon's
iteration, the scheduler's tick loop, over the project's code location loaded in-process.

Runs the daemon submits execute synchronously in this process (SyncInMemoryRunLauncher), so
a test sees the same runs, tags, events and tick logs the UI shows, without subprocesses.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import yaml
from dagster._core.execution.backfill import BulkActionsFilter, BulkActionStatus
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.scheduler.instigation import InstigatorTick
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon.backfill import execute_backfill_iteration
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
    QueuedRunCoordinatorDaemon,
)
from dagster._scheduler.scheduler import launch_scheduled_runs
from dagster_graphql.test.utils import execute_dagster_graphql

from recompra_pipelines.partitions import DAY_TAG, ORG_TAG, PARTITION_TAG

ROOT = Path(__file__).resolve().parent.parent
LOCATION = "recompra_pipelines"
LOG = logging.getLogger("recompra.tests.daemon")
# The project's run queue (dagster.yaml: one run per organization at a time), with runs
# launched in this process.
INSTANCE_OVERRIDES = {
    "run_launcher": {
        "module": "dagster._core.launcher.sync_in_memory_run_launcher",
        "class": "SyncInMemoryRunLauncher",
    },
    "concurrency": yaml.safe_load((ROOT / "dagster.yaml").read_text())["concurrency"],
}

LAUNCH_PARTITION_BACKFILL = """
mutation LaunchBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
"""


@contextmanager
def daemon_workspace(
    instance: dg.DagsterInstance,
    module: str = "recompra_pipelines.definitions",
    attribute: str = "defs",
) -> Iterator[WorkspaceProcessContext]:
    """A code location (the project's, by default) as the webserver and daemon see it, loaded
    in this process."""
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name=module, attribute=attribute, working_directory=str(ROOT)),
        location_name=LOCATION,
    )
    with WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(origin)) as workspace:
        yield workspace


@contextmanager
def in_memory_instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test(overrides=INSTANCE_OVERRIDES) as instance:
        yield instance


def graphql(workspace: WorkspaceProcessContext, query: str, variables: dict) -> dict:
    result = execute_dagster_graphql(workspace.create_request_context(), query, variables)
    assert not result.errors, result.errors
    return result.data


LAUNCH_RUN = """
mutation LaunchRun($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}
"""


def launch_partition_run(workspace: WorkspaceProcessContext, job: str, partition_key: str) -> str:
    """A run of `job` for one partition, queued as a schedule's run request is: the job's
    own plan, with the partition's tags (the run queue then launches it)."""
    org_id = partition_key.split("|")[1]
    day = partition_key.split("|")[0]
    tags = {
        PARTITION_TAG: partition_key,
        DAY_TAG: day,
        ORG_TAG: org_id,
    }
    data = graphql(
        workspace,
        LAUNCH_RUN,
        {
            "executionParams": {
                "selector": {
                    "jobName": job,
                    "repositoryName": "__repository__",
                    "repositoryLocationName": LOCATION,
                },
                "executionMetadata": {
                    "tags": [{"key": key, "value": value} for key, value in tags.items()]
                },
            }
        },
    )["launchRun"]
    assert data["__typename"] == "LaunchRunSuccess", data
    return data["run"]["runId"]


def run_queue(workspace: WorkspaceProcessContext, *, max_iterations: int = 50) -> None:
    """Iterate the run queue until no run waits in it (each launched run executes in turn)."""
    queue = QueuedRunCoordinatorDaemon(interval_seconds=0)
    for _ in range(max_iterations):
        list(queue.run_iteration(workspace))
        if not workspace.instance.get_runs(
            filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED])
        ):
            return
    raise AssertionError("queued runs were not launched")


def launch_asset_backfill(
    workspace: WorkspaceProcessContext, assets: list[str], partition_keys: list[str]
) -> str:
    """What the UI sends for Assets → select → Materialize → partitions → Launch backfill."""
    data = graphql(
        workspace,
        LAUNCH_PARTITION_BACKFILL,
        {
            "backfillParams": {
                "assetSelection": [{"path": [name]} for name in assets],
                "partitionNames": partition_keys,
            }
        },
    )["launchPartitionBackfill"]
    assert data["__typename"] == "LaunchBackfillSuccess", data
    return data["backfillId"]


def run_backfills(workspace: WorkspaceProcessContext, *, max_iterations: int = 30) -> None:
    """Iterate the backfill daemon and the run queue until no backfill is in progress: the
    backfill submits runs to the queue, the queue launches them within its limits."""
    instance = workspace.instance
    queue = QueuedRunCoordinatorDaemon(interval_seconds=0)
    for _ in range(max_iterations):
        list(execute_backfill_iteration(workspace, LOG))
        list(queue.run_iteration(workspace))
        if not instance.get_backfills(
            filters=BulkActionsFilter(
                statuses=[
                    BulkActionStatus.REQUESTED,
                    BulkActionStatus.CANCELING,
                    BulkActionStatus.FAILING,
                ]
            )
        ):
            return
    raise AssertionError("the backfills did not finish")


def evaluate_schedule_tick(
    workspace: WorkspaceProcessContext, schedule_name: str, at: datetime
) -> InstigatorTick:
    """The scheduler daemon's iteration up to `at`: evaluates the schedule's latest tick, stores
    it with its log, and submits its runs. Returns the stored tick.

    The daemon starts a schedule's clock at its first iteration, so a first call primes it a
    minute before `at` (`at` must be within a minute after a tick of the schedule)."""
    repository = next(
        iter(
            workspace.create_request_context()
            .get_code_location(LOCATION)
            .get_repositories()
            .values()
        )
    )
    schedule = repository.get_schedule(schedule_name)
    state = workspace.instance.get_instigator_state(
        schedule.get_remote_origin_id(), schedule.selector_id
    )
    if state is None:
        list(launch_scheduled_runs(workspace, LOG, at - timedelta(minutes=1), iteration_times={}))
    list(launch_scheduled_runs(workspace, LOG, at.astimezone(UTC), iteration_times={}))
    [tick] = workspace.instance.get_ticks(
        schedule.get_remote_origin_id(), schedule.selector_id, limit=1
    )
    return tick


def tick_log_lines(instance: dg.DagsterInstance, tick: InstigatorTick) -> list[str]:
    """The messages of a tick's log, as the UI's tick log dialog lists them."""
    data = instance.compute_log_manager.get_log_data(tick.log_key)
    lines = (data.stderr or b"").decode().splitlines()
    return [json.loads(line)["dagster_meta"]["orig_message"] for line in lines if line]


def backfill_runs(instance: dg.DagsterInstance, backfill_id: str) -> list[dg.DagsterRun]:
    return list(instance.get_runs(filters=dg.RunsFilter.for_backfill(backfill_id)))
