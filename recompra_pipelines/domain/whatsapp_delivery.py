"""What WhatsApp tells us about a message after it left: sent, delivered, read, failed.

Meta posts one status webhook per step, at least once, in no guaranteed order: a ``delivered``
can arrive after a ``read``, a ``failed`` after a ``delivered`` (a second device), and
``delivered`` is skipped altogether when the message is read at once. So a status is never
applied as "the new state": each one is merged into what is known, and the merge is
commutative, associative and idempotent (a maximum over ranks, a minimum over times). Any
order of any number of copies of the same statuses ends in the same state — the furthest the
message got — and the property tests hold the rule to that.

Ranks: ``read`` > ``delivered`` > ``failed`` > ``sent`` > not sent yet. A delivered message
that later reports a failure reached someone's phone, so it stays delivered (the failure is
kept with the event); a failure that arrives before its ``sent`` still wins over it.

Every send carries our interaction id in ``biz_opaque_callback_data``, which Meta echoes in
each status, so a status finds its interaction even when our own record of the send was lost
(the request timed out after leaving: ``RESULTADO_DESCONHECIDO``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from recompra_pipelines.domain.vocabulary import SendStatus

# Meta: "Message undeliverable" — not on WhatsApp, an old app, terms not accepted. Final for
# the message, and a reason not to try the number again for a while (domain.whatsapp_consent).
UNDELIVERABLE_CODE = 131026


class MetaStatus(StrEnum):
    """``statuses[].status`` values that move a message; others (``played``, ``deleted``,
    ``warning``) are stored with their event and change nothing."""

    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


class WebhookEventKind(StrEnum):
    """What one stored webhook event is (``whatsapp_eventos.tipo``)."""

    STATUS = "STATUS"  # a status of a message we sent
    MESSAGE = "MENSAGEM"  # a message a customer sent us


# interactions.status_envio (and chat_messages.status) a status moves a message to.
SENT = SendStatus.SENT
DELIVERED = SendStatus.DELIVERED
READ = SendStatus.READ
FAILED = SendStatus.FAILED
STATUS_FOR = {
    MetaStatus.SENT: SENT,
    MetaStatus.DELIVERED: DELIVERED,
    MetaStatus.READ: READ,
    MetaStatus.FAILED: FAILED,
}
# How far a message got. States before any answer (PENDENTE, ENVIANDO, IGNORADO, no status)
# rank 0, so a status resolves a send whose answer was lost or that was queued for a retry.
RANK = {SENT: 1, FAILED: 2, DELIVERED: 3, READ: 4}


def callback_data_for(interaction_id: UUID) -> str:
    """``biz_opaque_callback_data`` of a send: the interaction id, which Meta echoes back."""
    return str(interaction_id)


def interaction_from_callback(data: object) -> UUID | None:
    """The interaction a status belongs to, or None when the data is not one of ours."""
    if not isinstance(data, str):
        return None
    try:
        return UUID(data)
    except ValueError:
        return None


@dataclass(frozen=True)
class StatusEvent:
    """One ``statuses[]`` entry, reduced to what moves a message."""

    wamid: str
    status: MetaStatus
    at: datetime
    error_code: str | None = None  # failed: Meta's code, e.g. "131026"
    error_title: str | None = None


@dataclass(frozen=True)
class DeliveryState:
    """Where a sent message stands: the interaction's status and the times of each step."""

    status: str | None  # interactions.status_envio
    wamid: str | None = None
    accepted_at: datetime | None = None  # data_execucao: WhatsApp took the message
    delivered_at: datetime | None = None
    read_at: datetime | None = None
    failed_at: datetime | None = None
    error_code: str | None = None
    error_text: str | None = None

    @property
    def rank(self) -> int:
        return RANK.get(self.status or "", 0)


def advance(state: DeliveryState, event: StatusEvent) -> DeliveryState:
    """Merge one status into the state; the result never ranks below either of them.

    Times keep the earliest report of each step. ``read`` implies ``delivered`` (Meta skips
    ``delivered`` when both happen together), and every status implies WhatsApp accepted the
    message, so the attribution clock (``accepted_at``) starts at the earliest of them. An
    error is kept only while the message stands failed.
    """
    at = event.at
    status = STATUS_FOR[event.status]
    merged = replace(
        state,
        wamid=state.wamid or event.wamid,
        accepted_at=_earliest(state.accepted_at, at),
        delivered_at=(
            _earliest(state.delivered_at, at) if status in (DELIVERED, READ) else state.delivered_at
        ),
        read_at=_earliest(state.read_at, at) if status == READ else state.read_at,
        failed_at=_earliest(state.failed_at, at) if status == FAILED else state.failed_at,
    )
    if RANK[status] > state.rank:
        merged = replace(merged, status=status)
    if merged.status != FAILED:
        return replace(merged, error_code=None, error_text=None) if merged.rank else merged
    if status == FAILED and _first_failure(event, state):
        merged = replace(merged, error_code=event.error_code, error_text=event.error_title)
    return merged


def _first_failure(event: StatusEvent, state: DeliveryState) -> bool:
    """Of several failure reports the earliest tells why (ties broken by code and title), so
    the error kept does not depend on the order they arrive in. A failure recorded without a
    time (the send itself was refused) gives way to Meta's report."""
    if state.status != FAILED or state.failed_at is None:
        return True
    return (event.at, event.error_code or "", event.error_title or "") < (
        state.failed_at,
        state.error_code or "",
        state.error_text or "",
    )


def _earliest(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None or candidate < current else current
