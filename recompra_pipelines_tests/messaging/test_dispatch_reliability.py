"""Error codes, retries, limits, parallel dispatchers, crashes, scheduling, quiet hours."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa

from recompra_pipelines.messaging import outbox
from recompra_pipelines.messaging.dispatcher import DispatchSettings
from recompra_pipelines.simulators.whatsapp import Fault
from recompra_pipelines_tests.helpers import materialize_day
from recompra_pipelines_tests.messaging.support import (
    FakeClock,
    dispatch,
    interaction,
    new_client,
    new_interaction,
    whatsapp_org,
)


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (Fault("error", code=130429), "130429"),
        (Fault("error", code=131056), "131056"),
        (Fault("error", code=4), "4"),
        (Fault("error", code=80007), "80007"),
        (Fault("http", status=503), "HTTP_503"),
    ],
)
def test_retryable_errors_come_back_with_backoff(engine, simulator, fault, code):
    sim, url, clock = simulator
    org_id = whatsapp_org(engine)
    iid = new_interaction(engine, org_id, new_client(engine, org_id))
    sim.inject(fault)
    counts = dispatch(engine, url, org_id, clock)
    row = interaction(engine, iid)
    assert counts.retry_scheduled == 1 and sim.messages == []
    assert (row.status_envio, row.erro_codigo, row.envio_tentativas) == ("PENDENTE", code, 1)
    assert row.envio_proxima_tentativa_data >= clock.now() + timedelta(seconds=15)
    clock.advance(minutes=2)
    assert dispatch(engine, url, org_id, clock).sent == 1
    row = interaction(engine, iid)
    assert (row.status_envio, row.erro_codigo, row.envio_tentativas) == ("ENVIADO", None, 2)


@pytest.mark.parametrize("code", [131026, 132000, 132001, 131047, 100])
def test_final_errors_fail_with_the_code(engine, simulator, code):
    sim, url, clock = simulator
    org_id = whatsapp_org(engine)
    iid = new_interaction(engine, org_id, new_client(engine, org_id))
    sim.inject(Fault("error", code=code))
    assert dispatch(engine, url, org_id, clock).failed == 1
    row = interaction(engine, iid)
    assert (row.status_envio, row.erro_codigo, row.envio_tentativas) == ("FALHOU", str(code), 1)
    clock.advance(hours=1)
    assert dispatch(engine, url, org_id, clock).claimed == 0


def test_simulator_rejects_unknown_numbers_and_templates(engine, simulator):
    sim, url, clock = simulator
    org_id = whatsapp_org(engine)
    undeliverable = new_interaction(
        engine, org_id, new_client(engine, org_id, e164="+5534991110000")
    )
    sim.mark_undeliverable("5534991110000")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE whatsapp_templates SET idioma = 'es' WHERE organizacao_id = :o"
                " AND nome = 'volte_sempre'"
            ),
            {"o": org_id},
        )
    wrong_language = new_interaction(engine, org_id, new_client(engine, org_id), "volte_sempre")
    dispatch(engine, url, org_id, clock)
    assert interaction(engine, undeliverable).erro_codigo == "131026"
    assert interaction(engine, wrong_language).erro_codigo == "132001"


def test_attempts_run_out(engine, simulator):
    sim, url, clock = simulator
    org_id = whatsapp_org(engine)
    iid = new_interaction(engine, org_id, new_client(engine, org_id))
    settings = DispatchSettings(max_attempts=2)
    sim.inject(Fault("http", status=500), Fault("http", status=502))
    dispatch(engine, url, org_id, clock, settings=settings)
    clock.advance(hours=1)
    dispatch(engine, url, org_id, clock, settings=settings)
    row = interaction(engine, iid)
    assert (row.status_envio, row.erro_codigo, row.envio_tentativas) == ("FALHOU", "HTTP_502", 2)


def test_burst_respects_both_limits(engine, simulator):
    """170 messages from one number, 3 of them to one client: paced to the number's limit
    by the (fake) clock, the repeated recipient deferred 6 s apart; Meta complains zero times."""
    sim, url, clock = simulator
    org_id = whatsapp_org(engine)
    repeated = new_client(engine, org_id, e164="+5534998887777")
    for _ in range(3):
        new_interaction(engine, org_id, repeated)
    for _ in range(167):
        new_interaction(engine, org_id, new_client(engine, org_id))
    clock.reset()  # the inserts took real time: all of them are due now
    start = clock.now()
    counts = dispatch(engine, url, org_id, clock)
    assert (counts.sent, counts.deferred) == (168, 2)
    for _ in range(2):
        clock.advance(seconds=6)
        dispatch(engine, url, org_id, clock)
    assert len(sim.messages) == 170
    assert sim.error_codes() == Counter()
    times = sorted(m["at"] for m in sim.messages)
    assert all(
        later - earlier >= timedelta(seconds=1)
        for earlier, later in zip(times, times[80:], strict=False)
    )
    assert times[-1] - start >= timedelta(seconds=12)  # the repeated recipient's third message
    to_repeated = [m["at"] for m in sim.messages_to("5534998887777")]
    assert [
        b - a >= timedelta(seconds=6) for a, b in zip(to_repeated, to_repeated[1:], strict=False)
    ] == [True] * 2


def test_parallel_dispatchers_never_send_twice(engine, simulator):
    sim, url, _ = simulator
    org_id = whatsapp_org(engine)
    ids = {str(new_interaction(engine, org_id, new_client(engine, org_id))) for _ in range(60)}
    clock = FakeClock(datetime.now(UTC) + timedelta(seconds=1))
    settings = DispatchSettings(batch_size=5)
    results, barrier = [], threading.Barrier(3)

    def run():
        barrier.wait()
        results.append(dispatch(engine, url, org_id, clock, settings=settings))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent = [m["payload"]["biz_opaque_callback_data"] for m in sim.messages]
    assert sorted(sent) == sorted(ids)  # each exactly once
    assert sum(r.sent for r in results) == 60


def test_a_claim_never_attempted_is_released_after_the_bound_and_sent_once(engine, simulator):
    sim, url, clock = simulator
    org_id = whatsapp_org(engine)
    iid = new_interaction(engine, org_id, new_client(engine, org_id))
    with engine.begin() as conn:  # a dispatcher claims, then its process dies
        [claimed] = outbox.claim(conn, org_id, clock.now(), limit=10, immediate_only=False)
    assert claimed.interaction_id == iid and "token" not in repr(claimed)
    clock.advance(minutes=9)  # within the bound the claim is its dispatcher's
    assert dispatch(engine, url, org_id, clock).claimed == 0
    assert interaction(engine, iid).status_envio == "ENVIANDO"
    clock.advance(minutes=2)
    counts = dispatch(engine, url, org_id, clock)
    assert (counts.expired_claims_released, counts.sent) == (1, 1)
    row = interaction(engine, iid)
    assert (row.status_envio, row.envio_tentativas) == ("ENVIADO", 1)
    assert [m["payload"]["biz_opaque_callback_data"] for m in sim.messages] == [str(iid)]


def test_an_attempt_whose_dispatcher_died_is_never_resent(engine, simulator):
    sim, url, clock = simulator
    org_id = whatsapp_org(engine)
    iid = new_interaction(engine, org_id, new_client(engine, org_id))
    with engine.begin() as conn:  # claimed, the request left, then the process died
        [claimed] = outbox.claim(conn, org_id, clock.now(), limit=10, immediate_only=False)
        assert outbox.start_attempt(conn, claimed, clock.now())
    clock.advance(hours=1)
    counts = dispatch(engine, url, org_id, clock)
    assert (counts.claimed, counts.expired_claims_unknown) == (0, 1)
    assert sim.requests == []
    row = interaction(engine, iid)
    assert (row.status_envio, row.erro_codigo) == ("ENVIANDO", outbox.UNKNOWN_RESULT)


def test_timeout_after_sending_is_unknown_not_resent(engine, simulator):
    sim, url, clock = simulator
    org_id = whatsapp_org(engine)
    iid = new_interaction(engine, org_id, new_client(engine, org_id))
    sim.inject(Fault("timeout", seconds=1.0))
    counts = dispatch(engine, url, org_id, clock, timeout=0.2)
    assert counts.unknown == 1
    row = interaction(engine, iid)
    assert (row.status_envio, row.erro_codigo) == ("ENVIANDO", outbox.UNKNOWN_RESULT)
    clock.advance(hours=1)
    assert dispatch(engine, url, org_id, clock).claimed == 0
    assert len(sim.messages) == 1  # Meta did get it once; we never sent it again


def test_slow_answer_within_timeout_is_sent(engine, simulator):
    sim, url, clock = simulator
    org_id = whatsapp_org(engine)
    new_interaction(engine, org_id, new_client(engine, org_id))
    sim.inject(Fault("slow", seconds=0.1))
    assert dispatch(engine, url, org_id, clock, timeout=5).sent == 1


def test_connection_refused_is_retried(engine):
    org_id = whatsapp_org(engine)
    iid = new_interaction(engine, org_id, new_client(engine, org_id))
    dispatch(engine, "http://127.0.0.1:9", org_id, FakeClock())
    row = interaction(engine, iid)
    assert (row.status_envio, row.erro_codigo) == ("PENDENTE", "CONEXAO")


def test_scheduled_blocks_catch_up_then_skip_when_too_late(engine, simulator):
    sim, url, _ = simulator
    org_id = whatsapp_org(engine)  # America/Sao_Paulo, UTC-3
    day = datetime(2026, 11, 28).date()
    at_1830_local = FakeClock(datetime(2026, 11, 28, 21, 30, tzinfo=UTC))
    now_block = new_interaction(engine, org_id, new_client(engine, org_id), day=day, block="18:00")
    missed = new_interaction(engine, org_id, new_client(engine, org_id), day=day, block="15:00")
    too_late = new_interaction(engine, org_id, new_client(engine, org_id), day=day, block="09:00")
    future = new_interaction(engine, org_id, new_client(engine, org_id), day=day, block="21:00")
    counts = dispatch(engine, url, org_id, at_1830_local)
    assert (counts.sent, counts.late_skipped) == (2, 1)
    assert interaction(engine, now_block).status_envio == "ENVIADO"
    assert interaction(engine, missed).status_envio == "ENVIADO"
    row = interaction(engine, too_late)
    assert (row.status_envio, row.erro_codigo) == ("IGNORADO", "ATRASADA")
    assert interaction(engine, future).status_envio == "PENDENTE"
    # The immediate path leaves scheduled interactions to the dispatcher.
    at_1830_local.advance(hours=3)
    assert dispatch(engine, url, org_id, at_1830_local, immediate_only=True).claimed == 0
    assert dispatch(engine, url, org_id, at_1830_local).sent == 1


def test_a_paused_campaign_sends_nothing_more_and_reactivating_it_flushes_nothing_late(
    engine, simulator
):
    sim, url, _ = simulator
    campaign = {"key": "boas-vindas", "title": "Boas-vindas", "trigger": "PRIMEIRA-COMPRA",
                "template": "boas_vindas", "schedule": {"delay": {"value": 1}, "block": "18:00"}}  # fmt: skip
    org_id = whatsapp_org(engine, campaigns=[campaign])
    with engine.connect() as conn:
        campaign_id = conn.scalar(
            sa.text("SELECT id FROM campaigns WHERE organizacao_id = :o"), {"o": org_id}
        )

    def set_active(active: bool) -> None:
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE campaigns SET ativo = :a WHERE id = :c"),
                {"a": active, "c": campaign_id},
            )

    day = datetime(2026, 11, 28).date()
    at_1830_local = FakeClock(datetime(2026, 11, 28, 21, 30, tzinfo=UTC))
    due = new_interaction(
        engine, org_id, new_client(engine, org_id), day=day, block="18:00", campaign_id=campaign_id
    )
    set_active(False)

    counts = dispatch(engine, url, org_id, at_1830_local)

    assert sim.messages == [] and counts.skipped == 1
    row = interaction(engine, due)
    assert (row.status_envio, row.erro_codigo) == ("IGNORADO", "CAMPANHA_INATIVA")
    # Due at 09:00 while paused, and no dispatcher saw it: reactivated at 18:30 it is past the
    # lateness allowance, skipped, not sent now.
    stale = new_interaction(
        engine, org_id, new_client(engine, org_id), day=day, block="09:00", campaign_id=campaign_id
    )
    set_active(True)
    counts = dispatch(engine, url, org_id, at_1830_local)
    assert (counts.sent, counts.late_skipped, sim.messages) == (0, 1, [])
    assert interaction(engine, stale).erro_codigo == "ATRASADA"
    # What falls due once it is active again goes out.
    fresh = new_interaction(
        engine, org_id, new_client(engine, org_id), day=day, block="18:00", campaign_id=campaign_id
    )
    assert dispatch(engine, url, org_id, at_1830_local).sent == 1
    assert interaction(engine, fresh).status_envio == "ENVIADO"


def test_quiet_hours_defer_to_the_end_of_the_window(engine, simulator):
    sim, url, _ = simulator
    org_id = whatsapp_org(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE organizations SET configuracao ="
                """ '{"whatsapp": {"silencio": {"inicio": "22:00", "fim": "08:00"}}}'"""
                " WHERE id = :org"
            ),
            {"org": org_id},
        )
    night = FakeClock(datetime.now(UTC).replace(hour=2, minute=0) + timedelta(days=1))  # 23:00 BRT
    iid = new_interaction(
        engine, org_id, new_client(engine, org_id), inserted_at=night.now() - timedelta(minutes=1)
    )
    assert dispatch(engine, url, org_id, night).deferred == 1
    row = interaction(engine, iid)
    assert row.status_envio == "PENDENTE" and sim.messages == []
    assert row.envio_proxima_tentativa_data.astimezone(UTC).hour == 11  # 08:00 BRT
    night.advance(hours=9, minutes=1)
    assert dispatch(engine, url, org_id, night).sent == 1


def test_an_unknown_send_pages_through_the_stuck_sends_check(
    engine, database_url, instance, simulator
):
    """A lost answer gets 15 minutes for its status webhook to resolve it, then pages."""
    sim, url, clock = simulator
    org_id = whatsapp_org(engine)
    old, fresh = (new_interaction(engine, org_id, new_client(engine, org_id)) for _ in range(2))
    sim.inject(Fault("timeout", seconds=1.0), Fault("timeout", seconds=1.0))
    assert dispatch(engine, url, org_id, clock, timeout=0.2).unknown == 2
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE interactions SET data_envio = now() - interval '16 minutes' WHERE id = :i"
            ),
            {"i": old},
        )

    result = materialize_day(
        instance,
        database_url,
        org_id,
        clock.now().date(),
        selection=dg.AssetSelection.assets("whatsapp_immediate_dispatch"),  # with its checks
    )

    [evaluation] = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "whatsapp_no_stuck_sends"
    ]
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.metadata["unknown_result"].value == 1
    assert evaluation.metadata["awaiting_status"].value == 1
    assert evaluation.metadata["stale_claims"].value == 0
