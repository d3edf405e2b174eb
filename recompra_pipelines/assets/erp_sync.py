"""The per organization x day ERP sync graph: raw extract -> staging -> entities -> sales.

Thin shells: each asset calls one step of `recompra_pipelines.sync.steps` (one transaction
under the organization's lock) and reports counts as numeric metadata, never names or phones.
"""

from datetime import UTC, datetime

import dagster as dg

from recompra_pipelines.asset_groups import AssetGroup
from recompra_pipelines.assets.cashback import centavos
from recompra_pipelines.assets.step_inputs import require_step_input
from recompra_pipelines.partitions import org_day_of, org_day_partitions
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.resources.erp import ErpConnectors
from recompra_pipelines.sync import steps
from recompra_pipelines.sync.preconditions import SyncStep


@dg.asset(
    partitions_def=org_day_partitions,
    group_name=AssetGroup.ERP.value,
    kinds={"postgres"},
)
def erp_raw_extract(
    context: dg.AssetExecutionContext, crm_db: CrmDatabase, erp: ErpConnectors
) -> dg.MaterializeResult:
    """The organization's sales of the day exactly as its ERP returned them.

    Stored in `erp_raw_extracts` with a SHA-256 of the body before anything parses it, so any
    day can be rebuilt without calling the ERP. A response identical to one already stored only
    bumps its capture time. Timeouts, 5xx and 429 are retried with backoff (Retry-After
    honoured); other 4xx fail the run. The ERP token is never logged or stored.
    """
    part = org_day_of(context)
    result = steps.fetch_raw_extract(crm_db.engine, part.org_id, part.day, erp.fetch_settings())
    return dg.MaterializeResult(
        metadata={
            "new_content": result.new_content,
            "size_bytes": dg.MetadataValue.int(result.size_bytes),
            "http_attempts": dg.MetadataValue.int(result.attempts),
            "pending_records": dg.MetadataValue.int(result.pending),
            # Whole: the key of erp_raw_extracts.hash_conteudo and of the runs' content tag.
            "content_hash": result.content_hash,
        }
    )


@dg.asset(
    partitions_def=org_day_partitions,
    group_name=AssetGroup.ERP.value,
    deps=[erp_raw_extract],
    kinds={"postgres"},
)
def erp_normalized_sales(
    context: dg.AssetExecutionContext, crm_db: CrmDatabase
) -> dg.MaterializeResult:
    """The latest extract validated into staging, one row per sale with its items.

    A record that fails validation goes to `erp_quarantine` with the field and reason while the
    rest of the day loads; repeated ids (Online Software "troco" lines) keep the real sale. A
    payload that is not a list of sales at all fails the run and changes nothing. When staging
    already holds the latest extract, nothing is re-parsed; otherwise only records whose
    content is not staged yet are mapped (`mapped`), the others keep their rows (`unchanged`).
    """
    require_step_input(context, crm_db, SyncStep.NORMALIZE)
    part = org_day_of(context)
    result = steps.normalize_sales(crm_db.engine, part.org_id, part.day, now=datetime.now(UTC))
    if result.quarantined:
        context.log.warning(
            f"{result.quarantined} record(s) quarantined for organization {part.org_id}, day "
            f"{part.day} by field: {result.quarantined_by_field} (see erp_quarantine)"
        )
    if result.pending:
        context.log.warning(
            f"{result.pending} record(s) listed by the ERP but not delivered for organization "
            f"{part.org_id}, day {part.day}: left as they are, fetched again by the next run"
        )
    if result.warnings:
        context.log.warning(
            f"unknown ERP values loaded for organization {part.org_id}, day {part.day}: "
            f"{result.warnings}"
        )
    metadata: dict[str, object] = {"already_staged": result.already_staged}
    if not result.already_staged:
        metadata.update(
            received=dg.MetadataValue.int(result.received),
            staged=dg.MetadataValue.int(result.staged),
            mapped=dg.MetadataValue.int(result.mapped),
            unchanged=dg.MetadataValue.int(result.unchanged),
            quarantined=dg.MetadataValue.int(result.quarantined),
            troco_lines_dropped=dg.MetadataValue.int(result.troco_dropped),
            pending=dg.MetadataValue.int(result.pending),
            unknown_values=dg.MetadataValue.int(sum(result.warnings.values())),
        )
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    partitions_def=org_day_partitions,
    group_name=AssetGroup.ERP.value,
    deps=[erp_normalized_sales],
    kinds={"postgres"},
)
def crm_entities(context: dg.AssetExecutionContext, crm_db: CrmDatabase) -> dg.MaterializeResult:
    """Clients, sellers, partners and products of the day's sales, upserted on natural keys.

    Clients match by ERP client id, then phone (`telefone_base`), then normalized name; two
    different phones are never merged on a name. "AO CONSUMIDOR" and other placeholders are
    anonymous. Entities keep what was first seen and only gain missing details. When they were
    already upserted from the content staging holds, nothing is matched again
    (`already_upserted`).
    """
    require_step_input(context, crm_db, SyncStep.ENTITIES)
    part = org_day_of(context)
    counts = steps.upsert_day_entities(crm_db.engine, part.org_id, part.day)
    metadata: dict[str, object] = {"already_upserted": counts is None}
    if counts is not None:
        metadata.update({name: dg.MetadataValue.int(value) for name, value in vars(counts).items()})
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    partitions_def=org_day_partitions,
    group_name=AssetGroup.ERP.value,
    deps=[crm_entities],
    kinds={"postgres"},
)
def crm_sales(context: dg.AssetExecutionContext, crm_db: CrmDatabase) -> dg.MaterializeResult:
    """Sales and items of the day, upserted; cancellations recorded; buyers' totals refreshed.

    A sale is rewritten only when its ERP content, buyer, seller or partner changed; items are
    updated in place per line. A valid sale that turns invalid is marked cancelled; one that
    becomes valid again gets a new revision. The sale time keeps the best-known real time.
    A day the ERP answered with an empty list loads nothing and says so (`erp_day_empty`).
    """
    progress = require_step_input(context, crm_db, SyncStep.SALES)
    part = org_day_of(context)
    counts = steps.load_day_sales(crm_db.engine, part.org_id, part.day)
    metadata = {
        name: dg.MetadataValue.int(value)
        for name, value in vars(counts).items()
        if name != "valid_sales_total"
    }
    metadata["valid_sales_total_centavos"] = centavos(counts.valid_sales_total)
    metadata["erp_records"] = dg.MetadataValue.int(progress.staged_records or 0)
    metadata["erp_day_empty"] = dg.MetadataValue.bool(not progress.staged_records)
    return dg.MaterializeResult(metadata=metadata)


SYNC_ASSETS = [erp_raw_extract, erp_normalized_sales, crm_entities, crm_sales]
