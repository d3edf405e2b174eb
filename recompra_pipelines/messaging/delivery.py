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
           c.telefone_e164, k.inalcancavel_desde,
           ARRAY(SELECT w.whatsapp_telefone_id FROM whatsapp_connections w
                 WHERE w.organizacao_id = i.organizacao_id
                   AND w.whatsapp_telefone_id IS NOT NULL) AS numeros
    FROM interactions i
    JOIN clients c ON c.id = i.cliente_id
    LEFT JOIN whatsapp_contatos k
      ON k.organizacao_id = i.organizacao_id AND k.telefone_e164 = c.telefone_e164
    WHERE i.id = ANY(:ids) OR i.whatsapp_message_id = ANY(:wamids)
    ORDER BY i.id
    FOR UPDATE OF i
    """
)

# The interactions' new states, and their chat messages (the service hub's copy of a campaign
# message shows what its interaction shows), in one statement for any number of them.
_WRITE = sa.text(
    """
    WITH v AS (
        SELECT * FROM unnest(
            CAST(:ids AS uuid[]), CAST(:orgs AS text[]), CAST(:statuses AS text[]),
            CAST(:wamids AS text[]), CAST(:accepted AS timestamptz[]),
            CAST(:delivered AS timestamptz[]), CAST(:read AS timestamptz[]),
            CAST(:failed AS timestamptz[]), CAST(:error_codes AS text[]),
            CAST(:error_texts AS text[])
        ) AS v(id, org, status, wamid, accepted, delivered, read, failed, error_code, error_text)
    ), interaction AS (
        UPDATE interactions i SET status_envio = v.status, whatsapp_message_id = v.wamid,
            data_execucao = v.accepted, data_entrega = v.delivered, data_leitura = v.read,
            data_falha = v.failed, erro_codigo = v.error_code, erro_envio = v.error_text,
            envio_reservado_data = NULL, envio_proxima_tentativa_data = NULL,
            data_atualizacao = now()
        FROM v WHERE i.organizacao_id = v.org AND i.id = v.id
        RETURNING i.id
    )
    UPDATE chat_messages m SET status = v.status,
        whatsapp_message_id = COALESCE(m.whatsapp_message_id, v.wamid),
        data_entrega = v.delivered, data_leitura = v.read, data_falha = v.failed,
        erro_codigo = v.error_code, erro_descricao = v.error_text, data_atualizacao = now()
    FROM v WHERE m.organizacao_id = v.org AND m.interacao_id = v.id
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
            updates.append((row, after))
        phone = row.telefone_e164
        for event in its_events:
            if phone and event.error_code == str(UNDELIVERABLE_CODE):
                suppressed.append((row.organizacao_id, phone, event.at))
            if (
                row.inalcancavel_desde is not None
                and event.moves in (MetaStatus.DELIVERED, MetaStatus.READ)
                and event.at > row.inalcancavel_desde
            ):
                reachable.append((row.organizacao_id, phone, event.at))
    if updates:
        conn.execute(_WRITE, _columns(updates))
    # In key order, like every writer of whatsapp_contatos, so concurrent batches never
    # deadlock on it.
    contacts.suppress_unreachable(conn, sorted(suppressed))
    contacts.lift_unreachable(conn, sorted(reachable))
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


def _columns(updates: list[tuple[Any, DeliveryState]]) -> dict[str, list[Any]]:
    return {
        "ids": [row.id for row, _ in updates],
        "orgs": [row.organizacao_id for row, _ in updates],
        "statuses": [state.status for _, state in updates],
        "wamids": [state.wamid for _, state in updates],
        "accepted": [state.accepted_at for _, state in updates],
        "delivered": [state.delivered_at for _, state in updates],
        "read": [state.read_at for _, state in updates],
        "failed": [state.failed_at for _, state in updates],
        "error_codes": [state.error_code for _, state in updates],
        "error_texts": [state.error_text for _, state in updates],
    }
