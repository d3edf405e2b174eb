"""Send an organization's due interactions: claim, render, respect the limits, send, record.

Used by the immediate-dispatch asset at the end of each sync partition (immediate campaigns
only) and by the dispatcher job (everything due, scheduled blocks included, caught up to
``max_lateness``). The clock and the sleep are injectable so throughput limits are tested
without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from recompra_pipelines.db import outbox as due
from recompra_pipelines.deadlines import Deadline
from recompra_pipelines.domain.vocabulary import MessageStatus
from recompra_pipelines.domain.whatsapp_consent import MARKETING, consent_skip
from recompra_pipelines.domain.whatsapp_delivery import UNDELIVERABLE_CODE
from recompra_pipelines.domain.whatsapp_dispatch import (
    DEFAULT_MESSAGES_PER_SECOND,
    RECIPIENT_INTERVAL,
    Outcome,
    QuietHours,
    endpoint_failed,
    phone_number_interval,
    retry_delay,
)
from recompra_pipelines.domain.whatsapp_messages import (
    ClientFields,
    MessageRejected,
    RenderedMessage,
    TemplateSpec,
    render_message,
    variable_values,
)
from recompra_pipelines.messaging import chats, contacts, delivery, limits, outbox
from recompra_pipelines.messaging.breaker import Breakers, BreakerSettings
from recompra_pipelines.messaging.channels import WhatsAppChannels
from recompra_pipelines.messaging.cloud_api import SendResult
from recompra_pipelines.messaging.outbox import ClaimedSend

Clock = Callable[[], datetime]
Sleep = Callable[[float], None]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class DispatchSettings:
    messages_per_second: float = DEFAULT_MESSAGES_PER_SECOND
    recipient_interval: timedelta = RECIPIENT_INTERVAL
    max_attempts: int = 5
    backoff_base: timedelta = timedelta(seconds=30)
    backoff_cap: timedelta = timedelta(minutes=30)
    # A due message not sent within this allowance is skipped (ATRASADA), not sent late.
    max_lateness: timedelta = timedelta(hours=6)
    batch_size: int = 50
    # A claim never attempted this long after it was taken belongs to a dead dispatcher.
    claim_expiry: timedelta = timedelta(minutes=10)
    breaker: BreakerSettings = BreakerSettings()
    # How long one dispatch may send; the rest waits, due, for the next one (the sync's last
    # step must end well inside the 5-minute cadence).
    deadline: timedelta = timedelta(minutes=4)


@dataclass
class DispatchCounts:
    claimed: int = 0
    sent: int = 0
    retry_scheduled: int = 0
    deferred: int = 0  # recipient limit or quiet hours: later, no attempt used
    failed: int = 0
    skipped: int = 0
    unknown: int = 0
    late_skipped: int = 0
    # Claims of dead dispatchers: released unattempted, or attempted and now unknown.
    expired_claims_released: int = 0
    expired_claims_unknown: int = 0
    # Held back by a suspended number (circuit breaker): due when the suspension ends.
    suspended: int = 0
    # Claimed but left for the next dispatch when this one reached its deadline.
    past_deadline: int = 0


def dispatch_organization(
    engine: sa.Engine,
    api: WhatsAppChannels,
    org_id: str,
    *,
    immediate_only: bool = False,
    settings: DispatchSettings = DispatchSettings(),
    clock: Clock = utc_now,
    sleep: Sleep = time.sleep,
) -> DispatchCounts:
    """Send what is due now for one organization, until nothing due is left, the numbers'
    breakers open or the dispatch deadline passes."""
    counts = DispatchCounts()
    now = clock()
    deadline = Deadline.after(settings.deadline.total_seconds())
    with engine.begin() as conn:
        org = conn.execute(
            sa.text("SELECT fuso_horario, configuracao FROM organizations WHERE id = :org"),
            {"org": org_id},
        ).one()
        counts.expired_claims_released, counts.expired_claims_unknown = (
            outbox.release_expired_claims(conn, org_id, now, settings.claim_expiry)
        )
        counts.late_skipped = due.skip_late(conn, org_id, now, settings.max_lateness)
        counts.skipped += due.skip_inactive_campaigns(conn, org_id, now)
        quiet = QuietHours.parse(org.configuracao)
        quiet_until = quiet.ends_after(now, ZoneInfo(org.fuso_horario)) if quiet else None
        if quiet_until is not None:
            counts.deferred = due.defer_due(conn, org_id, now, quiet_until)
            return counts
        breakers = Breakers.load(conn, org_id, settings.breaker)
    limits.forget_idle_recipients(engine, org_id, now)
    while not breakers.all_open(clock()) and not deadline.expired():
        with engine.begin() as conn:
            batch = outbox.claim(
                conn, org_id, clock(), limit=settings.batch_size, immediate_only=immediate_only
            )
        if not batch:
            break
        counts.claimed += len(batch)
        _deliver_batch(engine, api, batch, settings, clock, sleep, counts, breakers, deadline)
    return counts


def _deliver_batch(engine, api, batch, settings, clock, sleep, counts, breakers, deadline):
    """Deliver each claimed send; a send whose number is suspended goes back to PENDENTE until
    the suspension ends, and past the deadline the rest goes back due now. If something
    unexpected breaks the loop, the sends whose request never started go back to PENDENTE
    instead of looking like unknown results."""
    for index, send in enumerate(batch):
        if deadline.expired():
            with engine.begin() as conn:
                for pending in batch[index:]:
                    outbox.mark_retry(conn, pending, None, None, clock(), attempted=False)
            counts.past_deadline += len(batch) - index
            return
        suspended_until = breakers.open_until(send.connection_id, clock())
        if suspended_until is not None:
            with engine.begin() as conn:
                outbox.mark_retry(conn, send, None, None, suspended_until, attempted=False)
            counts.suspended += 1
            continue
        started: list[bool] = []
        try:
            _deliver(engine, api, send, settings, clock, sleep, counts, started, breakers)
        except BaseException:
            untouched = batch[index + 1 :] if started else batch[index:]
            with engine.begin() as conn:
                for pending in untouched:
                    outbox.mark_retry(conn, pending, None, None, clock(), attempted=False)
            raise


def _deliver(
    engine: sa.Engine,
    api: WhatsAppChannels,
    send: ClaimedSend,
    settings: DispatchSettings,
    clock: Clock,
    sleep: Sleep,
    counts: DispatchCounts,
    started: list[bool],
    breakers: Breakers,
) -> None:
    """One claimed send: its message, the recipient's and the number's turn, the request
    (recorded as attempted just before it leaves), and what the answer means for the row."""
    rendered = _message(engine, send, clock(), counts)
    if rendered is None:
        return
    template, message = rendered
    prepared = api.prepare(send, template, message)
    if not _wait_for_turn(engine, send, message, settings, clock, sleep, counts):
        return
    with engine.begin() as conn:
        if not outbox.start_attempt(conn, send, clock()):
            return  # the claim expired and was released: another dispatch owns it now
        if send.chat_hub:
            chats.record_outgoing(conn, send, message, send.template.id, clock())
    started.append(True)
    result = api.send(send, prepared)
    with engine.begin() as conn:
        _record_result(conn, send, result, clock(), settings, breakers, counts)


def _message(
    engine: sa.Engine, send: ClaimedSend, now: datetime, counts: DispatchCounts
) -> tuple[TemplateSpec, RenderedMessage] | None:
    """The template and the message to send, or None when the interaction is skipped (setup,
    consent, a template variable without a value) or fails (a message Meta would refuse),
    recorded."""
    problem = _missing_setup(send) or _consent_problem(send, now)
    if problem is not None:
        with engine.begin() as conn:
            outbox.mark_skipped(conn, send, *problem)
        counts.skipped += 1
        return None
    client = ClientFields(
        name=send.client_name,
        phone=send.client_phone,
        email=send.client_email,
        segmentation=send.client_segmentation,
        favourite_product=send.client_favourite_product,
        favourite_group=send.client_favourite_group,
        cashback_lifetime_redeemed=send.client_cashback_redeemed,
    )
    template = TemplateSpec.from_row(send.template)
    try:
        message = render_message(
            template,
            telefone_e164=send.client_phone_e164,
            values=variable_values(client, send.context),
            callback_data=str(send.interaction_id),
        )
    except MessageRejected as rejected:
        with engine.begin() as conn:
            if rejected.skip:
                outbox.mark_skipped(conn, send, rejected.code, str(rejected))
                counts.skipped += 1
            else:
                outbox.mark_failed(conn, send, rejected.code, str(rejected), attempted=False)
                counts.failed += 1
        return None
    return template, message


def _wait_for_turn(
    engine: sa.Engine,
    send: ClaimedSend,
    message: RenderedMessage,
    settings: DispatchSettings,
    clock: Clock,
    sleep: Sleep,
    counts: DispatchCounts,
) -> bool:
    """Whether the send may go now: a recipient messaged too recently defers it (recorded,
    False); otherwise it waits here for the number's next slot of its throughput."""
    org_id, sender = send.organization_id, send.sender
    busy_until = limits.take_recipient_slot(
        engine, org_id, sender, message.to, clock(), settings.recipient_interval
    )
    if busy_until is not None:
        with engine.begin() as conn:
            outbox.mark_retry(conn, send, None, None, busy_until, attempted=False)
        counts.deferred += 1
        return False
    slot = limits.take_number_slot(
        engine, org_id, sender, clock(), phone_number_interval(settings.messages_per_second)
    )
    wait = (slot - clock()).total_seconds()
    if wait > 0:
        sleep(wait)
    return True


def _record_result(
    conn: sa.Connection,
    send: ClaimedSend,
    result: SendResult,
    now: datetime,
    settings: DispatchSettings,
    breakers: Breakers,
    counts: DispatchCounts,
) -> None:
    """The answer on the row (sent, unknown, retry later, failed), on the number's breaker,
    on the contact (an undeliverable number is suppressed) and on the chat hub."""
    if endpoint_failed(result.outcome, result.http_status):
        breakers.record_failure(conn, send.connection_id, now)
    else:
        breakers.record_answer(conn, send.connection_id)
    chat_status = None
    if result.outcome is Outcome.SENT:
        outbox.mark_sent(conn, send, result.wamid, now, send.template.id)
        # Statuses that came before this answer and could not be matched then.
        delivery.apply_pending(conn, [result.wamid])
        chat_status = MessageStatus.SENT
        counts.sent += 1
    elif result.outcome is Outcome.UNKNOWN:
        outbox.mark_unknown(conn, send, result.error_message or "", now)
        counts.unknown += 1
    elif result.outcome is Outcome.RETRY and send.attempts + 1 < settings.max_attempts:
        delay = retry_delay(
            send.attempts + 1,
            str(send.interaction_id),
            base=settings.backoff_base,
            cap=settings.backoff_cap,
        )
        outbox.mark_retry(
            conn, send, result.error_code, result.error_message, now + delay, attempted=True
        )
        counts.retry_scheduled += 1
    else:
        outbox.mark_failed(
            conn, send, result.error_code or "", result.error_message or "", attempted=True
        )
        if result.error_code == str(UNDELIVERABLE_CODE):
            contacts.suppress_unreachable(
                conn, [(send.organization_id, send.client_phone_e164, now)]
            )
        chat_status = MessageStatus.FAILED
        counts.failed += 1
    if send.chat_hub and chat_status is not None:
        chats.record_result(conn, send, chat_status, result.wamid)


def _consent_problem(send: ClaimedSend, now: datetime) -> tuple[str, str] | None:
    """Consent and reachability, checked again at send time: they may have changed since
    the interaction was created (an opt-out while it waited for its block)."""
    reason = consent_skip(
        marketing=send.template is not None and send.template.categoria == MARKETING,
        contact=send.contact,
        suppression=send.consent.unreachable_suppression,
        now=now,
    )
    return None if reason is None else (reason, reason.description)


def _missing_setup(send: ClaimedSend) -> tuple[str, str] | None:
    if send.template is None:
        return "SEM_TEMPLATE", "the interaction's campaign has no WhatsApp template"
    if send.template.status != "APPROVED":
        return "TEMPLATE_NAO_APROVADO", f"template status is {send.template.status}"
    if send.connection_id is None or (send.gateway is None and not send.token):
        return "SEM_CONEXAO", "the organization has no active WhatsApp connection"
    return None
