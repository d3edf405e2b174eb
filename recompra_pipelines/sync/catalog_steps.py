"""The daily catalog sync of one organization: fetch, store raw, read, write."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from recompra_pipelines.connectors.errors import ErpPayloadError, ErpRequestError
from recompra_pipelines.connectors.registry import FetchSettings, connector_for
from recompra_pipelines.db.bulk import lock_organization
from recompra_pipelines.db.catalog import CatalogCounts, apply_catalog, store_catalog_extract
from recompra_pipelines.domain.catalog import RejectedEntry
from recompra_pipelines.sync.organizations import load_organization
from recompra_pipelines.sync.steps import SyncError


def has_catalog(integration_type: str | None) -> bool:
    """Whether the organization's ERP connector syncs a product catalog."""
    if not integration_type:
        return False
    connector = connector_for(integration_type)
    return hasattr(connector, "fetch_catalog") and hasattr(connector, "read_catalog")


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
    try:
        raw = connector.fetch_catalog(org.integration_config, settings)
    except (ErpRequestError, ValueError) as error:
        raise SyncError(f"organization {org_id}, catalog: {error}") from None
    with engine.begin() as conn:
        lock_organization(conn, org_id)
        extract_id = store_catalog_extract(conn, org_id, connector.integration_type, raw)
    try:
        catalog = connector.read_catalog(raw.text)
    except ErpPayloadError as error:
        raise SyncError(
            f"organization {org_id}, catalog: {error} (raw response kept as"
            f" erp_catalog_extracts id {extract_id})"
        ) from None
    with engine.begin() as conn:
        lock_organization(conn, org_id)
        return apply_catalog(conn, org_id, catalog, now), catalog.rejected
