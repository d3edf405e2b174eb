"""The daily catalog sync of one organization: fetch, store raw, read, write."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from recompra_pipelines.connectors.errors import ErpPayloadError
from recompra_pipelines.connectors.registry import FetchSettings, connector_for
from recompra_pipelines.db.bulk import lock_organization
from recompra_pipelines.db.catalog import CatalogCounts, apply_catalog, store_catalog_extract
from recompra_pipelines.domain.catalog import RejectedEntry
from recompra_pipelines.domain.storable import storable_text
from recompra_pipelines.sync.organizations import load_organization
from recompra_pipelines.sync.steps import MAX_LABEL_LENGTH, SyncError, call_erp


def has_catalog(integration_type: str | None) -> bool:
    """Whether the organization's ERP connector syncs a product catalog."""
    if not integration_type:
        return False
    return connector_for(integration_type).has_catalog


def sync_catalog(
    engine: sa.Engine, org_id: str, settings: FetchSettings, now: datetime
) -> tuple[CatalogCounts, list[RejectedEntry]]:
    """Ask the ERP for its catalog, store the response untouched, then write what it says, in
    one transaction under the organization's lock. Returns the counts and the entries that
    could not be read (each with where it is and its field)."""
    with engine.connect() as conn:
        org = load_organization(conn, org_id)
    if not has_catalog(org.integration_type):
        raise SyncError(
            f"organization {org_id}: its ERP ({org.integration_type or 'none'}) has no product"
            " catalog to sync; select CardápioWeb organizations only"
        )
    connector = connector_for(org.integration_type)
    raw = call_erp(
        org,
        connector,
        f"organization {org_id}, catalog",
        lambda config: connector.fetch_catalog(config, settings.started()),
    )
    with engine.begin() as conn:
        lock_organization(conn, org_id)
        extract_id = store_catalog_extract(conn, org_id, connector.integration_type, raw)
    try:
        catalog = connector.read_catalog(raw.text)
    except Exception as error:  # whatever the ERP sent: the reading's error, never a crash
        reason = (
            str(error) if isinstance(error, ErpPayloadError) else f"{type(error).__name__}: {error}"
        )
        raise SyncError(
            f"organization {org_id}, catalog: {storable_text(reason)[:MAX_LABEL_LENGTH]} (raw"
            f" response kept as erp_catalog_extracts id {extract_id})"
        ) from error
    with engine.begin() as conn:
        lock_organization(conn, org_id)
        return apply_catalog(conn, org_id, catalog, now), catalog.rejected
