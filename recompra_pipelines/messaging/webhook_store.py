"""Storing a verified webhook body and applying its events, in one transaction.

The body is stored first, byte for byte, and its events next (each once, by key); then the
events not applied yet are applied inside a savepoint. If applying fails, the savepoint is
rolled back and the stored body and events are still committed: nothing Meta sent is lost,
and the receiver answers 500 so Meta delivers the body again, which finds its events stored
and pending and applies them. A body seen before (Meta's retry of an acknowledged delivery)
stores nothing new, and its events, already applied, are not applied twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from psycopg.types.json import Jsonb

from recompra_pipelines import json_codec
from recompra_pipelines.domain.whatsapp_delivery import WebhookEventKind
from recompra_pipelines.messaging import delivery, inbound
from recompra_pipelines.messaging.webhook_payload import ParsedWebhook, parse_webhook

_STORE_BODY = sa.text(
    """
    INSERT INTO whatsapp_webhooks (corpo, corpo_sha256, eventos, erro)
    VALUES (:body, :sha256, :events, :problems)
    ON CONFLICT (corpo_sha256) DO NOTHING
    RETURNING id
    """
)

_STORE_EVENTS = sa.text(
    """
    INSERT INTO whatsapp_eventos (chave, tipo, webhook_id, whatsapp_telefone_id,
        whatsapp_message_id, status, interacao_id, telefone, evento_data, erro_codigo,
        erro_titulo, conteudo)
    VALUES (:key, :kind, :webhook, :number, :wamid, :status, :interaction, :wa_id, :at,
        :error_code, :error_title, :content)
    ON CONFLICT (chave) DO NOTHING
    """
)

_PENDING = sa.text(
    """
    SELECT id, tipo, whatsapp_telefone_id, whatsapp_message_id, status, interacao_id, telefone,
           evento_data, erro_codigo, erro_titulo, conteudo
    FROM whatsapp_eventos WHERE chave = ANY(:keys) AND aplicado_em IS NULL
    ORDER BY id FOR UPDATE
    """
)


class ApplyFailed(RuntimeError):
    """The body and its events were stored, applying them failed (ask Meta to retry)."""


@dataclass
class WebhookOutcome:
    duplicate: bool = False  # this exact body was stored before
    events: int = 0  # events in the body
    new_events: int = 0  # of them, seen for the first time
    applied: int = 0
    pending: int = 0  # stored, waiting for their message or number to be known
    problems: list[str] = field(default_factory=list)  # unreadable parts, path: reason
    inbound: inbound.InboundCounts = field(default_factory=inbound.InboundCounts)


def store_and_apply(engine: sa.Engine, body: bytes) -> WebhookOutcome:
    """Store a body whose signature was verified, then apply what it says."""
    parsed = _parse(body)
    outcome = WebhookOutcome(events=len(parsed.events), problems=parsed.problems)
    failure: Exception | None = None
    with engine.begin() as conn:
        webhook_id = conn.execute(
            _STORE_BODY,
            {
                "body": body,
                "sha256": hashlib.sha256(body).hexdigest(),
                "events": len(parsed.events),
                "problems": "; ".join(parsed.problems) or None,
            },
        ).scalar_one_or_none()
        outcome.duplicate = webhook_id is None
        if webhook_id is not None and parsed.events:
            outcome.new_events = conn.execute(
                _STORE_EVENTS, [_event_row(webhook_id, e) for e in parsed.events]
            ).rowcount
        if parsed.events:
            try:
                with conn.begin_nested():
                    _apply(conn, [e.key for e in parsed.events], outcome)
            except Exception as error:  # the savepoint is gone; the stored body must commit
                failure = error
    if failure is not None:
        raise ApplyFailed(f"{type(failure).__name__} while applying webhook events") from failure
    return outcome


def _apply(conn: sa.Connection, keys: list[str], outcome: WebhookOutcome) -> None:
    rows = conn.execute(_PENDING, {"keys": keys}).all()
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
    done.update(inbound.apply_messages(conn, messages, outcome.inbound))
    delivery.mark_applied(conn, done)
    outcome.applied = len(done)
    outcome.pending = len(rows) - len(done)


def _parse(body: bytes) -> ParsedWebhook:
    try:
        payload = json_codec.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json_codec.JSONDecodeError) as error:
        return ParsedWebhook([], [f"body: not JSON ({error})"])
    return parse_webhook(payload)


def _event_row(webhook_id: Any, event: Any) -> dict[str, Any]:
    return {
        "key": event.key,
        "kind": event.kind.value,
        "webhook": webhook_id,
        "number": event.phone_number_id,
        "wamid": event.wamid,
        "status": event.status,
        "interaction": event.interaction_id,
        "wa_id": event.wa_id,
        "at": event.at,
        "error_code": event.error_code,
        "error_title": event.error_title,
        "content": Jsonb(event.content),
    }
