"""The code location loads as `dagster dev -w workspace.yaml` loads it, and the instance
config (dagster.yaml) works against a real PostgreSQL through dagster-postgres."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from recompra_pipelines.db.engine import ensure_database
from recompra_pipelines.db.tables import metadata
from recompra_pipelines.definitions import defs

ROOT = Path(__file__).resolve().parent.parent


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_schedule_def("erp_sync_schedule").cron_schedule == "*/5 * * * *"
    assert defs.resolve_sensor_def("organizations_sensor")
    check_keys = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert check_keys >= {"erp_raw_extract_is_readable", "erp_quarantine_rate", "crm_sales_match_staging",
                          "crm_sale_totals_match_items", "crm_buyers_totals_match_sales",
                          "cashback_balances_match_entries", "interactions_of_cancelled_sales_withdrawn",
                          "whatsapp_no_stuck_sends"}  # fmt: skip


def test_workspace_loads_with_the_dagster_cli(tmp_path):
    # Run outside the repo: without DAGSTER_HOME, Dagster would read ./dagster.yaml (Postgres).
    completed = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", str(ROOT / "workspace.yaml")],
        cwd=tmp_path, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_dagster_yaml_runs_on_postgres_with_one_run_per_organization(
    tmp_path, database_server_url, monkeypatch
):
    url = sa.make_url(ensure_database(database_server_url, "recompra_dagster_test")).set(
        drivername="postgresql+psycopg2"
    )
    monkeypatch.setenv("DAGSTER_PG_URL", url.render_as_string(hide_password=False))
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")

    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.get_runs() == []
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        assert {
            "key": "dagster/partition/org",
            "value": {"applyLimitPerUniqueValue": True},
            "limit": 1,
        } in limits


def test_dagster_yaml_storage_reuses_its_connections(tmp_path, database_server_url, monkeypatch):
    """dagster-postgres alone opens a connection per storage operation; the instance of
    dagster.yaml keeps one per storage open and reuses it."""
    url = sa.make_url(ensure_database(database_server_url, "recompra_dagster_pool_test")).set(
        drivername="postgresql+psycopg2"
    )
    monkeypatch.setenv("DAGSTER_PG_URL", url.render_as_string(hide_password=False))
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    opened = []

    def connected(dbapi_connection, _record) -> None:
        opened.append(dbapi_connection.info.dbname)

    def use_every_storage(instance: dg.DagsterInstance) -> None:
        instance.get_runs()
        instance.get_dynamic_partitions("organizations")
        instance.get_latest_materialization_event(dg.AssetKey("crm_sales"))

    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        use_every_storage(instance)  # each storage's one connection is open from here on
        sa.event.listen(sa.engine.Engine, "connect", connected)
        try:
            for _ in range(20):
                use_every_storage(instance)
        finally:
            sa.event.remove(sa.engine.Engine, "connect", connected)

    assert opened == []


def test_migrations_match_the_table_definitions(engine):
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []


# Libraries a run worker must not import with the code location: only some steps use them (the
# daily RFM scores with pandas/numpy; the simulators serve with starlette/uvicorn), and every
# run's process imports the whole code location before its first step.
IMPORTED_WHERE_USED = ("pandas", "numpy", "starlette", "uvicorn", "pgserver")


def test_the_code_location_imports_no_library_that_only_some_steps_use():
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, recompra_pipelines.definitions; "
            f"print(sorted(set({IMPORTED_WHERE_USED!r}) & set(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"
