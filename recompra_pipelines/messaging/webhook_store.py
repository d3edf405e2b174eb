"""Storing verified webhook bodies and applying their events, a batch per transaction.

The receiver hands over the deliveries that arrived together (one, or dozens in a burst):
each body is stored byte for byte with its events (each event once, by key), and the events
not applied yet are applied, all in one transaction — so a burst costs a few statements and
one commit per batch instead of per delivery. A body seen before (Meta's retry of an
acknowledged delivery) stores nothing new, and its events, applied already, are not applied
again.

If the batch fails, it is rolled back and its deliveries are taken one by one, so one body
that cannot be applied holds up no other. A single delivery that fails is rolled back and
stored again without applying: nothing Meta sent is lost, the receiver answers 500, and Meta
delivers the body again, which finds its events stored and pending and applies them.
(Storing first and applying in a savepoint would say the same with two more round trips on
every batch; failures are the exception.)

Two batches carrying the same new event at once: the second one's insert waits for the
first to commit and then leaves the event to it. Applying is idempotent anyway (statuses
merge, consent keeps the latest message, chat messages are unique), so an event applied twice
by a race changes nothing more.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from psycopg.types.json import Jsonb

from recompra_pipelines import json_codec
from recompra_pipelines.domain.whatsapp_delivery import WebhookEventKind
from recompra_pipelines.messaging import delivery, inbound
from recompra_pipelines.messaging.webhook_payload import ParsedWebhook, parse_webhook

_EVENT_COLUMNS = """id, chave, tipo, whatsapp_telefone_id, whatsapp_message_id, status,
    interacao_id, telefone, evento_data, erro_codigo, erro_titulo, conteudo"""

# One round trip: the bodies (once per content), their events (once per key), and back the
# events of these bodies still to apply — the ones just stored and those stored before but
# still pending (the last SELECT sees the table as it was before this statement).
_STORE = sa.text(
    f"""
    WITH body AS (
        INSERT INTO whatsapp_webhooks (corpo, corpo_sha256, eventos, erro)
        SELECT * FROM unnest(CAST(:bodies AS bytea[]), CAST(:hashes AS text[]),
                             CAST(:counts AS integer[]), CAST(:problems AS text[]))
        ON CONFLICT (corpo_sha256) DO NOTHING
        RETURNING id, corpo_sha256
    ), stored AS (
        INSERT INTO whatsapp_eventos (chave, tipo, webhook_id, whatsapp_telefone_id,
            whatsapp_message_id, status, interacao_id, telefone, evento_data, erro_codigo,
            erro_titulo, conteudo)
        SELECT e.chave, e.tipo, body.id, e.numero, e.wamid, e.status, e.interacao, e.telefone,
               e.momento, e.erro_codigo, e.erro_titulo, e.conteudo
        FROM unnest(
            CAST(:keys AS text[]), CAST(:kinds AS text[]), CAST(:numbers AS text[]),
            CAST(:wamids AS text[]), CAST(:statuses AS text[]), CAST(:interactions AS uuid[]),
            CAST(:wa_ids AS text[]), CAST(:times AS timestamptz[]),
            CAST(:error_codes AS text[]), CAST(:error_titles AS text[]),
            CAST(:contents AS jsonb[]), CAST(:event_hashes AS text[])
        ) AS e(chave, tipo, numero, wamid, status, interacao, telefone, momento, erro_codigo,
               erro_titulo, conteudo, corpo_sha256)
        JOIN body USING (corpo_sha256)
        ON CONFLICT (chave) DO NOTHING
        RETURNING {_EVENT_COLUMNS}
    )
    SELECT {_EVENT_COLUMNS}, true AS novo FROM stored
    UNION ALL
    SELECT {_EVENT_COLUMNS}, false FROM whatsapp_eventos
    WHERE chave = ANY(CAST(:keys AS text[])) AND aplicado_em IS NULL
    """
)


@dataclass
class WebhookOutcome:
    events: int = 0  # events in the body
    new_events: int = 0  # of them, seen for the first time
    applied: int = 0
    pending: int = 0  # stored, waiting for their message or number to be known
    problems: list[str] = field(default_factory=list)  # unreadable parts, path: reason
    # Set when the body was stored but applying it failed (the error's class).
    failure: str | None = None


@dataclass(frozen=True)
class _Delivery:
    body: bytes
    sha256: str
    parsed: ParsedWebhook


def store_and_apply(engine: sa.Engine, bodies: Sequence[bytes]) -> list[WebhookOutcome]:
    """Store bodies whose signatures were verified and apply what they say; one outcome per
    body, in order. Raises only when nothing could be stored (the database is unreachable)."""
    deliveries = [_delivery(body) for body in bodies]
    try:
        with engine.begin() as conn:
            rows = conn.execute(_STORE, _parameters(deliveries)).all()
            done = _apply(conn, rows)
        return _outcomes(deliveries, rows, done)
    except Exception as error:  # rolled back; nothing of the batch is half-written
        failure = error
    if len(deliveries) > 1:
        return [outcome for d in deliveries for outcome in store_and_apply(engine, [d.body])]
    # If the database itself is unreachable this raises too, and nothing was stored.
    with engine.begin() as conn:
        conn.execute(_STORE, _parameters(deliveries))
    (outcome,) = _outcomes(deliveries, [], {})
    outcome.failure = type(failure).__name__
    return [outcome]


def _apply(conn: sa.Connection, rows: Sequence[Any]) -> dict[Any, str | None]:
    statuses = [delivery.stored_status(r) for r in rows if r.tipo == WebhookEventKind.STATUS]
    messages = [
        inbound.StoredMessage(
            event_id=r.id,
            phone_number_id=r.whatsapp_telefone_id,
            wamid=r.whatsapp_message_id,
            wa_id=r.telefone,
            at=r.evento_data,
            content=r.conteudo,
        )
        for r in rows
        if r.tipo == WebhookEventKind.MESSAGE
    ]
    done = delivery.apply_statuses(conn, statuses)
    done.update(inbound.apply_messages(conn, messages))
    delivery.mark_applied(conn, done)
    return done


def _outcomes(
    deliveries: Sequence[_Delivery], rows: Sequence[Any], done: dict[Any, str | None]
) -> list[WebhookOutcome]:
    """Each body's share of the batch: an event stored or applied counts for the first body
    of the batch that carried it."""
    rows_by_key = {row.chave: row for row in rows}
    outcomes = []
    for d in deliveries:
        outcome = WebhookOutcome(events=len(d.parsed.events), problems=d.parsed.problems)
        for event in d.parsed.events:
            row = rows_by_key.pop(event.key, None)
            if row is None:
                continue
            outcome.new_events += row.novo
            if row.id in done:
                outcome.applied += 1
            else:
                outcome.pending += 1
        outcomes.append(outcome)
    return outcomes


def _delivery(body: bytes) -> _Delivery:
    try:
        parsed = parse_webhook(json_codec.loads(body.decode("utf-8")))
    except (UnicodeDecodeError, json_codec.JSONDecodeError) as error:
        parsed = ParsedWebhook([], [f"body: not JSON ({error})"])
    return _Delivery(body, hashlib.sha256(body).hexdigest(), parsed)


def _parameters(deliveries: Sequence[_Delivery]) -> dict[str, Any]:
    events = [(d.sha256, e) for d in deliveries for e in d.parsed.events]
    return {
        "bodies": [d.body for d in deliveries],
        "hashes": [d.sha256 for d in deliveries],
        "counts": [len(d.parsed.events) for d in deliveries],
        "problems": ["; ".join(d.parsed.problems) or None for d in deliveries],
        "keys": [e.key for _, e in events],
        "kinds": [e.kind.value for _, e in events],
        "numbers": [e.phone_number_id for _, e in events],
        "wamids": [e.wamid for _, e in events],
        "statuses": [e.status for _, e in events],
        "interactions": [e.interaction_id for _, e in events],
        "wa_ids": [e.wa_id for _, e in events],
        "times": [e.at for _, e in events],
        "error_codes": [e.error_code for _, e in events],
        "error_titles": [e.error_title for _, e in events],
        "contents": [Jsonb(e.content) for _, e in events],
        "event_hashes": [sha for sha, _ in events],
    }
