"""The WhatsApp simulator playing Meta's side: signed status webhooks and customers' replies
posted to the real receiver over loopback, as the demo wires them."""

from __future__ import annotations

import time

import httpx
import pytest
import sqlalchemy as sa

from recompra_pipelines.simulators import whatsapp_webhooks as hooks
from recompra_pipelines.simulators.whatsapp import StatusTimeline
from recompra_pipelines_tests.messaging.support import (
    APP_SECRET,
    TOKEN,
    FakeClock,
    dispatch,
    interaction,
    new_client,
    new_interaction,
    simulator_for_templates,
    unique_phone_number_id,
    whatsapp_org,
)


@pytest.fixture
def wired(receiver):
    """A simulator whose webhooks go to the test receiver; posted when the test says so."""
    clock = FakeClock()
    sim = simulator_for_templates(clock)
    sender = hooks.WebhookSender(receiver, APP_SECRET, backoff_seconds=0.01)
    sim.configure_webhooks(sender, background=False)
    with sim.run_in_thread() as url:
        yield sim, url, clock, sender
    sender.close()


def opted_out(engine, org_id, phone):
    with engine.connect() as conn:
        return conn.scalar(
            sa.text(
                "SELECT descadastrado FROM whatsapp_contatos"
                " WHERE organizacao_id = :o AND telefone_e164 = :p"
            ),
            {"o": org_id, "p": phone},
        )


def test_sent_messages_come_back_delivered_then_read(engine, wired):
    sim, url, clock, sender = wired
    org_id = whatsapp_org(engine)
    iid = new_interaction(engine, org_id, new_client(engine, org_id))
    assert dispatch(engine, url, org_id, clock).sent == 1
    assert sim.deliver_webhooks() == 3
    assert sender.statuses == [200, 200, 200]
    row = interaction(engine, iid)
    assert row.status_envio == "LIDO"
    assert row.data_execucao <= row.data_entrega <= row.data_leitura


def test_undeliverable_numbers_fail_by_webhook_with_131026(engine, wired):
    sim, url, clock, _ = wired
    org_id = whatsapp_org(engine)
    client = new_client(engine, org_id, e164="+5534988880000")
    sim.mark_undeliverable("5534988880000", by_webhook=True)
    iid = new_interaction(engine, org_id, client)
    assert dispatch(engine, url, org_id, clock).sent == 1  # Meta accepts, then reports
    sim.deliver_webhooks()
    row = interaction(engine, iid)
    assert (row.status_envio, row.erro_codigo) == ("FALHOU", "131026")


def test_replies_on_request_and_every_nth_recipient_opting_out(engine, wired, receiver):
    sim, url, clock, sender = wired
    number = unique_phone_number_id()
    sim.register_number(number, TOKEN)
    org_id = whatsapp_org(engine, phone_number_id=number)
    sim.configure_webhooks(sender, opt_out_every=2, background=False)
    first, second = (
        new_client(engine, org_id, e164=p) for p in ("+5534911110001", "+5534911110002")
    )
    new_interaction(engine, org_id, first)
    new_interaction(engine, org_id, second)
    assert dispatch(engine, url, org_id, clock).sent == 2
    sim.deliver_webhooks()  # 2 × 3 statuses, and the second recipient answers PARAR
    quiet, leaving = (m["to"] for m in sim.messages)
    assert opted_out(engine, org_id, "+" + leaving) is True
    assert opted_out(engine, org_id, "+" + quiet) is None

    clock.advance(minutes=1)  # the customer changes their mind later
    answer = httpx.post(
        url + "/_sim/replies",
        json={"phone_number_id": number, "from": leaving, "text": "VOLTAR"},
    )
    assert answer.status_code == 200 and sim.deliver_webhooks() == 1
    assert opted_out(engine, org_id, "+" + leaving) is False


def test_in_the_background_statuses_arrive_on_their_own(engine, receiver):
    clock = FakeClock()
    sim = simulator_for_templates(clock)
    sender = hooks.WebhookSender(receiver, APP_SECRET)
    quick = StatusTimeline(sent=0.0, delivered=0.05, read=0.1)
    sim.configure_webhooks(sender, timeline=quick)
    with sim.run_in_thread() as url:
        org_id = whatsapp_org(engine)
        iid = new_interaction(engine, org_id, new_client(engine, org_id))
        assert dispatch(engine, url, org_id, clock).sent == 1
        deadline = time.monotonic() + 30
        while interaction(engine, iid).status_envio != "LIDO" and time.monotonic() < deadline:
            time.sleep(0.05)
    sender.close()
    assert interaction(engine, iid).status_envio == "LIDO"
    assert sim.pending_webhooks() == 0
