"""The service hub's record of a campaign message (docs/whatsapp.md#the-service-hubs-chats), for
organizations with the hub on (``configuracao.recursos.hubAtendimentos.acesso``).

The chat message is written PENDENTE before the send and then follows the interaction
(ENVIADO with the wamid, or FALHOU; then the status webhooks, messaging.delivery); one message
per interaction (unique key), so a retry updates the same row. Unlike the old code the chat also gets its last-message fields.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import sqlalchemy as sa

from recompra_pipelines.domain.whatsapp_messages import RenderedMessage
from recompra_pipelines.messaging.outbox import ClaimedSend


def record_outgoing(
    conn: sa.Connection,
    send: ClaimedSend,
    message: RenderedMessage,
    template_id: UUID,
    now: datetime,
) -> None:
    chat_id = conn.execute(
        sa.text(
            """
            INSERT INTO chats AS ch (organizacao_id, whatsapp_conexao_id, whatsapp_telefone,
                cliente_id, ultima_mensagem_data, ultima_mensagem_conteudo_tipo,
                ultima_mensagem_conteudo_texto)
            VALUES (:org, :connection, :to, :client, :now, 'TEXTO', :text)
            ON CONFLICT (organizacao_id, whatsapp_conexao_id, whatsapp_telefone) DO UPDATE
            SET cliente_id = COALESCE(ch.cliente_id, EXCLUDED.cliente_id),
                ultima_mensagem_data = EXCLUDED.ultima_mensagem_data,
                ultima_mensagem_conteudo_tipo = 'TEXTO',
                ultima_mensagem_conteudo_texto = EXCLUDED.ultima_mensagem_conteudo_texto,
                data_atualizacao = now()
            RETURNING ch.id
            """
        ),
        {
            "org": send.organization_id,
            "connection": send.connection_id,
            "to": message.to,
            "client": send.client_id,
            "now": now,
            "text": message.text,
        },
    ).scalar_one()
    conn.execute(
        sa.text(
            """
            INSERT INTO chat_messages (organizacao_id, chat_id, interacao_id, autor_tipo,
                conteudo_tipo, conteudo_texto, whatsapp_template_id, status)
            VALUES (:org, :chat, :interaction, 'USUÁRIO', 'TEXTO', :text, :template, 'PENDENTE')
            ON CONFLICT (organizacao_id, interacao_id) DO NOTHING
            """
        ),
        {
            "org": send.organization_id,
            "chat": chat_id,
            "interaction": send.interaction_id,
            "text": message.text,
            "template": template_id,
        },
    )


def record_result(
    conn: sa.Connection, send: ClaimedSend, status: str, wamid: str | None = None
) -> None:
    conn.execute(
        sa.text(
            "UPDATE chat_messages SET status = :status, whatsapp_message_id = COALESCE(:wamid,"
            " whatsapp_message_id), data_atualizacao = now()"
            " WHERE organizacao_id = :org AND interacao_id = :interaction"
            # A status webhook that arrived before this answer already moved it on.
            " AND status = 'PENDENTE'"
        ),
        {
            "org": send.organization_id,
            "interaction": send.interaction_id,
            "status": status,
            "wamid": wamid,
        },
    )
