"""A sync step materialized on its own never succeeds with zeros over a day whose earlier steps
never produced its input: it fails naming the organization, the day and what to run. A day the
ERP really answered empty still succeeds, and says so."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pytest

from recompra_pipelines.db.sync_progress import DayProgress, StepMarker
from recompra_pipelines.sync.preconditions import SyncStep, missing_input
from recompra_pipelines_tests.helpers import count, materialize_day, metadata, new_org

DAY = date(2026, 11, 3)


def _progress(latest="h1", staged="h1", done=(), error=None) -> DayProgress:
    return DayProgress(
        latest_extract_hash=latest,
        latest_extract_error=error,
        staged_hash=staged,
        staged_records=3,
        completed={m: (staged if m in done else None) for m in StepMarker},
    )


@pytest.mark.parametrize(
    "progress, step, reason",
    [
        (_progress(latest=None, staged=None), SyncStep.NORMALIZE, "no ERP extract is stored"),
        (_progress(latest=None, staged=None), SyncStep.ATTRIBUTION, "no ERP extract is stored"),
        (_progress(staged=None), SyncStep.NORMALIZE, None),
        (_progress(staged=None), SyncStep.ENTITIES, "never normalized"),
        (_progress(latest="h2"), SyncStep.ENTITIES, "not normalized into staging yet"),
        (_progress(latest="h2", error="not JSON"), SyncStep.SALES, "cannot be read (not JSON)"),
        (_progress(), SyncStep.ENTITIES, None),
        (_progress(), SyncStep.SALES, "crm_entities has not run"),
        (_progress(done=[StepMarker.ENTITIES]), SyncStep.SALES, None),
        (_progress(done=[StepMarker.ENTITIES]), SyncStep.CASHBACK, "crm_sales has not run"),
        # The ledger works on the sales as loaded: a newer, unreadable extract does not stop it.
        (_progress(latest="h2", done=[StepMarker.SALES]), SyncStep.CASHBACK, None),
        (_progress(done=[StepMarker.SALES]), SyncStep.CAMPAIGNS, "cashback_ledger has not run"),
        (_progress(done=[StepMarker.SALES]), SyncStep.ATTRIBUTION, None),
    ],
)
def test_what_each_step_needs(progress, step, reason):
    found = missing_input(progress, step)
    assert (found is None) if reason is None else (reason in found)


def _failure(result) -> str:
    [event] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    return event.step_failure_data.user_failure_data.description


def test_a_step_alone_over_a_day_never_synced_fails_and_writes_nothing(
    engine, database_url, erp_simulator, instance
):
    _, url = erp_simulator
    org_id, _ = new_org(engine, url, effects_start="2026-01-01")
    result = materialize_day(
        instance,
        database_url,
        org_id,
        DAY,
        raise_on_error=False,
        selection=dg.AssetSelection.assets("cashback_ledger"),
    )
    assert not result.success
    message = _failure(result)
    assert message.startswith(
        f"organization {org_id}, day {DAY}: cashback_ledger cannot run: no ERP extract is stored"
    )
    assert "Jobs → erp_sync → Materialize all" in message
    assert not result.asset_materializations_for_node("cashback_ledger")


def test_a_synced_day_runs_a_step_alone_and_a_fresher_extract_must_be_normalized_first(
    engine, database_url, erp_simulator, instance
):
    simulator, url = erp_simulator
    org_id, token = new_org(engine, url)
    simulator.configure(token, sales_per_day=6)
    assert materialize_day(instance, database_url, org_id, DAY).success
    ledger_alone = materialize_day(
        instance, database_url, org_id, DAY, selection=dg.AssetSelection.assets("cashback_ledger")
    )
    assert ledger_alone.success

    first = simulator.sales_for(token, DAY)[0]["id"]
    simulator.configure(token, overrides={first: {"situacao": "04"}})
    fetched = materialize_day(
        instance, database_url, org_id, DAY, selection=dg.AssetSelection.assets("erp_raw_extract")
    )
    assert fetched.success
    sales_alone = materialize_day(
        instance,
        database_url,
        org_id,
        DAY,
        raise_on_error=False,
        selection=dg.AssetSelection.assets("crm_sales"),
    )
    assert "latest ERP extract is not normalized into staging yet" in _failure(sales_alone)


def test_a_day_the_erp_answered_empty_succeeds_and_says_so(
    engine, database_url, erp_simulator, instance
):
    simulator, url = erp_simulator
    org_id, token = new_org(engine, url)
    simulator.configure(token, sales_per_day=0)
    result = materialize_day(instance, database_url, org_id, DAY)
    assert result.success
    sales = metadata(result, "crm_sales")
    assert sales["erp_day_empty"] is True and sales["erp_records"] == 0
    assert all(e.passed for e in result.get_asset_check_evaluations())
    assert count(engine, "SELECT count(*) FROM sales WHERE organizacao_id = :o", o=org_id) == 0
