"""Alerts on campaign interactions, attribution and the WhatsApp outbox of one org x day.

All seven read the organization's interactions (and the day's sales and conversions, its
WhatsApp numbers), so they run as one step on one query after the run's last engagement step.
"""

from datetime import UTC, datetime

import dagster as dg
import sqlalchemy as sa

from recompra_pipelines.checks.queries import counts_metadata, selected
from recompra_pipelines.db.outbox import engagement_counts, pending_messages
from recompra_pipelines.domain.vocabulary import SkipReason
from recompra_pipelines.messaging.breaker import suspended_connections
from recompra_pipelines.partitions import org_day_of, org_day_partitions
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.resources.whatsapp import WhatsAppCloudApi

# A send whose answer was lost is resolved by its status webhook (biz_opaque_callback_data),
# which Meta posts within seconds of accepting a message; past this, no status is coming.
UNKNOWN_RESOLUTION_MINUTES = 15
# Due messages still unsent this long after they became due mean the dispatcher is not
# keeping up (or sending is paused).
UNSENT_AFTER_MINUTES = 30
FAILURE_RATE_WARN = 0.2
FAILURE_RATE_MIN_SENDS = 10

CANCELLED_WITHDRAWN = dg.AssetCheckSpec(
    "interactions_of_cancelled_sales_withdrawn",
    asset="campaign_interactions",
    partitions_def=org_day_partitions,
    description="ERROR when a cancelled (or vanished) sale of the day still has an unsent "
    f"interaction: its messages must be withdrawn (IGNORADO, {SkipReason.SALE_CANCELLED} or "
    f"{SkipReason.SALE_REMOVED}) before they go out.",
)
IMMEDIATE_SENT = dg.AssetCheckSpec(
    "immediate_interactions_sent",
    asset="campaign_interactions",
    partitions_def=org_day_partitions,
    description="WARN when immediate messages of the day's purchases are still unsent 30 "
    "minutes after they became due (quiet hours and retries move that time).",
)
CONVERSIONS_VALID = dg.AssetCheckSpec(
    "conversions_point_at_valid_sales",
    asset="sale_attribution",
    partitions_def=org_day_partitions,
    description="ERROR when a conversion credits a cancelled or invalid sale of the day.",
)
NO_STUCK_SENDS = dg.AssetCheckSpec(
    "whatsapp_no_stuck_sends",
    asset="whatsapp_immediate_dispatch",
    partitions_def=org_day_partitions,
    description="ERROR when an interaction is left in ENVIANDO: a send whose answer was lost "
    "and that no status webhook resolved within 15 minutes, or a claim older than the claim "
    "bound (claim_expiry_minutes) with no answer recorded (a crashed dispatcher that no dispatch "
    "has cleaned up since: the next one releases the claim when it was never attempted). A lost "
    "answer may or may not have reached the client and is never re-sent automatically: look it "
    "up in Meta's message history (biz_opaque_callback_data = the interaction id), then set its "
    "status by hand. Lost answers still within the 15 minutes are counted as awaiting_status "
    "and do not fail the check.",
)
DUE_SENT = dg.AssetCheckSpec(
    "whatsapp_due_messages_sent",
    asset="whatsapp_immediate_dispatch",
    partitions_def=org_day_partitions,
    description="WARN when messages due more than 30 minutes ago are still waiting.",
)
FAILURE_RATE = dg.AssetCheckSpec(
    "whatsapp_failure_rate",
    asset="whatsapp_immediate_dispatch",
    partitions_def=org_day_partitions,
    description="WARN when over 20 % of the last 24 h's send attempts failed (at least 10).",
)
NUMBERS_NOT_SUSPENDED = dg.AssetCheckSpec(
    "whatsapp_numbers_not_suspended",
    asset="whatsapp_immediate_dispatch",
    partitions_def=org_day_partitions,
    description="WARN while a WhatsApp number is suspended by its circuit breaker (sends in a "
    "row got no answer, no connection or a 5xx): its messages wait, due, until the suspension "
    "ends, and the next dispatch tries the number again. Persistent suspensions mean Meta (or "
    "the network to it) is down for this number.",
)


@dg.multi_asset_check(
    specs=[
        CANCELLED_WITHDRAWN,
        IMMEDIATE_SENT,
        CONVERSIONS_VALID,
        NO_STUCK_SENDS,
        DUE_SENT,
        FAILURE_RATE,
        NUMBERS_NOT_SUSPENDED,
    ],
    can_subset=True,
)
def engagement_checks(
    context: dg.AssetCheckExecutionContext, crm_db: CrmDatabase, whatsapp: WhatsAppCloudApi
):
    """Interactions, conversions and the outbox of the day's organization, in one query."""
    part = org_day_of(context)
    with crm_db.engine.connect() as conn:
        row = engagement_counts(
            conn,
            part.org_id,
            part.day,
            unsent_minutes=UNSENT_AFTER_MINUTES,
            resolution_minutes=UNKNOWN_RESOLUTION_MINUTES,
            claim_bound=whatsapp.claim_expiry(),
        )
    suspended, waiting = _suspended_numbers(crm_db, part.org_id)
    rate = row.failed / row.finished if row.finished else 0.0
    results = [
        (
            CANCELLED_WITHDRAWN,
            dg.AssetCheckResult(
                passed=row.unsent_of_cancelled_sales == 0,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata=counts_metadata(
                    {"unsent_of_cancelled_sales": row.unsent_of_cancelled_sales}
                ),
            ),
        ),
        (
            IMMEDIATE_SENT,
            dg.AssetCheckResult(
                passed=row.late_immediate == 0,
                severity=dg.AssetCheckSeverity.WARN,
                metadata=counts_metadata({"late_immediate": row.late_immediate}),
            ),
        ),
        (
            CONVERSIONS_VALID,
            dg.AssetCheckResult(
                passed=row.conversions_on_invalid_sales == 0,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata=counts_metadata(
                    {"conversions_on_invalid_sales": row.conversions_on_invalid_sales}
                ),
            ),
        ),
        (
            NO_STUCK_SENDS,
            dg.AssetCheckResult(
                passed=row.unknown_result + row.stale_claims == 0,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata=counts_metadata(
                    {
                        "unknown_result": row.unknown_result,
                        "awaiting_status": row.awaiting_status,
                        "stale_claims": row.stale_claims,
                    }
                ),
            ),
        ),
        (
            DUE_SENT,
            dg.AssetCheckResult(
                passed=row.overdue == 0,
                severity=dg.AssetCheckSeverity.WARN,
                metadata=counts_metadata({"overdue": row.overdue}),
            ),
        ),
        (
            FAILURE_RATE,
            dg.AssetCheckResult(
                passed=row.finished < FAILURE_RATE_MIN_SENDS or rate <= FAILURE_RATE_WARN,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    **counts_metadata({"failed": row.failed, "finished": row.finished}),
                    "failure_rate": dg.MetadataValue.float(round(rate, 4)),
                },
            ),
        ),
        (
            NUMBERS_NOT_SUSPENDED,
            dg.AssetCheckResult(
                passed=not suspended,
                severity=dg.AssetCheckSeverity.WARN,
                description="; ".join(
                    f"number {number.numero} suspended until"
                    f" {number.envio_suspenso_ate.astimezone(UTC):%Y-%m-%d %H:%M} UTC after"
                    f" {number.envio_falhas_consecutivas} sends in a row without an answer"
                    for number in suspended
                )
                or None,
                metadata=counts_metadata(
                    {"suspended_numbers": len(suspended), "messages_waiting": waiting}
                ),
            ),
        ),
    ]
    yield from selected(context, results)


def _suspended_numbers(crm_db: CrmDatabase, org_id: str) -> tuple[list[sa.Row], int]:
    """The organization's suspended numbers and, when there are any, its messages waiting."""
    with crm_db.engine.connect() as conn:
        suspended = suspended_connections(conn, org_id, datetime.now(UTC))
        if not suspended:
            return suspended, 0
        return suspended, pending_messages(conn, org_id)


ENGAGEMENT_CHECKS = [engagement_checks]
