"""Retention: old superseded raw extracts and stale quarantine go; what staging was built from,
recent days and freshly re-fetched old days stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import sqlalchemy as sa

from recompra_pipelines.assets.maintenance import erp_retention
from recompra_pipelines.definitions import defs
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.resources.settings import RecompraSettings
from recompra_pipelines.settings import RETENTION_QUARANTINE_DAYS, RETENTION_RAW_EXTRACT_DAYS
from recompra_pipelines_tests.helpers import count, materialize_day, new_org

RAW_EXTRACT_DAYS_ENV = RETENTION_RAW_EXTRACT_DAYS.env
QUARANTINE_DAYS_ENV = RETENTION_QUARANTINE_DAYS.env
TODAY = datetime.now(UTC).astimezone(ZoneInfo("America/Sao_Paulo")).date()
OLD_DAY = TODAY - timedelta(days=200)
RECENT_DAY = TODAY - timedelta(days=10)
EXTRACTS = (
    "SELECT count(*) FROM erp_raw_extracts WHERE organizacao_id = :o AND data_referencia = :d"
)
QUARANTINE = (
    "SELECT count(*) FROM erp_quarantine WHERE organizacao_id = :o AND data_referencia = :d"
)


def _materialize_retention(instance, database_url):
    return dg.materialize(
        [erp_retention],
        instance=instance,
        resources={"crm_db": CrmDatabase(url=database_url), "settings": RecompraSettings()},
    )


def _backdate(engine: sa.Engine, org_id: str, day, days_ago: int) -> None:
    """Pretend the org x day's extracts and quarantine were last seen `days_ago` days earlier
    (shifted, so the order of the captures stays as it was)."""
    with engine.begin() as conn:
        params = {"o": org_id, "d": day, "ago": timedelta(days=days_ago)}
        conn.execute(
            sa.text(
                "UPDATE erp_raw_extracts SET primeira_captura_em = primeira_captura_em - :ago,"
                " ultima_captura_em = ultima_captura_em - :ago"
                " WHERE organizacao_id = :o AND data_referencia = :d"
            ),
            params,
        )
        conn.execute(
            sa.text(
                "UPDATE erp_quarantine SET primeira_ocorrencia_em = primeira_ocorrencia_em - :ago,"
                " ultima_ocorrencia_em = ultima_ocorrencia_em - :ago"
                " WHERE organizacao_id = :o AND data_referencia = :d"
            ),
            params,
        )


def _extract_ids(engine: sa.Engine, org_id: str, day) -> list:
    with engine.connect() as conn:
        return conn.scalars(
            sa.text(
                "SELECT id FROM erp_raw_extracts WHERE organizacao_id = :o AND data_referencia = :d"
            ),
            {"o": org_id, "d": day},
        ).all()


def _staged_extract(engine: sa.Engine, org_id: str, day):
    with engine.connect() as conn:
        return conn.scalar(
            sa.text(
                "SELECT extracao_id FROM erp_staging_extracts"
                " WHERE organizacao_id = :o AND data_referencia = :d"
            ),
            {"o": org_id, "d": day},
        )


def test_old_superseded_extracts_and_stale_quarantine_go_what_staging_uses_stays(
    engine, database_url, erp_simulator, instance, monkeypatch
):
    monkeypatch.delenv(RAW_EXTRACT_DAYS_ENV, raising=False)
    monkeypatch.delenv(QUARANTINE_DAYS_ENV, raising=False)
    simulator, url = erp_simulator
    org_id, token = new_org(engine, url)
    # The old day is captured twice with different content (a record fixed in the ERP), so its
    # first extract is superseded; both captures quarantine records.
    simulator.configure(token, sales_per_day=8, malformed_records=2)
    assert materialize_day(instance, database_url, org_id, OLD_DAY).success
    simulator.configure(token, malformed_records=1)
    assert materialize_day(instance, database_url, org_id, OLD_DAY).success
    assert materialize_day(instance, database_url, org_id, RECENT_DAY).success
    assert count(engine, EXTRACTS, o=org_id, d=OLD_DAY) == 2
    assert count(engine, QUARANTINE, o=org_id, d=OLD_DAY) >= 2
    recent_quarantine = count(engine, QUARANTINE, o=org_id, d=RECENT_DAY)
    assert recent_quarantine == 1
    staged_old = _staged_extract(engine, org_id, OLD_DAY)
    sales_before = count(engine, "SELECT count(*) FROM sales WHERE organizacao_id = :o", o=org_id)
    _backdate(engine, org_id, OLD_DAY, days_ago=200)

    result = _materialize_retention(instance, database_url)

    assert result.success
    deleted = {
        key: value.value
        for key, value in result.asset_materializations_for_node("erp_retention")[
            0
        ].metadata.items()
    }
    assert deleted["raw_extracts_deleted"] >= 1
    assert deleted["quarantine_deleted"] >= 2
    assert deleted["raw_extract_days"] == 90 and deleted["quarantine_days"] == 180
    # The old day keeps exactly the extract its staging (and CRM rows) came from.
    assert _extract_ids(engine, org_id, OLD_DAY) == [staged_old]
    assert count(engine, QUARANTINE, o=org_id, d=OLD_DAY) == 0
    # Recent days are untouched, and retention never touches CRM rows.
    assert count(engine, EXTRACTS, o=org_id, d=RECENT_DAY) == 1
    assert count(engine, QUARANTINE, o=org_id, d=RECENT_DAY) == recent_quarantine
    assert (
        count(engine, "SELECT count(*) FROM sales WHERE organizacao_id = :o", o=org_id)
        == sales_before
    )

    # The day still re-syncs from the kept extract: nothing to re-stage, nothing rewritten.
    again = materialize_day(instance, database_url, org_id, OLD_DAY)
    assert again.success

    # Running retention again finds nothing left to delete for this organization.
    _backdate(engine, org_id, OLD_DAY, days_ago=200)
    assert _materialize_retention(instance, database_url).success
    assert count(engine, EXTRACTS, o=org_id, d=OLD_DAY) == 1


def test_a_crash_that_empties_staging_still_leaves_each_day_its_latest_capture(
    engine, database_url, erp_simulator, instance, monkeypatch
):
    """Staging is UNLOGGED: a database crash empties it. Retention then keeps the day's
    latest capture, so the day stays rebuildable without calling the ERP."""
    monkeypatch.delenv(RAW_EXTRACT_DAYS_ENV, raising=False)
    simulator, url = erp_simulator
    org_id, token = new_org(engine, url)
    simulator.configure(token, sales_per_day=5, malformed_records=0)
    assert materialize_day(instance, database_url, org_id, OLD_DAY).success
    simulator.configure(token, sales_per_day=6)
    assert materialize_day(instance, database_url, org_id, OLD_DAY).success
    latest = _staged_extract(engine, org_id, OLD_DAY)
    with engine.begin() as conn:  # what crash recovery does to the unlogged staging tables
        for table in ("erp_staging_sales", "erp_staging_extracts"):
            conn.execute(sa.text(f"DELETE FROM {table} WHERE organizacao_id = :o"), {"o": org_id})
    _backdate(engine, org_id, OLD_DAY, days_ago=200)

    assert _materialize_retention(instance, database_url).success

    assert _extract_ids(engine, org_id, OLD_DAY) == [latest]


def test_an_old_day_fetched_again_recently_keeps_its_extracts(
    engine, database_url, erp_simulator, instance, monkeypatch
):
    """A backfill of an old day stores a fresh extract and normalizes it in the next step:
    retention in between must not delete it because its business day is old."""
    monkeypatch.setenv(RAW_EXTRACT_DAYS_ENV, "30")
    simulator, url = erp_simulator
    org_id, token = new_org(engine, url)
    simulator.configure(token, sales_per_day=5, malformed_records=0)
    assert materialize_day(instance, database_url, org_id, OLD_DAY).success
    simulator.configure(token, sales_per_day=6)
    assert materialize_day(instance, database_url, org_id, OLD_DAY).success
    assert count(engine, EXTRACTS, o=org_id, d=OLD_DAY) == 2

    assert _materialize_retention(instance, database_url).success

    assert count(engine, EXTRACTS, o=org_id, d=OLD_DAY) == 2


def test_retention_days_come_from_the_environment(monkeypatch):
    monkeypatch.delenv(RAW_EXTRACT_DAYS_ENV, raising=False)
    monkeypatch.delenv(QUARANTINE_DAYS_ENV, raising=False)
    policy = RecompraSettings().retention_policy
    assert (policy().raw_extract_days, policy().quarantine_days) == (90, 180)
    monkeypatch.setenv(RAW_EXTRACT_DAYS_ENV, "30")
    monkeypatch.setenv(QUARANTINE_DAYS_ENV, "365")
    assert (policy().raw_extract_days, policy().quarantine_days) == (30, 365)
    monkeypatch.setenv(QUARANTINE_DAYS_ENV, "0")
    with pytest.raises(ValueError, match=QUARANTINE_DAYS_ENV):
        policy()
    monkeypatch.setenv(RAW_EXTRACT_DAYS_ENV, "ninety")
    with pytest.raises(ValueError, match=RAW_EXTRACT_DAYS_ENV):
        policy()


def test_retention_runs_daily_in_its_own_group():
    assert defs.resolve_assets_def("erp_retention").group_names_by_key == {
        dg.AssetKey("erp_retention"): "maintenance"
    }
    schedule = defs.resolve_schedule_def("erp_retention_schedule")
    assert schedule.cron_schedule == "30 3 * * *"
    assert schedule.execution_timezone == "America/Sao_Paulo"
    assert schedule.job_name == "erp_retention_job"
    sync_nodes = {node.name for node in defs.resolve_job_def("erp_sync").graph.node_defs}
    assert "erp_retention" not in sync_nodes
