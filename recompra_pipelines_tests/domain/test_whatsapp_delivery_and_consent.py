"""Pure rules: merging status webhooks, consent keywords, wa_id phones, payload reading."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from recompra_pipelines.domain.whatsapp_consent import (
    ConsentAction,
    ConsentSettings,
    ContactState,
    consent_skip,
    phone_from_wa_id,
)
from recompra_pipelines.domain.whatsapp_delivery import (
    RANK,
    DeliveryState,
    MetaStatus,
    StatusEvent,
    advance,
)
from recompra_pipelines.messaging.webhook_payload import parse_webhook
from recompra_pipelines.simulators import whatsapp_webhooks as hooks

T0 = datetime(2026, 11, 28, 12, tzinfo=UTC)

events = st.builds(
    StatusEvent,
    wamid=st.just("wamid.A"),
    status=st.sampled_from(list(MetaStatus)),
    at=st.integers(0, 600).map(lambda s: T0 + timedelta(seconds=s)),
    error_code=st.sampled_from([None, "131026", "131049"]),
    error_title=st.sampled_from([None, "Message undeliverable", "Healthy ecosystem"]),
)
starts = st.sampled_from(
    [
        DeliveryState("ENVIADO", "wamid.A", accepted_at=T0),
        DeliveryState("ENVIANDO", None, error_code="RESULTADO_DESCONHECIDO"),
        DeliveryState("PENDENTE", None, error_code="HTTP_503"),
    ]
)


def fold(state: DeliveryState, sequence) -> DeliveryState:
    for event in sequence:
        state = advance(state, event)
    return state


@given(starts, st.lists(events, min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_any_order_and_any_repetition_end_in_the_same_state(start, sequence, rng):
    final = fold(start, sequence)
    shuffled = list(sequence) * 2
    rng.shuffle(shuffled)
    assert fold(start, shuffled) == final
    assert final.rank == max(RANK[s] for s in [*(_status(e) for e in sequence)])
    assert fold(final, sequence) == final  # applying again changes nothing


def _status(event: StatusEvent) -> str:
    return {"sent": "ENVIADO", "delivered": "ENTREGUE", "read": "LIDO", "failed": "FALHOU"}[
        event.status
    ]


def test_read_implies_delivered_and_an_error_only_stays_on_a_failure():
    start = DeliveryState("ENVIANDO", None, error_code="RESULTADO_DESCONHECIDO")
    read = advance(start, StatusEvent("wamid.B", MetaStatus.READ, T0))
    assert (read.status, read.delivered_at, read.read_at, read.error_code) == (
        "LIDO",
        T0,
        T0,
        None,
    )
    failed = advance(start, StatusEvent("wamid.B", MetaStatus.FAILED, T0, "131026", "Undeliv."))
    assert (failed.status, failed.error_code, failed.error_text, failed.wamid) == (
        "FALHOU",
        "131026",
        "Undeliv.",
        "wamid.B",
    )
    later_delivered = advance(failed, StatusEvent("wamid.B", MetaStatus.DELIVERED, T0))
    assert (later_delivered.status, later_delivered.error_code) == ("ENTREGUE", None)


def test_opt_out_and_opt_in_keywords_are_whole_messages():
    settings = ConsentSettings()
    assert settings.match(["  Parar!! "]).action is ConsentAction.OPT_OUT
    assert settings.match(["parar promoções"]).action is ConsentAction.OPT_OUT
    assert settings.match(["Quero parar de receber"]) is None
    assert settings.match(["voltar 🙂"]).action is ConsentAction.OPT_IN
    assert settings.match([]) is None
    custom = ConsentSettings.parse(
        {"whatsapp": {"consentimento": {"palavras_descadastro": ["CHEGA"]}}}
    )
    assert custom.match(["chega"]).keyword == "CHEGA"
    assert custom.match(["PARAR"]) is None
    assert custom.unreachable_suppression == ConsentSettings().unreachable_suppression


def test_consent_skips_marketing_only_and_suppression_expires():
    now = T0
    out = ContactState(opted_out=True)
    assert consent_skip(marketing=True, contact=out, suppression=timedelta(0), now=now) == (
        "OPT_OUT"
    )
    assert consent_skip(marketing=False, contact=out, suppression=timedelta(0), now=now) is None
    gone = ContactState(unreachable_since=now - timedelta(days=3))
    assert consent_skip(marketing=False, contact=gone, suppression=timedelta(days=30), now=now) == (
        "NUMERO_INALCANCAVEL"
    )
    assert consent_skip(marketing=True, contact=gone, suppression=timedelta(days=2), now=now) is (
        None
    )


def test_wa_ids_without_the_ninth_digit_are_the_clients_phone():
    assert phone_from_wa_id("553499998888") == "+5534999998888"
    assert phone_from_wa_id("5534999998888") == "+5534999998888"
    # DDD 55 (Rio Grande do Sul) is not mistaken for the country code.
    assert phone_from_wa_id("555599998888") == "+5555999998888"
    assert phone_from_wa_id("16505551234") == "+16505551234"
    assert phone_from_wa_id("US.13491208655302741918") is None  # a business-scoped user id


def test_a_payload_is_read_into_keyed_events_and_bad_parts_are_named():
    iid = uuid4()
    payload = hooks.webhook(
        "104857600000001",
        statuses=[
            hooks.status("wamid.X", "delivered", T0, "5534999998888", callback=str(iid)),
            {"status": "read", "timestamp": "1"},
            hooks.status("wamid.Y", "sent", T0, "5534999998888", callback="campanha-externa"),
        ],
        messages=[hooks.text_message("553499998888", "PARAR", T0, wamid="wamid.in")],
    )
    parsed = parse_webhook(payload)
    assert [(e.key, e.interaction_id, e.at) for e in parsed.events] == [
        ("status:wamid.X:delivered", iid, T0),
        ("status:wamid.Y:sent", None, T0),
        ("mensagem:wamid.in", None, T0),
    ]
    assert parsed.problems == ["entry[0].changes[0].value.statuses[1].id: missing"]
    assert parse_webhook([1]).problems == [
        "object: not a WhatsApp Business Account webhook ('list')"
    ]
