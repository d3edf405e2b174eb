"""WhatsApp sending as a Dagster resource: where to send and how fast.

Connections are per organization (whatsapp_connections: a Cloud API number, or an internal
gateway session) and their secrets never pass through here. The base
URL and version come from ``WHATSAPP_GRAPH_URL`` / ``WHATSAPP_API_VERSION`` unless set, so
the demo and tests point the same code at the simulator.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from recompra_pipelines.messaging.breaker import BreakerSettings
from recompra_pipelines.messaging.channels import WhatsAppChannels
from recompra_pipelines.messaging.cloud_api import CloudApiClient
from recompra_pipelines.messaging.dispatcher import DispatchSettings
from recompra_pipelines.messaging.gateway import GatewayClient
from recompra_pipelines.settings import WHATSAPP_DISPATCH

DISPATCH_ENV = WHATSAPP_DISPATCH.env
_DEFAULTS = DispatchSettings()


class WhatsAppCloudApi(dg.ConfigurableResource):
    """Where messages go (the Cloud API endpoint; each internal-gateway organization's URL
    comes from its connection) and the sending policy (limits, retries, lateness)."""

    # False pauses every send (interactions wait PENDENTE); None reads
    # RECOMPRA_WHATSAPP_DISPATCH (off pauses), so an operator can stop sending at once.
    enabled: bool | None = None
    graph_url: str | None = None
    api_version: str | None = None
    timeout_seconds: float = 15.0
    connect_timeout_seconds: float = 5.0
    # Meta's default throughput per business number; lower it for coexistence numbers (20).
    messages_per_second: float = 80.0
    recipient_interval_seconds: float = 6.0
    max_attempts: int = 5
    backoff_base_seconds: float = 30.0
    backoff_cap_seconds: float = 1800.0
    # A scheduled block missed by more than this is skipped (ATRASADA), not sent late.
    max_lateness_minutes: int = 360
    batch_size: int = 50
    # A claim never attempted this long is a dead dispatcher's: released, sent by the next
    # dispatch. The whatsapp_no_stuck_sends check pages on claims older than this.
    claim_expiry_minutes: float = _DEFAULTS.claim_expiry.total_seconds() / 60
    # After this many sends in a row without an answer (timeout, connection, 5xx), the number
    # rests for the cooldown: the rest waits, due, instead of timing out one by one.
    breaker_failures: int = _DEFAULTS.breaker.failures
    breaker_cooldown_seconds: float = _DEFAULTS.breaker.cooldown.total_seconds()
    # How long one dispatch (the sync's last step, or a dispatcher run) may send; the rest
    # stays due for the next one.
    dispatch_deadline_seconds: float = _DEFAULTS.deadline.total_seconds()

    def is_enabled(self) -> bool:
        return WHATSAPP_DISPATCH.resolve(self.enabled)

    def client(self) -> WhatsAppChannels:
        """The Cloud API and the internal gateway; each organization's connection picks one."""
        return WhatsAppChannels(
            CloudApiClient(
                self.graph_url,
                self.api_version,
                timeout_seconds=self.timeout_seconds,
                connect_timeout_seconds=self.connect_timeout_seconds,
            ),
            GatewayClient(
                timeout_seconds=self.timeout_seconds,
                connect_timeout_seconds=self.connect_timeout_seconds,
            ),
        )

    def settings(self) -> DispatchSettings:
        return DispatchSettings(
            messages_per_second=self.messages_per_second,
            recipient_interval=timedelta(seconds=self.recipient_interval_seconds),
            max_attempts=self.max_attempts,
            backoff_base=timedelta(seconds=self.backoff_base_seconds),
            backoff_cap=timedelta(seconds=self.backoff_cap_seconds),
            max_lateness=timedelta(minutes=self.max_lateness_minutes),
            batch_size=self.batch_size,
            claim_expiry=self.claim_expiry(),
            breaker=BreakerSettings(
                failures=self.breaker_failures,
                cooldown=timedelta(seconds=self.breaker_cooldown_seconds),
            ),
            deadline=timedelta(seconds=self.dispatch_deadline_seconds),
        )

    def claim_expiry(self) -> timedelta:
        return timedelta(minutes=self.claim_expiry_minutes)
