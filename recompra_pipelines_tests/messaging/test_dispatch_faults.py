"""WhatsApp against a stalled endpoint and a dying dispatcher, over loopback HTTP: the number's
circuit breaker stops a stalled endpoint from holding the sync, the messages it held back go
out once on a later run; a dispatcher killed mid-batch leaves claims that are released after
the bound and sent exactly once (never one that was already attempted)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa

from recompra_pipelines.credentials import MissingSecret
from recompra_pipelines.messaging import outbox
from recompra_pipelines.messaging.breaker import BreakerSettings
from recompra_pipelines.messaging.dispatcher import DispatchSettings
from recompra_pipelines.resources.whatsapp import WhatsAppCloudApi
from recompra_pipelines.simulators.whatsapp import Fault
from recompra_pipelines_tests.helpers import materialize_day, metadata, new_org
from recompra_pipelines_tests.messaging.support import (
    PHONE_ID,
    TEMPLATES,
    FakeClock,
    dispatch,
    interaction,
    new_client,
    new_interaction,
    whatsapp_org,
)

# Only stops a hang: the dispatcher is killed long before.
HANG = 120
# How long a send waits for Meta, and how long a stalled Meta takes: far apart, so a loaded
# machine never mistakes one for the other.
PATIENCE = 1.0
STALL = 10.0


def callbacks(messages: list[dict]) -> Counter:
    return Counter(m["payload"]["biz_opaque_callback_data"] for m in messages)


def statuses(engine: sa.Engine, org_id: str) -> Counter:
    with engine.connect() as conn:
        return Counter(
            conn.execute(
                sa.text(
                    "SELECT status_envio, erro_codigo FROM interactions WHERE organizacao_id = :o"
                ),
                {"o": org_id},
            ).all()
        )


def test_a_stalled_number_trips_its_breaker_and_the_rest_goes_out_once_later(engine, simulator):
    sim, url, clock = simulator
    org_id = whatsapp_org(engine)
    ids = {str(new_interaction(engine, org_id, new_client(engine, org_id))) for _ in range(12)}
    clock.reset()
    sim.inject(*[Fault("timeout", seconds=STALL)] * 12)  # Meta takes each one, never answers
    settings = DispatchSettings(breaker=BreakerSettings(failures=3, cooldown=timedelta(minutes=5)))

    stalled = dispatch(engine, url, org_id, clock, timeout=PATIENCE, settings=settings)

    assert (stalled.unknown, stalled.suspended, stalled.sent) == (3, 9, 0)
    assert len(sim.requests) == 3  # the stalled endpoint was tried three times, not twelve
    held_back = callbacks(sim.messages)
    clock.advance(minutes=1)  # still suspended: nothing is even claimed
    assert dispatch(engine, url, org_id, clock, timeout=PATIENCE, settings=settings).claimed == 0

    sim.reset()  # Meta answers again
    clock.advance(minutes=5)
    recovered = dispatch(engine, url, org_id, clock, timeout=PATIENCE, settings=settings)

    assert recovered.sent == 9
    sent_once = held_back + callbacks(sim.messages)
    assert set(sent_once) == ids and set(sent_once.values()) == {1}
    assert statuses(engine, org_id) == {
        ("ENVIADO", None): 9,
        ("ENVIANDO", "RESULTADO_DESCONHECIDO"): 3,
    }
    with engine.connect() as conn:
        breaker = conn.execute(
            sa.text(
                "SELECT envio_falhas_consecutivas, envio_suspenso_ate FROM whatsapp_connections"
                " WHERE organizacao_id = :o"
            ),
            {"o": org_id},
        ).one()
    assert tuple(breaker) == (0, None)  # the first answer closed the breaker


def test_a_sync_against_a_stalled_number_finishes_and_says_so(
    engine, database_url, instance, simulator
):
    sim, url, _ = simulator
    org_id = whatsapp_org(engine)
    ids = {str(new_interaction(engine, org_id, new_client(engine, org_id))) for _ in range(20)}
    sim.inject(*[Fault("timeout", seconds=STALL)] * 20)
    whatsapp = WhatsAppCloudApi(
        enabled=True, graph_url=url, timeout_seconds=PATIENCE, breaker_failures=3
    )
    step = dg.AssetSelection.assets("whatsapp_immediate_dispatch")  # with its checks

    def run():
        return materialize_day(
            instance,
            database_url,
            org_id,
            datetime.now(UTC).date(),
            selection=step,
            resources={"whatsapp": whatsapp},
        )

    first = run()

    assert first.success
    sent = metadata(first, "whatsapp_immediate_dispatch")
    assert (sent["unknown"], sent["suspended"], sent["sent"]) == (3, 17, 0)
    checks = {e.check_name: e for e in first.get_asset_check_evaluations()}
    suspended = checks["whatsapp_numbers_not_suspended"]
    assert not suspended.passed and suspended.severity == dg.AssetCheckSeverity.WARN
    assert suspended.metadata["messages_waiting"].value == 17
    assert f"number {PHONE_ID} suspended until" in suspended.description
    # The three sends with no answer wait for their status webhooks before they page.
    assert checks["whatsapp_no_stuck_sends"].metadata["awaiting_status"].value == 3
    held_back = callbacks(sim.messages)

    sim.reset()
    with engine.begin() as conn:  # the cooldown passes
        conn.execute(
            sa.text(
                "UPDATE whatsapp_connections SET envio_suspenso_ate = now() - interval '1 s'"
                " WHERE organizacao_id = :o"
            ),
            {"o": org_id},
        )
        conn.execute(
            sa.text(
                "UPDATE interactions SET envio_proxima_tentativa_data = now() - interval '1 s'"
                " WHERE organizacao_id = :o AND status_envio = 'PENDENTE'"
            ),
            {"o": org_id},
        )
    later = run()

    assert metadata(later, "whatsapp_immediate_dispatch")["sent"] == 17
    sent_once = held_back + callbacks(sim.messages)
    assert set(sent_once) == ids and set(sent_once.values()) == {1}
    checks = {e.check_name: e for e in later.get_asset_check_evaluations()}
    assert checks["whatsapp_numbers_not_suspended"].passed


DISPATCHER = """
import sys
from recompra_pipelines.db.engine import create_crm_engine
from recompra_pipelines.messaging.channels import WhatsAppChannels
from recompra_pipelines.messaging.cloud_api import CloudApiClient
from recompra_pipelines.messaging.dispatcher import dispatch_organization

database_url, graph_url, org_id = sys.argv[1:]
with WhatsAppChannels(CloudApiClient(graph_url, "v22.0", timeout_seconds=30)) as channels:
    dispatch_organization(create_crm_engine(database_url), channels, org_id)
"""


def test_a_dispatcher_killed_mid_batch_leaves_claims_sent_once_after_the_bound(
    engine, database_url, simulator
):
    sim, url, _ = simulator
    org_id = whatsapp_org(engine)
    ids = {str(new_interaction(engine, org_id, new_client(engine, org_id))) for _ in range(20)}
    sim.inject(*[Fault("slow", seconds=0.3)] * 20)
    dispatcher = subprocess.Popen(
        [sys.executable, "-c", DISPATCHER, database_url, url, org_id],
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    give_up = time.monotonic() + HANG
    while len(sim.messages) < 3 and dispatcher.poll() is None and time.monotonic() < give_up:
        time.sleep(0.02)
    assert dispatcher.poll() is None, "the dispatcher must still be mid-batch"
    os.kill(dispatcher.pid, signal.SIGKILL)
    dispatcher.wait(timeout=HANG)
    before_the_kill = callbacks(sim.messages)
    stranded = statuses(engine, org_id)
    assert stranded[("ENVIANDO", None)] >= 10  # claimed as one batch, most never attempted

    sim.reset()
    later = FakeClock(datetime.now(UTC) + timedelta(minutes=11))  # past the 10-minute bound
    counts = dispatch(engine, url, org_id, later)

    assert counts.expired_claims_unknown <= 1  # the request in flight at the kill, if any
    assert counts.expired_claims_released == stranded[("ENVIANDO", None)] - (
        counts.expired_claims_unknown
    )
    assert counts.sent == counts.expired_claims_released
    sent_once = before_the_kill + callbacks(sim.messages)
    assert set(sent_once.values()) == {1}  # nothing was sent twice
    with engine.connect() as conn:
        by_status = dict(
            conn.execute(
                sa.text(
                    "SELECT id::text, status_envio || ':' || COALESCE(erro_codigo, '')"
                    " FROM interactions WHERE organizacao_id = :o"
                ),
                {"o": org_id},
            ).all()
        )
    sent = {i for i, state in by_status.items() if state == "ENVIADO:"}
    unknown = {i for i, state in by_status.items() if state == f"ENVIANDO:{outbox.UNKNOWN_RESULT}"}
    assert sent | unknown == ids and len(unknown) == counts.expired_claims_unknown
    # Every message recorded as sent went out once; one that may have left is never retried.
    assert sent <= set(sent_once) and set(sent_once) - sent <= unknown


def test_a_dispatch_that_reaches_its_deadline_leaves_the_rest_due(engine, simulator):
    sim, url, clock = simulator
    org_id = whatsapp_org(engine)
    for _ in range(10):
        new_interaction(engine, org_id, new_client(engine, org_id))
    clock.reset()
    sim.inject(*[Fault("slow", seconds=2.0)] * 10)
    settings = DispatchSettings(deadline=timedelta(seconds=1))

    first = dispatch(engine, url, org_id, clock, settings=settings)

    # One send at most (it takes longer than the whole deadline); the rest of the claimed
    # batch goes back due now, unattempted.
    assert first.sent <= 1 and first.past_deadline == first.claimed - first.sent
    sim.reset()
    rest = dispatch(engine, url, org_id, clock)
    assert rest.sent == 10 - first.sent
    sent_once = callbacks(sim.messages)
    assert len(sent_once) == rest.sent and set(sent_once.values()) == {1}
    assert statuses(engine, org_id) == {("ENVIADO", None): 10}


def test_a_token_env_not_set_fails_the_dispatch_before_anything_is_claimed(
    engine, simulator, monkeypatch
):
    sim, url, clock = simulator
    monkeypatch.delenv("WA_TOKEN_NOT_HERE", raising=False)
    org_id, _ = new_org(
        engine,
        "http://127.0.0.1:9/unused",
        whatsapp={
            "connection": {
                "phone_number_id": PHONE_ID,
                "business_account_id": "2097",
                "token_env": "WA_TOKEN_NOT_HERE",
            },
            "templates": TEMPLATES,
        },
    )
    iid = new_interaction(engine, org_id, new_client(engine, org_id))
    clock.reset()

    with pytest.raises(MissingSecret, match="environment variable WA_TOKEN_NOT_HERE is not set"):
        dispatch(engine, url, org_id, clock)

    assert interaction(engine, iid).status_envio == "PENDENTE" and sim.requests == []
    monkeypatch.setenv("WA_TOKEN_NOT_HERE", "wa-secret-token-123")
    assert dispatch(engine, url, org_id, clock).sent == 1
