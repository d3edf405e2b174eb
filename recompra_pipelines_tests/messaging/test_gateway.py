"""Organizations on the internal WhatsApp gateway: the request it gets, the DDD 55 number,
retries and at-most-once, and its secret resolved from the environment at send time."""

from __future__ import annotations

import secrets

import pytest
import sqlalchemy as sa

from recompra_pipelines.messaging.gateway import GatewaySecretMissing
from recompra_pipelines.simulators.whatsapp import Fault
from recompra_pipelines.simulators.whatsapp_gateway import GatewaySimulator
from recompra_pipelines_tests.helpers import new_org
from recompra_pipelines_tests.messaging.support import (
    TEMPLATES,
    FakeClock,
    dispatch,
    interaction,
    new_client,
    new_interaction,
    whatsapp_org,
)

SECRET = "gw-secret-" + secrets.token_hex(4)
# The Cloud API base URL is never called for these organizations.
UNUSED_GRAPH = "http://127.0.0.1:9"


@pytest.fixture(scope="module")
def gateway():
    sim = GatewaySimulator(secret=SECRET)
    with sim.run_in_thread() as url:
        yield sim, url


@pytest.fixture
def org(engine, gateway, monkeypatch):
    """A gateway organization whose secret variable is set in this process."""
    sim, url = gateway
    sim.reset()
    secret_env = f"GATEWAY_SECRET_{secrets.token_hex(3).upper()}"
    monkeypatch.setenv(secret_env, SECRET)
    session = f"sessao-{secrets.token_hex(3)}"
    sim.register_session(session)
    org_id, _ = new_org(
        engine,
        "http://127.0.0.1:9/unused",
        whatsapp={
            "connection": {
                "type": "internal-gateway",
                "gateway_url": url,
                "secret_env": secret_env,
                "session_id": session,
            },
            "templates": TEMPLATES,
        },
    )
    return org_id, session, secret_env


def send_all(engine, org_id, clock=None, **kwargs):
    return dispatch(engine, UNUSED_GRAPH, org_id, clock or FakeClock(), **kwargs)


def test_the_request_is_the_gateways_with_the_rendered_text_and_a_ddd_55_number(
    engine, gateway, org
):
    sim, _ = gateway
    org_id, session, _ = org
    client = new_client(engine, org_id, name="Maria", e164="+5555991234567")
    text_id = new_interaction(engine, org_id, client, metadados={"cashbackSaldoDisponivel": "7.5"})
    photo_id = new_interaction(engine, org_id, new_client(engine, org_id, name="Ana"), "promo_foto")
    assert send_all(engine, org_id).sent == 2
    by_id = {m["clientMessageId"]: m for m in sim.messages}
    text = by_id[str(text_id)]
    assert {k: text[k] for k in ("sessionId", "to", "content")} == {
        "sessionId": session,
        # Rio Grande do Sul's DDD 55 after the country code 55, not swallowed as a prefix.
        "to": "5555991234567",
        "content": {"type": "text", "text": "Olá Maria! Você tem R$ 7,50 de cashback."},
    }
    assert by_id[str(photo_id)]["content"] == {
        "type": "image",
        "text": "Hi Ana, see our offer.",
        "mediaUrl": "https://cdn.example.com/promo.jpg",
        "mediaFileName": "promo.jpg",
    }
    row = interaction(engine, text_id)
    assert (row.status_envio, row.whatsapp_message_id) == ("ENVIADO", text["jobId"])


def test_unavailable_gateway_is_retried_and_the_message_goes_once(engine, gateway, org):
    sim, _ = gateway
    org_id, _, _ = org
    clock = FakeClock()
    iid = new_interaction(engine, org_id, new_client(engine, org_id))
    sim.inject(Fault("http", status=503))
    assert send_all(engine, org_id, clock).retry_scheduled == 1
    row = interaction(engine, iid)
    assert (row.status_envio, row.erro_codigo, row.envio_tentativas) == ("PENDENTE", "HTTP_503", 1)
    clock.advance(minutes=2)
    assert send_all(engine, org_id, clock).sent == 1
    assert [m["clientMessageId"] for m in sim.messages] == [str(iid)]


def test_a_lost_answer_is_never_sent_again(engine, gateway, org):
    sim, _ = gateway
    org_id, _, _ = org
    clock = FakeClock()
    iid = new_interaction(engine, org_id, new_client(engine, org_id))
    sim.inject(Fault("timeout", seconds=2))
    assert send_all(engine, org_id, clock, timeout=0.5).unknown == 1
    clock.advance(hours=1)
    assert send_all(engine, org_id, clock).claimed == 0
    row = interaction(engine, iid)
    assert (row.status_envio, row.erro_codigo) == ("ENVIANDO", "RESULTADO_DESCONHECIDO")
    assert len(sim.messages) == 1


def test_refusals_are_final(engine, gateway, org, monkeypatch):
    sim, _ = gateway
    org_id, _, secret_env = org
    refused = new_interaction(engine, org_id, new_client(engine, org_id))
    sim.inject(Fault("error"))
    assert send_all(engine, org_id).failed == 1
    assert interaction(engine, refused).erro_codigo == "GATEWAY_RECUSOU"
    monkeypatch.setenv(secret_env, "not-the-secret")
    unauthorized = new_interaction(engine, org_id, new_client(engine, org_id))
    assert send_all(engine, org_id).failed == 1
    row = interaction(engine, unauthorized)
    assert row.erro_codigo == "HTTP_401" and "not-the-secret" not in (row.erro_envio or "")
    assert sim.messages == []


def test_a_missing_secret_stops_the_dispatch_and_leaves_the_message_queued(
    engine, gateway, org, monkeypatch
):
    sim, _ = gateway
    org_id, _, secret_env = org
    monkeypatch.delenv(secret_env)
    iid = new_interaction(engine, org_id, new_client(engine, org_id))
    with pytest.raises(GatewaySecretMissing, match=f"{org_id}.*{secret_env}"):
        send_all(engine, org_id)
    row = interaction(engine, iid)
    assert (row.status_envio, row.envio_tentativas) == ("PENDENTE", 0)
    assert sim.requests == []


def test_the_org_file_stores_the_secrets_variable_name_never_the_secret(engine, org):
    org_id, session, secret_env = org
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT * FROM whatsapp_connections WHERE organizacao_id = :o"), {"o": org_id}
        ).one()
    assert (row.tipo, row.gateway_sessao_id, row.gateway_segredo_env, row.token) == (
        "INTERNAL_GATEWAY",
        session,
        secret_env,
        None,
    )
    assert SECRET not in str(tuple(row))


def test_switching_an_organization_to_the_gateway_deactivates_its_cloud_number(engine):
    org_id = whatsapp_org(engine)
    with engine.connect() as conn:
        cloud = conn.scalar(
            sa.text("SELECT id FROM whatsapp_connections WHERE organizacao_id = :o"), {"o": org_id}
        )
    new_org(
        engine,
        "http://127.0.0.1:9/unused",
        org_id=org_id,
        whatsapp={
            "connection": {
                "type": "internal-gateway",
                "gateway_url": "https://wa-gateway.internal",
                "secret_env": "GW_SECRET",
                "session_id": "s1",
            }
        },
    )
    with engine.connect() as conn:
        active = conn.execute(
            sa.text(
                "SELECT id, tipo FROM whatsapp_connections WHERE organizacao_id = :o AND ativo"
            ),
            {"o": org_id},
        ).all()
    assert [r.tipo for r in active] == ["INTERNAL_GATEWAY"] and active[0].id != cloud
