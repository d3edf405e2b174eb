"""Opt-out / opt-in by keyword and 131026 suppression, end to end: customers' messages and
statuses over real HTTP into the receiver, campaign interactions through the one creation
path, messages through the dispatcher to the simulator."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from recompra_pipelines.db import campaign_interactions as store
from recompra_pipelines.db.bulk import lock_organization
from recompra_pipelines.domain.campaign_rules import Trigger
from recompra_pipelines.simulators import whatsapp_webhooks as hooks
from recompra_pipelines.sync.campaign_steps import create_interactions
from recompra_pipelines.sync.organizations import load_organization
from recompra_pipelines_tests.messaging.support import (
    TOKEN,
    dispatch,
    interaction,
    new_client,
    new_interaction,
    post,
    unique_phone_number_id,
    whatsapp_org,
)

PHONE = "+5534999998888"
TO = PHONE.removeprefix("+")
WA_ID_WITHOUT_NINTH_DIGIT = "553499998888"
GONE = "+5534988887777"  # not on WhatsApp
BIRTHDAY = {
    "key": "niver",
    "title": "Aniversário",
    "trigger": "ANIVERSARIO_CLIENTE",
    "template": "boas_vindas",
}


@pytest.fixture
def shop(engine, simulator):
    """An organization with its own business number, a birthday campaign and one client."""
    sim, _, _ = simulator
    number = unique_phone_number_id()
    sim.register_number(number, TOKEN)
    org_id = whatsapp_org(engine, phone_number_id=number, campaigns=[BIRTHDAY])
    return org_id, number, new_client(engine, org_id, e164=PHONE)


def campaign_message(engine, org_id, client_id, key, now):
    """The campaign's next interaction for the client, through the creation path every
    trigger uses; returns (interaction id, skip reason)."""
    with engine.begin() as conn:
        lock_organization(conn, org_id)
        org = load_organization(conn, org_id)
        (campaign,) = store.active_campaigns(conn, org_id, ["ANIVERSARIO_CLIENTE"])
        trigger = Trigger(client_id=client_id, time=now, key=key, title="Aniversário: {title}")
        ((interaction_id, decision),), _ = create_interactions(
            conn, org, [(campaign, trigger)], now
        )
    return interaction_id, decision.skip_reason


def customer_says(receiver, number, text, at, wa_id=WA_ID_WITHOUT_NINTH_DIGIT):
    answer = post(receiver, hooks.webhook(number, messages=[hooks.text_message(wa_id, text, at)]))
    assert answer.status_code == 200 and answer.json()["applied"] == 1


def contact(engine, org_id, phone=PHONE):
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT * FROM whatsapp_contatos WHERE organizacao_id = :o AND telefone_e164 = :p"
            ),
            {"o": org_id, "p": phone},
        ).one_or_none()


def test_an_opt_out_stops_the_next_campaign_message_and_an_opt_in_restores_it(
    engine, receiver, simulator, shop
):
    sim, url, clock = simulator
    org_id, number, client = shop
    # The customer writes from a wa_id registered before the ninth digit.
    customer_says(receiver, number, "Parar!", clock.now())
    assert contact(engine, org_id).descadastrado is True

    iid, reason = campaign_message(engine, org_id, client, "aniversario:2026", clock.now())
    assert reason == "OPT_OUT"
    assert dispatch(engine, url, org_id, clock).claimed == 0
    row = interaction(engine, iid)
    assert (row.status_envio, row.erro_codigo) == ("IGNORADO", "OPT_OUT")
    assert sim.messages_to(TO) == []

    customer_says(receiver, number, "voltar", clock.advance(seconds=30))
    assert contact(engine, org_id).descadastrado is False
    iid, reason = campaign_message(engine, org_id, client, "aniversario:2027", clock.now())
    assert reason is None
    assert dispatch(engine, url, org_id, clock).sent == 1
    assert interaction(engine, iid).status_envio == "ENVIADO"
    assert len(sim.messages_to(TO)) == 1


def test_an_opt_out_while_a_message_waits_stops_it_at_send_time(engine, receiver, simulator, shop):
    sim, url, clock = simulator
    org_id, number, client = shop
    waiting = new_interaction(engine, org_id, client)
    utility = new_interaction(engine, org_id, client, "sem_parametros")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE whatsapp_templates SET categoria = 'UTILITY'"
                " WHERE organizacao_id = :o AND nome = 'sem_parametros'"
            ),
            {"o": org_id},
        )
    customer_says(receiver, number, "SAIR", clock.now())
    counts = dispatch(engine, url, org_id, clock)
    assert (counts.skipped, counts.sent) == (1, 1)
    assert (
        interaction(engine, waiting).status_envio,
        interaction(engine, waiting).erro_codigo,
    ) == (
        "IGNORADO",
        "OPT_OUT",
    )
    # Not marketing: the customer still gets what they expect from a utility message.
    assert interaction(engine, utility).status_envio == "ENVIADO"
    assert [m["template"] for m in sim.messages_to(TO)] == ["sem_parametros"]


def test_the_latest_keyword_wins_whatever_order_they_arrive_in(engine, receiver, simulator, shop):
    _, _, clock = simulator
    org_id, number, _ = shop
    t0 = clock.now()
    customer_says(receiver, number, "VOLTAR", t0 + timedelta(minutes=5))
    customer_says(receiver, number, "PARAR", t0)  # sent earlier, delivered later
    row = contact(engine, org_id)
    assert (row.descadastrado, row.consentimento_palavra) == (False, "VOLTAR")


def test_organization_keywords_replace_the_defaults(engine, receiver, simulator):
    sim, _, clock = simulator
    number = unique_phone_number_id()
    org_id = whatsapp_org(
        engine,
        phone_number_id=number,
        consent={"opt_out_keywords": ["CHEGA"], "opt_in_keywords": ["QUERO"]},
    )
    customer_says(receiver, number, "parar", clock.now())
    assert contact(engine, org_id) is None or contact(engine, org_id).descadastrado is False
    customer_says(receiver, number, "Chega.", clock.now())
    assert contact(engine, org_id).descadastrado is True


def test_undeliverable_numbers_are_suppressed_for_the_configured_time(engine, receiver, simulator):
    sim, url, clock = simulator
    number = unique_phone_number_id()
    sim.register_number(number, TOKEN)
    org_id = whatsapp_org(
        engine,
        phone_number_id=number,
        campaigns=[BIRTHDAY],
        consent={"unreachable_suppression_days": 10},
    )
    client = new_client(engine, org_id, e164=GONE)
    sim.mark_undeliverable(GONE.removeprefix("+"))
    first, _ = campaign_message(engine, org_id, client, "aniversario:2026", clock.now())
    assert dispatch(engine, url, org_id, clock).failed == 1
    assert interaction(engine, first).erro_codigo == "131026"
    assert contact(engine, org_id, GONE).inalcancavel_desde == clock.now()

    # Every campaign does not try the number again: skipped at creation…
    second, reason = campaign_message(engine, org_id, client, "aniversario:2027", clock.now())
    assert reason == "NUMERO_INALCANCAVEL"
    # …and at send time for a message that was already waiting.
    waiting = new_interaction(engine, org_id, client)
    assert dispatch(engine, url, org_id, clock).skipped == 1
    assert interaction(engine, waiting).erro_codigo == "NUMERO_INALCANCAVEL"
    assert len(sim.requests) == 1

    clock.advance(days=11)
    later, reason = campaign_message(engine, org_id, client, "aniversario:2028", clock.now())
    assert reason is None
    dispatch(engine, url, org_id, clock)
    assert len(sim.requests) == 2  # tried again after the suppression


def test_a_failed_status_with_131026_suppresses_and_a_customer_message_lifts_it(
    engine, receiver, simulator, shop
):
    sim, url, clock = simulator
    org_id, number, client = shop
    iid = new_interaction(engine, org_id, client)
    assert dispatch(engine, url, org_id, clock).sent == 1
    wamid = sim.messages[-1]["wamid"]
    failed = hooks.status(
        wamid, "failed", clock.now(), TO, callback=str(iid), error=(131026, "Undeliverable")
    )
    post(receiver, hooks.webhook(number, statuses=[failed]))
    row = interaction(engine, iid)
    assert (row.status_envio, row.erro_codigo) == ("FALHOU", "131026")
    assert contact(engine, org_id).inalcancavel_desde is not None
    _, reason = campaign_message(engine, org_id, client, "aniversario:2026", clock.now())
    assert reason == "NUMERO_INALCANCAVEL"

    customer_says(receiver, number, "oi, recebi?", clock.advance(minutes=1))
    assert contact(engine, org_id).inalcancavel_desde is None
    _, reason = campaign_message(engine, org_id, client, "aniversario:2027", clock.now())
    assert reason is None


def test_customer_messages_become_chat_messages_when_the_hub_is_on(
    engine, receiver, simulator, shop
):
    _, _, clock = simulator
    org_id, number, client = shop
    customer_says(receiver, number, "Bom dia", clock.now())
    with engine.begin() as conn:
        assert (
            conn.scalar(
                sa.text("SELECT count(*) FROM chat_messages WHERE organizacao_id = :o"),
                {"o": org_id},
            )
            == 0
        )
        conn.execute(
            sa.text(
                "UPDATE organizations SET configuracao = configuracao"
                ' || \'{"recursos": {"hubAtendimentos": {"acesso": true}}}\' WHERE id = :o'
            ),
            {"o": org_id},
        )
    message = hooks.text_message(WA_ID_WITHOUT_NINTH_DIGIT, "Tem pão de queijo?", clock.now())
    payload = hooks.webhook(number, messages=[message])
    assert post(receiver, payload).json()["applied"] == 1
    assert post(receiver, payload).json()["applied"] == 0  # Meta's retry
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                """SELECT m.autor_tipo, m.conteudo_texto, m.whatsapp_message_id, ch.cliente_id,
                          ch.whatsapp_telefone
                   FROM chat_messages m JOIN chats ch ON ch.id = m.chat_id
                   WHERE m.organizacao_id = :o"""
            ),
            {"o": org_id},
        ).all()
    assert [tuple(r) for r in rows] == [
        ("CLIENTE", "Tem pão de queijo?", message["id"], client, TO)
    ]
