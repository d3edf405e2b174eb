"""Messages customers send to an organization's number → consent, reachability, chats.

A message goes to every organization with an active connection for the number it was sent
to (normally one). Its text is checked against that organization's opt-out / opt-in keywords
(domain.whatsapp_consent); any message proves the number reachable, lifting an older 131026
suppression; and when the organization's service hub is on
(``configuracao.recursos.hubAtendimentos.acesso``) it is recorded as the customer's chat
message, in the same chat as the campaign messages sent to that number. A message to a number
no organization has stays pending.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from recompra_pipelines.domain.phones import telefone_base
from recompra_pipelines.domain.vocabulary import MessageStatus
from recompra_pipelines.domain.whatsapp_consent import ConsentSettings, phone_from_wa_id
from recompra_pipelines.domain.whatsapp_dispatch import ConnectionType
from recompra_pipelines.messaging import contacts
from recompra_pipelines.messaging.webhook_payload import content_type, message_texts

CUSTOMER = "CLIENTE"  # chat_messages.autor_tipo
RECEIVED = MessageStatus.DELIVERED  # chat_messages.status of a message that reached us

_OWNERS = sa.text(
    f"""
    SELECT w.id AS connection_id, w.organizacao_id, w.whatsapp_telefone_id, o.configuracao,
           COALESCE((o.configuracao #>> '{{recursos,hubAtendimentos,acesso}}')::boolean, false)
               AS chat_hub
    FROM whatsapp_connections w JOIN organizations o ON o.id = w.organizacao_id
    WHERE w.whatsapp_telefone_id = ANY(:numbers) AND w.ativo
      AND w.tipo = '{ConnectionType.CLOUD_API.value}'
    ORDER BY w.organizacao_id
    """
)

_CHAT = sa.text(
    """
    INSERT INTO chats AS ch (organizacao_id, whatsapp_conexao_id, whatsapp_telefone, cliente_id,
        ultima_mensagem_data, ultima_mensagem_conteudo_tipo, ultima_mensagem_conteudo_texto)
    VALUES (:org, :connection, :number, (SELECT c.id FROM clients c
            WHERE c.organizacao_id = :org AND c.telefone_base = :base),
        :at, :type, :text)
    ON CONFLICT (organizacao_id, whatsapp_conexao_id, whatsapp_telefone) DO UPDATE
    SET cliente_id = COALESCE(ch.cliente_id, EXCLUDED.cliente_id),
        ultima_mensagem_data = EXCLUDED.ultima_mensagem_data,
        ultima_mensagem_conteudo_tipo = EXCLUDED.ultima_mensagem_conteudo_tipo,
        ultima_mensagem_conteudo_texto = EXCLUDED.ultima_mensagem_conteudo_texto,
        data_atualizacao = now()
    WHERE ch.ultima_mensagem_data IS NULL
       OR ch.ultima_mensagem_data <= EXCLUDED.ultima_mensagem_data
    """
)

# The message's own time is its place in the conversation (Meta may deliver it late).
_CHAT_MESSAGE = sa.text(
    f"""
    INSERT INTO chat_messages (organizacao_id, chat_id, autor_tipo, conteudo_tipo,
        conteudo_texto, whatsapp_message_id, status, data_insercao)
    VALUES (:org, (SELECT id FROM chats WHERE organizacao_id = :org
                   AND whatsapp_conexao_id = :connection AND whatsapp_telefone = :number),
            '{CUSTOMER}', :type, :text, :wamid, '{RECEIVED}', :at)
    ON CONFLICT (organizacao_id, whatsapp_message_id)
        WHERE interacao_id IS NULL AND whatsapp_message_id IS NOT NULL
    DO NOTHING
    """
)


@dataclass(frozen=True)
class StoredMessage:
    """A customer's message as stored in whatsapp_eventos."""

    event_id: UUID
    phone_number_id: str
    wamid: str
    wa_id: str
    at: datetime
    content: dict[str, Any]


def apply_messages(
    conn: sa.Connection, messages: Sequence[StoredMessage]
) -> dict[UUID, str | None]:
    """Apply each message to the organizations that own its number; returns {event id:
    organization (None when several)} for the messages applied. The others wait.

    Messages are taken by number, customer and time, so two batches that touch the same
    contacts and chats lock them in the same order."""
    if not messages:
        return {}
    owners: dict[str, list[Any]] = {}
    for row in conn.execute(_OWNERS, {"numbers": sorted({m.phone_number_id for m in messages})}):
        owners.setdefault(row.whatsapp_telefone_id, []).append(row)
    done: dict[UUID, str | None] = {}
    for message in sorted(messages, key=lambda m: (m.phone_number_id, m.wa_id, m.at, m.wamid)):
        its_owners = owners.get(message.phone_number_id)
        if not its_owners:
            continue
        for owner in its_owners:
            _apply(conn, owner, message)
        done[message.event_id] = its_owners[0].organizacao_id if len(its_owners) == 1 else None
    return done


def _apply(conn: sa.Connection, owner: Any, message: StoredMessage) -> None:
    org_id = owner.organizacao_id
    phone = phone_from_wa_id(message.wa_id)
    if phone is None:
        return  # not a phone number: no consent or chat to attach it to (the event is kept)
    texts = message_texts(message.content)
    keyword = ConsentSettings.parse(owner.configuracao).match(texts)
    if keyword is not None:
        contacts.record_consent(
            conn, org_id, phone, keyword.action, message.at, message.wamid, keyword.keyword
        )
    contacts.lift_unreachable(conn, [(org_id, phone, message.at)])
    if not owner.chat_hub:
        return
    values = {
        "org": org_id,
        "connection": owner.connection_id,
        "number": phone.removeprefix("+"),
        "base": telefone_base(phone) or None,
        "at": message.at,
        "type": content_type(message.content),
        "text": "\n".join(texts) or None,
        "wamid": message.wamid,
    }
    conn.execute(_CHAT, values)
    conn.execute(_CHAT_MESSAGE, values)
