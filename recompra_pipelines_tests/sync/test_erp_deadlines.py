"""Slow ERPs against deadlines, over real loopback HTTP: a server trickling its answer fails the
run at the fetch deadline (the run ends, the organization's next run can start), and a
CardápioWeb day too long for the deadline keeps what it fetched and leaves the rest pending."""

from __future__ import annotations

from datetime import date

import dagster as dg
import sqlalchemy as sa

from recompra_pipelines.connectors.http import FetchSettings
from recompra_pipelines.orgfile.organization import OrgFile
from recompra_pipelines.orgfile_store.writer import apply_org_file
from recompra_pipelines.resources.erp import ErpConnectors
from recompra_pipelines.sync import steps
from recompra_pipelines_tests.connectors.test_cardapio_web import cw_simulator, new_cw_org
from recompra_pipelines_tests.helpers import count, materialize_day, metadata, new_org
from recompra_pipelines_tests.loopback import trickling_http

DAY = date(2026, 11, 18)
__all__ = ["cw_simulator"]  # the CardápioWeb simulator fixture, shared


def impatient_erp(**deadlines: float) -> ErpConnectors:
    return ErpConnectors(
        timeout_seconds=1,
        max_attempts=5,
        backoff_seconds=0.01,
        max_backoff_seconds=0.02,
        **deadlines,
    )


def test_a_trickling_erp_fails_the_run_at_the_deadline_and_the_next_run_starts(
    engine, database_url, erp_simulator, instance
):
    simulator, simulator_url = erp_simulator
    fetch = dg.AssetSelection.assets("erp_raw_extract")  # the step that waits on the ERP
    with trickling_http(byte_every_seconds=0.05) as (url, arrivals):
        org_id, token = new_org(engine, url)
        result = materialize_day(
            instance,
            database_url,
            org_id,
            DAY,
            raise_on_error=False,
            selection=fetch,
            erp=impatient_erp(request_deadline_seconds=0.5, fetch_deadline_seconds=1.5),
        )

        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        message = failure.step_failure_data.error.to_string()
        assert f"organization {org_id}, day {DAY}" in message
        assert "the 1.5 s fetch deadline passed" in message
        assert "no complete answer within the 0.5 s request deadline" in message
        # Each attempt was cut at its own deadline, then retried until the fetch deadline.
        assert len(arrivals) >= 2
        run = instance.get_run_by_id(result.run_id)
        assert run.status == dg.DagsterRunStatus.FAILURE  # the run ended: its slot is free
        assert count(engine, "SELECT count(*) FROM erp_raw_extracts WHERE organizacao_id = :o",
                     o=org_id) == 0  # fmt: skip

    # The organization's next run starts at once and loads the day from a working ERP.
    simulator.configure(token, sales_per_day=5)
    with engine.begin() as conn:
        apply_org_file(
            conn,
            OrgFile.model_validate(
                {
                    "id": org_id,
                    "name": f"Loja {org_id}",
                    "integration": {
                        "type": "ONLINE-SOFTWARE",
                        "server_url": simulator_url,
                        "token": token,
                    },
                }
            ),
        )
    following = materialize_day(instance, database_url, org_id, DAY, selection=fetch)
    assert following.success and metadata(following, "erp_raw_extract")["new_content"]


def test_a_cardapio_web_day_longer_than_the_deadline_keeps_what_it_got_and_leaves_the_rest_pending(
    engine, cw_simulator
):
    simulator, url = cw_simulator
    org_id, merchant_id = new_cw_org(engine, url)
    simulator.configure(merchant_id, orders_per_day=6)
    limit_details(engine, org_id, per_minute=2)  # 2 details at once, then one every 30 s
    day = date(2026, 11, 20)

    first = steps.fetch_raw_extract(engine, org_id, day, FetchSettings(fetch_deadline_seconds=5))

    # Waiting 30 s for the third detail would pass the deadline: it is not even tried.
    assert first.pending == 4
    assert len(simulator_detail_calls(simulator, merchant_id)) == 2
    limit_details(engine, org_id, per_minute=6000)  # the next run gets the rest
    second = steps.fetch_raw_extract(engine, org_id, day, FetchSettings())
    assert second.pending == 0
    assert len(simulator_detail_calls(simulator, merchant_id)) == 6  # the first two reused


def limit_details(engine, org_id: str, per_minute: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE organizations SET integracao_configuracao = integracao_configuracao"
                " || jsonb_build_object('details_per_minute', :n) WHERE id = :o"
            ),
            {"o": org_id, "n": per_minute},
        )


def simulator_detail_calls(simulator, merchant_id: str) -> list:
    return [
        r
        for r in simulator.requests
        if r["merchant_id"] == merchant_id and r["family"] == "details" and r["status"] == 200
    ]
