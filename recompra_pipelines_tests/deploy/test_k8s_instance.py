"""The Kubernetes deployment, checked without a cluster: the instance config the Helm chart
renders (deploy/k8s-instance/dagster.yaml) loads against Dagster's schema and the classes it
names; it is what deploy/helm/values.yaml renders; the image runs the module Dagster loads."""

from __future__ import annotations

import importlib
import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._serdes import ConfigurableClassData
from dagster_k8s import K8sRunLauncher

from recompra_pipelines.resources.dagster_history import (
    MAX_RUNS_ENV,
    MAX_TICKS_ENV,
    RUN_DAYS_ENV,
    TICK_DAYS_ENV,
    DagsterHistoryRetention,
)
from recompra_pipelines.resources.settings import RecompraSettings
from recompra_pipelines.settings import RETENTION_QUARANTINE_DAYS, RETENTION_RAW_EXTRACT_DAYS

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
INSTANCE_DIR = DEPLOY / "k8s-instance"
# What deploy/helm/values.yaml and docs/operations.md document; the chart's release settings.
IMAGE_REPOSITORY = "registry.example.com/recompra-pipelines"
RELEASE, NAMESPACE = "recompra", "recompra"
CRM_SECRET = "recompra-crm-database"
ONE_RUN_PER_ORG = {
    "key": "dagster/partition/org",
    "value": {"applyLimitPerUniqueValue": True},
    "limit": 1,
}
RAW_EXTRACT_DAYS_ENV = RETENTION_RAW_EXTRACT_DAYS.env
QUARANTINE_DAYS_ENV = RETENTION_QUARANTINE_DAYS.env
DAGSTER_HISTORY_ENV = (RUN_DAYS_ENV, MAX_RUNS_ENV, TICK_DAYS_ENV, MAX_TICKS_ENV)
CONFIGURABLE_SECTIONS = (
    "scheduler",
    "schedule_storage",
    "run_launcher",
    "run_storage",
    "event_log_storage",
    "run_coordinator",
    "compute_logs",
)


@pytest.fixture
def instance_yaml() -> dict:
    return yaml.safe_load((INSTANCE_DIR / "dagster.yaml").read_text())


@pytest.fixture
def values() -> dict:
    return yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())


@pytest.fixture
def pg_password(monkeypatch) -> None:
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "not-a-real-password")


def _configurable(section: dict) -> tuple[type, dict]:
    """The class an instance section names (as Dagster resolves it) and its raw config."""
    data = ConfigurableClassData(
        section["module"], section["class"], yaml.dump(section.get("config", {}))
    )
    klass = getattr(importlib.import_module(data.module_name), data.class_name)
    return klass, section.get("config", {})


def test_the_k8s_instance_config_loads_against_dagsters_schema(pg_password):
    config, custom_instance_class = dagster_instance_config(str(INSTANCE_DIR))

    assert custom_instance_class is None
    for name in CONFIGURABLE_SECTIONS:
        klass, raw = _configurable(config[name])
        processed = process_config(klass.config_type(), raw)
        assert processed.success, f"{name}: {processed.errors}"
    assert config["run_retries"]["retry_on_asset_or_op_failure"] is False


def test_the_run_launcher_is_the_k8s_launcher_and_builds_outside_a_cluster(instance_yaml, tmp_path):
    klass, raw = _configurable(instance_yaml["run_launcher"])
    assert klass is K8sRunLauncher
    processed = process_config(K8sRunLauncher.config_type(), raw)
    assert processed.success, processed.errors
    assert processed.value["env_secrets"] == [CRM_SECRET]
    assert processed.value["resources"]["limits"]["memory"]

    # Building it needs a kubeconfig; an offline one is enough to check every argument.
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(_offline_kubeconfig()))
    launcher = K8sRunLauncher.from_config_value(
        None,
        {**processed.value, "load_incluster_config": False, "kubeconfig_file": str(kubeconfig)},
    )
    assert launcher.instance_config_map == f"{RELEASE}-dagster-instance"
    assert launcher.job_namespace == NAMESPACE


def test_one_run_per_organization_as_on_a_single_machine(instance_yaml):
    klass, _ = _configurable(instance_yaml["run_coordinator"])
    assert klass is QueuedRunCoordinator
    coordinator = ConfigurableClassData(
        instance_yaml["run_coordinator"]["module"],
        "QueuedRunCoordinator",
        yaml.dump(instance_yaml["run_coordinator"]["config"]),
    ).rehydrate(as_type=QueuedRunCoordinator)
    queue = coordinator.get_run_queue_config()
    assert ONE_RUN_PER_ORG in queue.tag_concurrency_limits
    assert queue.max_concurrent_runs > 1

    local = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    assert ONE_RUN_PER_ORG in local["concurrency"]["runs"]["tag_concurrency_limits"]


def test_the_instance_config_is_what_the_helm_values_render(instance_yaml, values):
    rendered = _render_instance(values)

    for name, section in rendered.items():
        assert instance_yaml[name] == section, name
    assert ("retention" in instance_yaml) == ("retention" in rendered)


def test_run_pods_get_retention_settings_the_maintenance_jobs_accept(values, monkeypatch):
    """Retention is configured where runs execute: every RECOMPRA_RETENTION_* variable of the
    run pods is one the retention jobs read, with a value they accept."""
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    env = dict(item.split("=", 1) for item in launcher["envVars"])
    retention_env = {name: value for name, value in env.items() if "_RETENTION_" in name}
    known = {RAW_EXTRACT_DAYS_ENV, QUARANTINE_DAYS_ENV, *DAGSTER_HISTORY_ENV}
    assert set(retention_env) == known
    for name, value in retention_env.items():
        monkeypatch.setenv(name, value)
    history = DagsterHistoryRetention().limits()
    assert history.run_days == int(env[RUN_DAYS_ENV])
    assert history.max_runs == int(env[MAX_RUNS_ENV])
    policy = RecompraSettings().retention_policy()
    assert policy.raw_extract_days == int(env[RAW_EXTRACT_DAYS_ENV])


def test_the_helm_values_keep_secrets_out_and_run_the_documented_image(values):
    assert values["postgresql"]["enabled"] is False
    assert values["postgresql"]["postgresqlPassword"] == ""
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["runLauncher"]["type"] == "K8sRunLauncher"

    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["image"]["repository"] == IMAGE_REPOSITORY
    assert deployment["image"]["tag"] != "latest"
    assert {"name": CRM_SECRET} in deployment["envSecrets"]
    # Runs take env and resources from the launcher, not from the code server's context.
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": False}
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert {"name": CRM_SECRET} in launcher["envSecrets"]
    assert launcher["resources"] != deployment["resources"]


def test_the_image_serves_the_module_dagster_loads(values):
    workspace = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    (location,) = workspace["load_from"]
    module = location["python_module"]["module_name"]
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE).group(1))
    (deployment,) = values["dagster-user-deployments"]["deployments"]

    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.MULTILINE)
    assert cmd[:3] == ["dagster", "code-server", "start"]
    assert _flag(cmd, "-m") == module == _flag(deployment["codeServerArgs"], "-m")
    assert _flag(cmd, "-p") == str(deployment["port"])
    assert f"EXPOSE {deployment['port']}" in dockerfile


def test_the_image_installs_dagster_k8s_on_the_projects_release_train():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    dev_pin = next(
        d for d in project["optional-dependencies"]["dev"] if d.startswith("dagster-k8s")
    )
    postgres_pin = next(d for d in project["dependencies"] if d.startswith("dagster-postgres"))
    dockerfile = (DEPLOY / "Dockerfile").read_text()

    assert f'"{dev_pin}"' in dockerfile
    assert dev_pin.split("==")[1] == postgres_pin.split("==")[1]


def _flag(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def _offline_kubeconfig() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "offline"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }


def _render_instance(values: dict) -> dict:
    """The parts of configmap-instance.yaml this project sets, as chart 1.13.27's templates
    (helpers/instance/_postgresql.tpl, _run-launcher.tpl, _run-coordinator.tpl and the
    configmap itself) render them for release `recompra` in namespace `recompra`."""
    pg = values["postgresql"]
    storage_config = {
        "postgres_db": {
            "username": pg["postgresqlUsername"],
            "password": {"env": "DAGSTER_PG_PASSWORD"},
            "hostname": pg["postgresqlHost"],
            "db_name": pg["postgresqlDatabase"],
            "port": pg["service"]["port"],
            "params": pg["postgresqlParams"],
            "scheme": pg["postgresqlScheme"],
        }
    }
    k8s = values["runLauncher"]["config"]["k8sRunLauncher"]
    run_k8s_config = {
        "job_spec_config": k8s["runK8sConfig"]["jobSpecConfig"],
    }
    daemon = values["dagsterDaemon"]
    queued = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    monitoring, retries = daemon["runMonitoring"], daemon["runRetries"]
    rendered = {
        "schedule_storage": _storage(
            "dagster_postgres.schedule_storage", "PostgresScheduleStorage", storage_config
        ),
        "run_storage": _storage(
            "dagster_postgres.run_storage", "PostgresRunStorage", storage_config
        ),
        "event_log_storage": _storage(
            "dagster_postgres.event_log", "PostgresEventLogStorage", storage_config
        ),
        "run_launcher": {
            "module": "dagster_k8s",
            "class": "K8sRunLauncher",
            "config": {
                "load_incluster_config": k8s["loadInclusterConfig"],
                "job_namespace": k8s.get("jobNamespace") or NAMESPACE,
                "image_pull_policy": k8s["imagePullPolicy"],
                "service_account_name": f"{RELEASE}-dagster",
                "dagster_home": "/opt/dagster/dagster_home",
                "instance_config_map": f"{RELEASE}-dagster-instance",
                "postgres_password_secret": values["global"]["postgresqlSecretName"],
                "env_secrets": [s["name"] for s in k8s["envSecrets"]],
                "env_vars": k8s["envVars"],
                "resources": k8s["resources"],
                "run_k8s_config": run_k8s_config,
            },
        },
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {
                "max_concurrent_runs": queued["maxConcurrentRuns"],
                "tag_concurrency_limits": queued["tagConcurrencyLimits"],
                "dequeue_interval_seconds": queued["dequeueIntervalSeconds"],
                # The chart writes these two only when set.
                **(
                    {"dequeue_use_threads": queued["dequeueUseThreads"]}
                    if queued.get("dequeueUseThreads")
                    else {}
                ),
                **(
                    {"dequeue_num_workers": queued["dequeueNumWorkers"]}
                    if queued.get("dequeueNumWorkers")
                    else {}
                ),
            },
        },
        "compute_logs": {
            "module": "dagster._core.storage.noop_compute_log_manager",
            "class": values["computeLogManager"]["type"],
        },
        "run_monitoring": {
            "enabled": monitoring["enabled"],
            "start_timeout_seconds": monitoring["startTimeoutSeconds"],
            "poll_interval_seconds": monitoring["pollIntervalSeconds"],
        },
        "run_retries": {
            "enabled": retries["enabled"],
            "max_retries": retries["maxRetries"],
            "retry_on_asset_or_op_failure": retries["retryOnAssetOrOpFailure"],
        },
        "sensors": _threads(daemon["sensors"]),
        "schedules": _threads(daemon["schedules"]),
        "python_logs": {"python_log_level": values["pythonLogs"]["pythonLogLevel"]},
        "telemetry": {"enabled": values["telemetry"]["enabled"]},
    }
    # The chart writes `retention:` only when enabled (its default is off).
    retention = values.get("retention", {})
    if retention.get("enabled"):
        rendered["retention"] = {
            kind: {"purge_after_days": retention[kind]["purgeAfterDays"]}
            for kind in ("schedule", "sensor")
        }
    return rendered


def _storage(module: str, klass: str, config: dict) -> dict:
    return {"module": module, "class": klass, "config": config}


def _threads(settings: dict) -> dict:
    return {"use_threads": settings["useThreads"], "num_workers": settings["numWorkers"]}
