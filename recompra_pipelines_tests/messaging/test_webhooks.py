"""The webhook receiver over real HTTP on loopback: signatures, storage, idempotence, order,
unknown sends and unknown message ids, tenant isolation, size limit and health."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recompra_pipelines.domain.whatsapp_delivery import (
    DeliveryState,
    MetaStatus,
    StatusEvent,
    advance,
)
from recompra_pipelines.messaging import delivery
from recompra_pipelines.messaging.outbox import UNKNOWN_RESULT
from recompra_pipelines.messaging.webhook_receiver import (
    SIGNATURE_HEADER,
    ReceiverSettings,
    create_app,
)
from recompra_pipelines.messaging.webhook_store import store_and_apply
from recompra_pipelines.simulators import whatsapp_webhooks as hooks
from recompra_pipelines.simulators.serving import serve_in_thread
from recompra_pipelines.simulators.whatsapp import Fault
from recompra_pipelines_tests.messaging.support import (
    APP_SECRET,
    PHONE_ID,
    VERIFY_TOKEN,
    dispatch,
    interaction,
    new_client,
    new_interaction,
    post,
    unique_phone_number_id,
    whatsapp_org,
)


def sent_message(engine, simulator, org_id: str):
    """A message really sent through the simulator: (interaction id, wamid, recipient)."""
    sim, url, clock = simulator
    iid = new_interaction(engine, org_id, new_client(engine, org_id))
    assert dispatch(engine, url, org_id, clock).sent == 1
    message = sim.messages[-1]
    return iid, message["wamid"], message["to"]


def count(engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.scalar(sa.text(f"SELECT count(*) FROM {table}"))


def test_verification_echoes_the_challenge_only_for_our_token(receiver):
    ok = httpx.get(
        receiver,
        params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "42"},
    )
    assert (ok.status_code, ok.text) == (200, "42")
    wrong = httpx.get(
        receiver,
        params={"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "42"},
    )
    assert wrong.status_code == 403 and "42" not in wrong.text


def test_a_bad_or_missing_signature_is_401_and_stores_nothing(engine, receiver, simulator):
    org_id = whatsapp_org(engine)
    iid, wamid, to = sent_message(engine, simulator, org_id)
    payload = hooks.webhook(
        PHONE_ID, statuses=[hooks.status(wamid, "read", simulator[2].now(), to)]
    )
    before = count(engine, "whatsapp_webhooks"), count(engine, "whatsapp_eventos")
    body = hooks.encode(payload)
    attempts = [
        post(receiver, payload, secret="not-the-app-secret"),
        httpx.post(receiver, content=body, headers={"Content-Type": "application/json"}),
        httpx.post(receiver, content=body, headers={SIGNATURE_HEADER: "sha256=" + "0" * 64}),
        # A valid signature of another body.
        httpx.post(receiver, content=body + b" ", headers=hooks.signed_headers(APP_SECRET, body)),
    ]
    assert [r.status_code for r in attempts] == [401] * 4
    assert (count(engine, "whatsapp_webhooks"), count(engine, "whatsapp_eventos")) == before
    assert interaction(engine, iid).status_envio == "ENVIADO"


def test_statuses_reach_the_interaction_with_their_times(engine, receiver, simulator):
    org_id = whatsapp_org(engine)
    iid, wamid, to = sent_message(engine, simulator, org_id)
    at = simulator[2].now().replace(microsecond=0)
    answer = post(
        receiver,
        hooks.webhook(
            PHONE_ID,
            statuses=[
                hooks.status(wamid, "delivered", at + timedelta(seconds=2), to),
                hooks.status(wamid, "read", at + timedelta(seconds=9), to),
            ],
        ),
    )
    assert answer.status_code == 200 and answer.json()["applied"] == 2
    row = interaction(engine, iid)
    assert row.status_envio == "LIDO"
    assert (row.data_entrega, row.data_leitura) == (
        at + timedelta(seconds=2),
        at + timedelta(seconds=9),
    )


def test_a_duplicate_delivery_is_applied_once(engine, receiver, simulator):
    org_id = whatsapp_org(engine)
    iid, wamid, to = sent_message(engine, simulator, org_id)
    payload = hooks.webhook(
        PHONE_ID, statuses=[hooks.status(wamid, "delivered", simulator[2].now(), to)]
    )
    assert post(receiver, payload).json()["applied"] == 1
    with engine.connect() as conn:
        version = conn.scalar(sa.text("SELECT xmin FROM interactions WHERE id = :i"), {"i": iid})
    # Meta's retry of the same body, and the same event inside another body.
    again = post(receiver, payload)
    other_body = hooks.webhook(
        PHONE_ID,
        statuses=[hooks.status(wamid, "delivered", simulator[2].now(), to)],
        display_phone_number="5534999990001",
    )
    third = post(receiver, other_body)
    assert (again.status_code, again.json()["applied"]) == (200, 0)
    assert (third.status_code, third.json()["applied"]) == (200, 0)
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT xmin FROM interactions WHERE id = :i"), {"i": iid}) == (
            version
        )
        assert (
            conn.scalar(
                sa.text("SELECT count(*) FROM whatsapp_eventos WHERE whatsapp_message_id = :w"),
                {"w": wamid},
            )
            == 1
        )


def test_out_of_order_statuses_end_at_the_furthest(engine, receiver, simulator):
    org_id = whatsapp_org(engine)
    iid, wamid, to = sent_message(engine, simulator, org_id)
    at = simulator[2].now().replace(microsecond=0)
    for state, seconds in (("read", 30), ("delivered", 5), ("sent", 1)):
        status = hooks.status(wamid, state, at + timedelta(seconds=seconds), to)
        assert post(receiver, hooks.webhook(PHONE_ID, statuses=[status])).status_code == 200
    # A second device's failure after the message was read changes nothing.
    failure = hooks.status(
        wamid, "failed", at + timedelta(seconds=40), to, error=(131000, "Something went wrong")
    )
    post(receiver, hooks.webhook(PHONE_ID, statuses=[failure]))
    row = interaction(engine, iid)
    assert (row.status_envio, row.erro_codigo) == ("LIDO", None)
    assert row.data_entrega == at + timedelta(seconds=5)
    assert row.data_leitura == at + timedelta(seconds=30)


def test_a_failed_status_records_metas_code_and_title(engine, receiver, simulator):
    org_id = whatsapp_org(engine)
    iid, wamid, to = sent_message(engine, simulator, org_id)
    at = simulator[2].now().replace(microsecond=0)
    failure = hooks.status(wamid, "failed", at, to, error=(131049, "Healthy ecosystem"))
    post(receiver, hooks.webhook(PHONE_ID, statuses=[failure]))
    post(receiver, hooks.webhook(PHONE_ID, statuses=[hooks.status(wamid, "sent", at, to)]))
    row = interaction(engine, iid)
    assert (row.status_envio, row.erro_codigo, row.erro_envio, row.data_falha) == (
        "FALHOU",
        "131049",
        "Healthy ecosystem",
        at,
    )


def test_a_status_resolves_a_send_whose_answer_was_lost(engine, receiver, simulator):
    sim, url, clock = simulator
    org_id = whatsapp_org(engine)
    iid = new_interaction(engine, org_id, new_client(engine, org_id))
    sim.inject(Fault("timeout", seconds=2))
    assert dispatch(engine, url, org_id, clock, timeout=0.5).unknown == 1
    row = interaction(engine, iid)
    assert (row.status_envio, row.erro_codigo, row.whatsapp_message_id) == (
        "ENVIANDO",
        UNKNOWN_RESULT,
        None,
    )
    message = sim.messages[-1]  # Meta did take it
    sent = hooks.status(message["wamid"], "sent", clock.now(), message["to"], callback=str(iid))
    assert post(receiver, hooks.webhook(PHONE_ID, statuses=[sent])).json()["applied"] == 1
    row = interaction(engine, iid)
    assert (row.status_envio, row.erro_codigo, row.whatsapp_message_id) == (
        "ENVIADO",
        None,
        message["wamid"],
    )
    assert row.data_execucao is not None and row.envio_reservado_data is None


def test_statuses_for_an_unknown_message_id_wait_until_the_send_is_recorded(
    engine, receiver, simulator
):
    """Meta's status can beat our own commit of the answer; without callback data it cannot be
    matched yet, so it is kept and applied when the dispatcher records the message id."""
    sim, url, clock = simulator
    org_id = whatsapp_org(engine)
    iid = new_interaction(engine, org_id, new_client(engine, org_id))
    sim.inject(Fault("slow", seconds=1.5))
    sender = threading.Thread(target=dispatch, args=(engine, url, org_id, clock))
    sender.start()
    deadline = time.monotonic() + 10
    while not sim.messages and time.monotonic() < deadline:
        time.sleep(0.02)
    message = sim.messages[-1]
    delivered = hooks.status(message["wamid"], "delivered", clock.now(), message["to"])
    answer = post(receiver, hooks.webhook(PHONE_ID, statuses=[delivered]))
    assert answer.json() == {"events": 1, "applied": 0, "pending": 1}
    sender.join()
    row = interaction(engine, iid)
    assert (row.status_envio, row.whatsapp_message_id) == ("ENTREGUE", message["wamid"])
    with engine.connect() as conn:
        assert conn.scalar(
            sa.text("SELECT organizacao_id FROM whatsapp_eventos WHERE whatsapp_message_id = :w"),
            {"w": message["wamid"]},
        ) == (org_id)


def test_a_status_from_another_organizations_number_changes_nothing(engine, receiver, simulator):
    org_id = whatsapp_org(engine)
    iid, wamid, to = sent_message(engine, simulator, org_id)
    stranger = unique_phone_number_id()
    read = hooks.status(wamid, "read", simulator[2].now(), to, callback=str(iid))
    assert post(receiver, hooks.webhook(stranger, statuses=[read])).json()["pending"] == 1
    assert interaction(engine, iid).status_envio == "ENVIADO"


def test_a_failure_while_applying_keeps_the_body_and_metas_retry_applies_it(
    engine, receiver, simulator, monkeypatch
):
    org_id = whatsapp_org(engine)
    iid, wamid, to = sent_message(engine, simulator, org_id)
    payload = hooks.webhook(
        PHONE_ID, statuses=[hooks.status(wamid, "read", simulator[2].now(), to)]
    )
    original = delivery.apply_statuses

    def broken(*args, **kwargs):
        raise sa.exc.OperationalError("UPDATE interactions", {}, Exception("deadlock detected"))

    monkeypatch.setattr(delivery, "apply_statuses", broken)
    assert post(receiver, payload).status_code == 500
    assert interaction(engine, iid).status_envio == "ENVIADO"
    with engine.connect() as conn:
        assert (
            conn.scalar(
                sa.text(
                    "SELECT count(*) FROM whatsapp_eventos WHERE whatsapp_message_id = :w"
                    " AND aplicado_em IS NULL"
                ),
                {"w": wamid},
            )
            == 1
        )
    monkeypatch.setattr(delivery, "apply_statuses", original)
    assert post(receiver, payload).json()["applied"] == 1
    assert interaction(engine, iid).status_envio == "LIDO"


def test_unreadable_bodies_are_kept_and_bounded(engine, receiver):
    stored = count(engine, "whatsapp_webhooks")
    body = b'{"object": "page", "entry": []}'
    answer = httpx.post(receiver, content=body, headers=hooks.signed_headers(APP_SECRET, body))
    assert answer.status_code == 200 and count(engine, "whatsapp_webhooks") == stored + 1
    with engine.connect() as conn:
        assert "not a WhatsApp Business Account webhook" in conn.scalar(
            sa.text("SELECT erro FROM whatsapp_webhooks ORDER BY recebido_em DESC LIMIT 1")
        )
    huge = b"{" + b" " * (3 * 1024 * 1024) + b"}"
    assert (
        httpx.post(receiver, content=huge, headers=hooks.signed_headers(APP_SECRET, huge))
    ).status_code == 413
    assert count(engine, "whatsapp_webhooks") == stored + 1


def test_health(engine, database_url):
    settings = ReceiverSettings(APP_SECRET, VERIFY_TOKEN, database_url)
    with serve_in_thread(create_app(settings, engine), name="webhook receiver") as base:
        assert httpx.get(base + "/healthz").json() == {"status": "ok"}
    down = ReceiverSettings(
        APP_SECRET, VERIFY_TOKEN, "postgresql://nobody@127.0.0.1:9/none", batch_workers=1
    )
    with serve_in_thread(create_app(down), name="webhook receiver") as base:
        assert httpx.get(base + "/healthz").status_code == 503


def test_a_batch_stores_each_body_once_and_one_bad_body_holds_up_no_other(
    engine, simulator, monkeypatch
):
    """What the receiver does with deliveries that arrive together (one transaction)."""
    org_id = whatsapp_org(engine)
    (iid, wamid, to), (other_iid, other_wamid, other_to) = (
        sent_message(engine, simulator, org_id) for _ in range(2)
    )
    at = simulator[2].now()
    read = hooks.encode(hooks.webhook(PHONE_ID, statuses=[hooks.status(wamid, "read", at, to)]))
    outcomes = store_and_apply(engine, [read, read])  # Meta's retry in the same batch
    assert [(o.applied, o.failure) for o in outcomes] == [(1, None), (0, None)]
    assert interaction(engine, iid).status_envio == "LIDO"

    original = delivery.apply_statuses

    def poisoned(conn, events):
        if any(e.wamid == other_wamid for e in events):
            raise ValueError("cannot apply")
        return original(conn, events)

    monkeypatch.setattr(delivery, "apply_statuses", poisoned)
    poison = hooks.encode(
        hooks.webhook(PHONE_ID, statuses=[hooks.status(other_wamid, "read", at, other_to)])
    )
    fine = hooks.encode(
        hooks.webhook(PHONE_ID, statuses=[hooks.status(wamid, "delivered", at, to)])
    )
    first, second = store_and_apply(engine, [poison, fine])
    assert (first.failure, second.failure, second.applied) == ("ValueError", None, 1)
    assert interaction(engine, other_iid).status_envio == "ENVIADO"
    with engine.connect() as conn:
        assert conn.scalar(
            sa.text(
                "SELECT aplicado_em IS NULL FROM whatsapp_eventos WHERE whatsapp_message_id = :w"
            ),
            {"w": other_wamid},
        )


def test_a_status_that_beats_the_answer_stands_and_the_send_is_still_recorded(
    engine, receiver, simulator
):
    """Meta may post the status before our commit of its answer: the status (matched by the
    callback data) wins, and the dispatcher's record adds what only it knows."""
    sim, url, clock = simulator
    org_id = whatsapp_org(engine)
    iid = new_interaction(engine, org_id, new_client(engine, org_id))
    sim.inject(Fault("slow", seconds=1.5))
    sender = threading.Thread(target=dispatch, args=(engine, url, org_id, clock))
    sender.start()
    deadline = time.monotonic() + 10
    while not sim.messages and time.monotonic() < deadline:
        time.sleep(0.02)
    message = sim.messages[-1]
    read = hooks.status(message["wamid"], "read", clock.now(), message["to"], callback=str(iid))
    assert post(receiver, hooks.webhook(PHONE_ID, statuses=[read])).json()["applied"] == 1
    assert interaction(engine, iid).status_envio == "LIDO"
    sender.join()
    row = interaction(engine, iid)
    assert (row.status_envio, row.whatsapp_message_id, row.envio_tentativas) == (
        "LIDO",
        message["wamid"],
        1,
    )
    assert row.data_envio is not None and row.envio_reservado_data is None


def test_the_service_hubs_chat_message_follows_its_interaction(engine, receiver, simulator):
    sim, url, clock = simulator
    org_id = whatsapp_org(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE organizations SET configuracao = configuracao"
                ' || \'{"recursos": {"hubAtendimentos": {"acesso": true}}}\' WHERE id = :o'
            ),
            {"o": org_id},
        )
    iid, wamid, to = sent_message(engine, simulator, org_id)
    at = clock.now().replace(microsecond=0)
    failed = hooks.status(wamid, "failed", at, to, error=(131049, "Healthy ecosystem"))
    post(receiver, hooks.webhook(PHONE_ID, statuses=[failed]))
    with engine.connect() as conn:
        chat = conn.execute(
            sa.text("SELECT * FROM chat_messages WHERE organizacao_id = :o AND interacao_id = :i"),
            {"o": org_id, "i": iid},
        ).one()
    assert (chat.status, chat.whatsapp_message_id, chat.erro_codigo, chat.data_falha) == (
        "FALHOU",
        wamid,
        "131049",
        at,
    )


STATES = ("sent", "delivered", "read", "failed")


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.tuples(st.sampled_from(STATES), st.integers(0, 120)), min_size=1, max_size=5),
    st.randoms(use_true_random=False),
)
def test_any_delivery_order_repetition_and_batching_stores_the_same_state(engine, reports, rng):
    """However Meta orders, repeats and groups the statuses of one message, the interaction
    ends in the state the pure merge gives for the distinct statuses, each stored once."""
    org_id = whatsapp_org(engine)
    iid = new_interaction(engine, org_id, new_client(engine, org_id))
    wamid, at = hooks.new_wamid(), datetime.now(UTC).replace(microsecond=0)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE interactions SET status_envio = 'ENVIADO', whatsapp_message_id = :w,"
                " data_execucao = :at WHERE id = :i"
            ),
            {"w": wamid, "at": at, "i": iid},
        )
    distinct = {state: seconds for state, seconds in reports}  # Meta: one per (wamid, status)
    bodies = [
        hooks.encode(
            hooks.webhook(
                PHONE_ID,
                statuses=[
                    hooks.status(
                        wamid,
                        state,
                        at + timedelta(seconds=seconds),
                        "5534999998888",
                        callback=str(iid),
                        error=(131049, "Healthy ecosystem") if state == "failed" else None,
                    )
                ],
            )
        )
        for state, seconds in distinct.items()
    ]
    deliveries = bodies * 2
    rng.shuffle(deliveries)
    while deliveries:
        size = rng.randint(1, len(deliveries))
        store_and_apply(engine, deliveries[:size])
        deliveries = deliveries[size:]
    expected = DeliveryState("ENVIADO", wamid, accepted_at=at)
    for state, seconds in distinct.items():
        error = ("131049", "Healthy ecosystem") if state == "failed" else (None, None)
        expected = advance(
            expected, StatusEvent(wamid, MetaStatus(state), at + timedelta(seconds=seconds), *error)
        )
    row = interaction(engine, iid)
    assert (
        row.status_envio,
        row.data_entrega,
        row.data_leitura,
        row.data_falha,
        row.erro_codigo,
    ) == (
        expected.status,
        expected.delivered_at,
        expected.read_at,
        expected.failed_at,
        expected.error_code,
    )
    with engine.connect() as conn:
        assert conn.scalar(
            sa.text(
                "SELECT count(*) FROM whatsapp_eventos WHERE whatsapp_message_id = :w"
                " AND aplicado_em IS NOT NULL"
            ),
            {"w": wamid},
        ) == len(distinct)
