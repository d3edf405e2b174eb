"""The ERP's product catalog, once a day per organization whose ERP has one (CardápioWeb)."""

from datetime import UTC, datetime

import dagster as dg

from recompra_pipelines.asset_groups import AssetGroup
from recompra_pipelines.partitions import organization_partitions
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.resources.erp import ErpConnectors
from recompra_pipelines.sync.catalog_steps import sync_catalog

# How many unreadable entries the run's log lists (the count is metadata).
LOGGED_REJECTIONS = 20


@dg.asset(
    partitions_def=organization_partitions, group_name=AssetGroup.ERP.value, kinds={"postgres"}
)
def erp_catalog(
    context: dg.AssetExecutionContext, crm_db: CrmDatabase, erp: ErpConnectors
) -> dg.MaterializeResult:
    """The organization's product catalog as its ERP lists it now (CardápioWeb's
    `/api/partner/v1/catalog`; combos skipped).

    The raw response is stored first (`erp_catalog_extracts`). Products are upserted by the
    same code orders give them (the merchant's code, else the item id), so an order and the
    catalog share one row: active, description, picture, price, unit, category (as `grupo`),
    kind and stock, with the time of the sync that changed them. Add-on groups and options are
    upserted by their ids, with the groups each product offers. What left the catalog turns
    inactive, never deleted - unless an entry could not be read (`rejected`: logged with its
    category, item and field), when nothing is deactivated. Re-running writes nothing.
    """
    org_id = context.partition_key
    counts, rejected = sync_catalog(crm_db.engine, org_id, erp.fetch_settings(), datetime.now(UTC))
    if rejected:
        context.log.warning(
            f"organization {org_id}: {len(rejected)} catalog entries could not be read and were"
            " left as they are (nothing was deactivated): "
            + "; ".join(str(entry) for entry in rejected[:LOGGED_REJECTIONS])
        )
    return dg.MaterializeResult(
        metadata={name: dg.MetadataValue.int(value) for name, value in vars(counts).items()}
    )


CATALOG_ASSETS = [erp_catalog]
