"""Immediate WhatsApp dispatch at the end of each org x day sync.

Joins the per-partition sync job through the ``erp_sync`` group. It sends the partition
organization's due *immediate* interactions (no scheduling block); scheduled ones are the
dispatcher job's (automation/whatsapp_dispatch.py). Counts only in metadata: no phones,
names or tokens.
"""

import dagster as dg

from recompra_pipelines.messaging.dispatcher import dispatch_organization
from recompra_pipelines.partitions import org_day_of, org_day_partitions
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.resources.whatsapp import WhatsAppCloudApi

GROUP = "erp_sync"


@dg.asset(
    partitions_def=org_day_partitions,
    group_name=GROUP,
    # Last step of the sync graph: messages go out once interactions and attribution are done.
    deps=["sale_attribution"],
    kinds={"postgres"},
)
def whatsapp_immediate_dispatch(
    context: dg.AssetExecutionContext, crm_db: CrmDatabase, whatsapp: WhatsAppCloudApi
) -> dg.MaterializeResult:
    """The organization's due immediate campaign messages, sent as WhatsApp templates.

    Each interaction is claimed (SKIP LOCKED) before the request, so an overlapping run or the
    dispatcher never sends it twice; Meta's per-number and per-recipient limits are shared
    through the database; retryable errors go back to the queue with backoff; a timeout after
    the request left is flagged for reconciliation, never re-sent.
    """
    part = org_day_of(context)
    if not whatsapp.is_enabled():
        context.log.info("WhatsApp dispatch is paused (RECOMPRA_WHATSAPP_DISPATCH=off)")
        return dg.MaterializeResult(metadata={"paused": True})
    with whatsapp.client() as client:
        counts = dispatch_organization(
            crm_db.engine, client, part.org_id, immediate_only=True, settings=whatsapp.settings()
        )
    if counts.unknown:
        context.log.warning(
            f"{counts.unknown} message(s) of organization {part.org_id} got no answer after the"
            " request was sent; left ENVIANDO with RESULTADO_DESCONHECIDO for reconciliation"
        )
    if counts.suspended:
        context.log.warning(
            f"{counts.suspended} message(s) of organization {part.org_id} wait for a WhatsApp"
            " number suspended after sends in a row without an answer (circuit breaker)"
        )
    if counts.past_deadline:
        context.log.warning(
            f"{counts.past_deadline} message(s) of organization {part.org_id} left due for the"
            " next dispatch: this one reached its deadline"
        )
    return dg.MaterializeResult(
        metadata={name: dg.MetadataValue.int(value) for name, value in vars(counts).items()}
    )


WHATSAPP_ASSETS = [whatsapp_immediate_dispatch]
