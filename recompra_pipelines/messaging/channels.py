"""Which way a claimed message leaves: Meta's Cloud API or the internal gateway.

The connection's type decides (not, as in the old sender, whether a token happens to be
present). Preparing a send builds its request and resolves its secret before anything is
reserved or sent, so a misconfigured connection stops the dispatch with a clear error while
the message is still untouched; sending then only makes the call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from recompra_pipelines.domain.whatsapp_dispatch import ConnectionType
from recompra_pipelines.domain.whatsapp_messages import (
    RenderedMessage,
    TemplateSpec,
    gateway_message,
)
from recompra_pipelines.messaging.cloud_api import CloudApiClient, Connection, SendResult
from recompra_pipelines.messaging.gateway import GatewayClient, gateway_secret
from recompra_pipelines.messaging.outbox import ClaimedSend


@dataclass(frozen=True)
class PreparedSend:
    connection_type: ConnectionType
    payload: dict[str, Any]
    cloud: Connection | None = None
    gateway_secret: str | None = field(default=None, repr=False)


class WhatsAppChannels:
    def __init__(self, cloud: CloudApiClient, gateway: GatewayClient | None = None) -> None:
        self.cloud = cloud
        self.gateway = gateway or GatewayClient()

    def close(self) -> None:
        self.cloud.close()
        self.gateway.close()

    def __enter__(self) -> WhatsAppChannels:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def prepare(
        self, send: ClaimedSend, template: TemplateSpec, message: RenderedMessage
    ) -> PreparedSend:
        if send.gateway is not None:
            return PreparedSend(
                ConnectionType.INTERNAL_GATEWAY,
                gateway_message(
                    template,
                    message,
                    session_id=send.gateway.session_id,
                    client_message_id=str(send.interaction_id),
                ),
                gateway_secret=gateway_secret(send.gateway, send.organization_id),
            )
        return PreparedSend(
            ConnectionType.CLOUD_API,
            message.payload,
            cloud=Connection(send.phone_number_id, send.token),
        )

    def send(self, send: ClaimedSend, prepared: PreparedSend) -> SendResult:
        if prepared.connection_type is ConnectionType.INTERNAL_GATEWAY:
            return self.gateway.send(send.gateway, prepared.gateway_secret, prepared.payload)
        return self.cloud.send(prepared.cloud, prepared.payload)
