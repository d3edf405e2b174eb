"""WhatsApp dispatch: the immediate messages at the end of each sync run, and the scheduled ones.

`whatsapp_immediate_dispatch` is the last step of every org x day sync run and sends the
organization's due *immediate* interactions (no scheduling block). `whatsapp_scheduled_dispatch`
(one partition per organization) sends everything due, scheduled blocks included, when the
dispatcher sensor sees messages due. Counts only in metadata: no phones, names or tokens.
"""

import dagster as dg

from recompra_pipelines.asset_groups import AssetGroup
from recompra_pipelines.messaging.dispatcher import DispatchCounts, dispatch_organization
from recompra_pipelines.partitions import org_day_of, org_day_partitions, organization_partitions
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.resources.whatsapp import DISPATCH_ENV, WhatsAppCloudApi


def _dispatch(
    context: dg.AssetExecutionContext,
    crm_db: CrmDatabase,
    whatsapp: WhatsAppCloudApi,
    org_id: str,
    *,
    immediate_only: bool,
) -> dg.MaterializeResult:
    if not whatsapp.is_enabled():
        context.log.info(f"WhatsApp dispatch is paused ({DISPATCH_ENV}=off)")
        return dg.MaterializeResult(metadata={"paused": True})
    with whatsapp.client() as client:
        counts = dispatch_organization(
            crm_db.engine,
            client,
            org_id,
            immediate_only=immediate_only,
            settings=whatsapp.settings(),
        )
    if counts.unknown:
        context.log.warning(
            f"{counts.unknown} message(s) of organization {org_id} got no answer after the"
            " request was sent; left ENVIANDO with RESULTADO_DESCONHECIDO for reconciliation"
        )
    return dg.MaterializeResult(metadata=_counts_metadata(counts))


def _counts_metadata(counts: DispatchCounts) -> dict[str, dg.MetadataValue]:
    return {name: dg.MetadataValue.int(value) for name, value in vars(counts).items()}


@dg.asset(
    partitions_def=org_day_partitions,
    group_name=AssetGroup.MESSAGING.value,
    # Last step of the sync graph: messages go out once interactions and attribution are done.
    deps=["campaign_interactions", "sale_attribution"],
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
    return _dispatch(context, crm_db, whatsapp, org_day_of(context).org_id, immediate_only=True)


@dg.asset(
    partitions_def=organization_partitions,
    group_name=AssetGroup.MESSAGING.value,
    # Every day's purchase and lifecycle interactions of the organization are its outbox.
    deps=["campaign_interactions", "lifecycle_campaigns"],
    kinds={"postgres"},
)
def whatsapp_scheduled_dispatch(
    context: dg.AssetExecutionContext, crm_db: CrmDatabase, whatsapp: WhatsAppCloudApi
) -> dg.MaterializeResult:
    """The organization's due messages, immediate and scheduled, sent as WhatsApp templates.

    Scheduled interactions go out when their (date, block) has arrived in the organization's
    timezone; missed blocks are caught up within the lateness allowance (later ones are
    skipped as ATRASADA); retries come back when their backoff ends. Same claims, limits and
    retry rules as the immediate dispatch.
    """
    return _dispatch(context, crm_db, whatsapp, context.partition_key, immediate_only=False)


WHATSAPP_ASSETS = [whatsapp_immediate_dispatch, whatsapp_scheduled_dispatch]
