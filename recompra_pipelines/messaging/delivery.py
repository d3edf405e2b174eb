"""Status webhooks → the interaction and its chat message (domain.whatsapp_delivery merges).

A status finds its interaction by our id in ``biz_opaque_callback_data`` or by the message id
WhatsApp returned, and only within organizations that own the business number the status
came from (a status for another organization's number changes nothing of ours). A status
whose interaction is not found stays pending and is applied by ``apply_pending`` once the
dispatcher records that message id.

The interaction rows are locked in id order, so two deliveries about the same messages apply
one after the other and never deadlock; each merges into what the other wrote.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from recompra_pipelines.domain.whatsapp_delivery import (
    UNDELIVERABLE_CODE,
    DeliveryState,
    MetaStatus,
    StatusEvent,
    advance,
)
from recompra_pipelines.messaging import contacts

_STATUSES = {s.value: s for s in MetaStatus}


@dataclass(frozen=True)
class StoredStatus:
    """A status event as stored in whatsapp_eventos."""

    event_id: UUID
    phone_number_id: str
    wamid: str
    status: str
    interaction_id: UUID | None
    at: datetime
    error_code: str | None
    error_title: str | None

    @property
    def moves(self) -> MetaStatus | None:
        return _STATUSES.get(self.status)


_TARGETS = sa.text(
    """
    SELECT i.id, i.organizacao_id, i.status_envio, i.whatsapp_message_id, i.data_execucao,
           i.data_entrega, i.data_leitura, i.data_falha, i.erro_codigo, i.erro_envio,
           c.telefone_e164,
           ARRAY(SELECT w.whatsapp_telefone_id FROM whatsapp_connections w
                 WHERE w.organizacao_id = i.organizacao_id
                   AND w.whatsapp_telefone_id IS NOT NULL) AS numeros
    FROM interactions i JOIN clients c ON c.id = i.cliente_id
    WHERE i.id = ANY(:ids) OR i.whatsapp_message_id = ANY(:wamids)
    ORDER BY i.id
    FOR UPDATE OF i
    """
)

_UPDATE_INTERACTION = sa.text(
    """
    UPDATE interactions SET status_envio = :status, whatsapp_message_id = :wamid,
        data_execucao = :accepted_at, data_entrega = :delivered_at, data_leitura = :read_at,
        data_falha = :failed_at, erro_codigo = :error_code, erro_envio = :error_text,
        envio_reservado_data = NULL, envio_proxima_tentativa_data = NULL,
        data_atualizacao = now()
    WHERE organizacao_id = :org AND id = :id
    """
)

# The service hub's copy of a campaign message shows what its interaction shows.
_UPDATE_CHAT_MESSAGE = sa.text(
    """
    UPDATE chat_messages SET status = :status,
        whatsapp_message_id = COALESCE(whatsapp_message_id, :wamid),
        data_entrega = :delivered_at, data_leitura = :read_at, data_falha = :failed_at,
        erro_codigo = :error_code, erro_descricao = :error_text, data_atualizacao = now()
    WHERE organizacao_id = :org AND interacao_id = :id
    """
)


def apply_statuses(conn: sa.Connection, events: Sequence[StoredStatus]) -> dict[UUID, str | None]:
    """Merge the statuses into their interactions; returns {event id: organization} for each
    event that is done with (applied, or a status that moves nothing). The others wait."""
    done: dict[UUID, str | None] = {e.event_id: None for e in events if e.moves is None}
    moving = [e for e in events if e.moves is not None]
    if not moving:
        return done
    rows = conn.execute(
        _TARGETS,
        {
            "ids": sorted({e.interaction_id for e in moving if e.interaction_id}),
            "wamids": sorted({e.wamid for e in moving}),
        },
    ).all()
    by_id = {row.id: row for row in rows}
    by_wamid = {row.whatsapp_message_id: row for row in rows if row.whatsapp_message_id}
    matched: dict[UUID, list[StoredStatus]] = {}
    for event in moving:
        row = _target(event, by_id, by_wamid)
        if row is not None:
            matched.setdefault(row.id, []).append(event)
            done[event.event_id] = row.organizacao_id
    updates, suppressed, reachable = [], [], []
    for interaction_id, its_events in matched.items():
        row = by_id[interaction_id]
        before = _state(row)
        after = fold(before, its_events)
        if after != before:
            updates.append(_parameters(row, after))
        phone = row.telefone_e164
        for event in its_events:
            if phone and event.error_code == str(UNDELIVERABLE_CODE):
                suppressed.append((row.organizacao_id, phone, event.at))
            if phone and event.moves in (MetaStatus.DELIVERED, MetaStatus.READ):
                reachable.append((row.organizacao_id, phone, event.at))
    if updates:
        conn.execute(_UPDATE_INTERACTION, updates)
        conn.execute(_UPDATE_CHAT_MESSAGE, updates)
    contacts.suppress_unreachable(conn, suppressed)
    contacts.lift_unreachable(conn, reachable)
    return done


def fold(state: DeliveryState, events: Iterable[StoredStatus]) -> DeliveryState:
    for event in events:
        state = advance(
            state,
            StatusEvent(event.wamid, event.moves, event.at, event.error_code, event.error_title),
        )
    return state


def apply_pending(conn: sa.Connection, wamids: Sequence[str]) -> int:
    """Apply the stored statuses of these message ids that arrived before the id was known
    (the dispatcher calls this when it records a send). Returns how many were applied."""
    rows = conn.execute(
        sa.text(
            """
            SELECT id, whatsapp_telefone_id, whatsapp_message_id, status, interacao_id,
                   evento_data, erro_codigo, erro_titulo
            FROM whatsapp_eventos
            WHERE whatsapp_message_id = ANY(:wamids) AND aplicado_em IS NULL AND tipo = 'STATUS'
            ORDER BY id FOR UPDATE
            """
        ),
        {"wamids": list(wamids)},
    ).all()
    if not rows:
        return 0
    done = apply_statuses(conn, [stored_status(row) for row in rows])
    mark_applied(conn, done)
    return len(done)


def stored_status(row: Any) -> StoredStatus:
    return StoredStatus(
        event_id=row.id,
        phone_number_id=row.whatsapp_telefone_id,
        wamid=row.whatsapp_message_id,
        status=row.status,
        interaction_id=row.interacao_id,
        at=row.evento_data,
        error_code=row.erro_codigo,
        error_title=row.erro_titulo,
    )


def mark_applied(conn: sa.Connection, done: dict[UUID, str | None]) -> None:
    if not done:
        return
    conn.execute(
        sa.text(
            """
            UPDATE whatsapp_eventos e SET aplicado_em = now(), organizacao_id = u.org
            FROM unnest(CAST(:ids AS uuid[]), CAST(:orgs AS text[])) AS u(id, org)
            WHERE e.id = u.id
            """
        ),
        {"ids": list(done), "orgs": list(done.values())},
    )


def _target(event: StoredStatus, by_id: dict, by_wamid: dict) -> Any:
    """The interaction the status is about, owned by the number it came from."""
    for row in (by_id.get(event.interaction_id), by_wamid.get(event.wamid)):
        if row is not None and event.phone_number_id in row.numeros:
            return row
    return None


def _state(row: Any) -> DeliveryState:
    return DeliveryState(
        status=row.status_envio,
        wamid=row.whatsapp_message_id,
        accepted_at=row.data_execucao,
        delivered_at=row.data_entrega,
        read_at=row.data_leitura,
        failed_at=row.data_falha,
        error_code=row.erro_codigo,
        error_text=row.erro_envio,
    )


def _parameters(row: Any, state: DeliveryState) -> dict[str, Any]:
    return {
        "org": row.organizacao_id,
        "id": row.id,
        "status": state.status,
        "wamid": state.wamid,
        "accepted_at": state.accepted_at,
        "delivered_at": state.delivered_at,
        "read_at": state.read_at,
        "failed_at": state.failed_at,
        "error_code": state.error_code,
        "error_text": state.error_text,
    }
