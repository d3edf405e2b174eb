"""Test helpers: organizations, partition runs and row snapshots."""

from __future__ import annotations

import secrets
from datetime import date

import dagster as dg
import sqlalchemy as sa

from recompra_pipelines.automation.erp_sync import SYNC_GRAPH
from recompra_pipelines.definitions import defs
from recompra_pipelines.orgfile.organization import OrgFile
from recompra_pipelines.orgfile_store.writer import apply_org_file
from recompra_pipelines.partitions import ORGANIZATIONS, org_day_key
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.resources.erp import ErpConnectors

CRM_TABLES = ("clients", "products", "sellers", "partners", "sales", "sale_items")


def new_org(
    engine: sa.Engine,
    server_url: str,
    *,
    token: str | None = None,
    org_id: str | None = None,
    **extra,
) -> tuple[str, str]:
    """Create an Online Software organization; returns (org id, token)."""
    org_id = org_id or f"org-{secrets.token_hex(4)}"
    token = token or f"token-{org_id}"
    org_file = OrgFile.model_validate(
        {
            "id": org_id,
            "name": f"Loja {org_id}",
            "integration": {"type": "ONLINE-SOFTWARE", "server_url": server_url, "token": token},
            **extra,
        }
    )
    with engine.begin() as conn:
        apply_org_file(conn, org_file)
    return org_id, token


def fast_erp() -> ErpConnectors:
    return ErpConnectors(
        timeout_seconds=10,
        max_attempts=3,
        backoff_seconds=0.01,
        max_backoff_seconds=0.05,
        max_retry_after_seconds=0.2,
    )


def materialize_day(
    instance: dg.DagsterInstance,
    database_url: str,
    org_id: str,
    day: date,
    *,
    raise_on_error: bool = True,
    selection: dg.AssetSelection = SYNC_GRAPH,
    erp: ErpConnectors | None = None,
    resources: dict | None = None,
):
    """Run the org x day sync graph (or `selection` of it) as the `erp_sync` job would;
    `resources` replace the definitions' own (e.g. a WhatsApp resource for a simulator)."""
    if not instance.has_dynamic_partition(ORGANIZATIONS, org_id):
        instance.add_dynamic_partitions(ORGANIZATIONS, [org_id])
    return dg.materialize(
        [*defs.assets, *defs.asset_checks],
        selection=selection,
        partition_key=str(org_day_key(org_id, day)),
        instance=instance,
        # Every resource the definitions bind, with the test database and fast ERP retries.
        resources={
            **defs.resources,
            "crm_db": CrmDatabase(url=database_url),
            "erp": erp or fast_erp(),
            **(resources or {}),
        },
        raise_on_error=raise_on_error,
    )


def metadata(result, node: str) -> dict:
    materialization = result.asset_materializations_for_node(node)[0]
    return {key: value.value for key, value in materialization.metadata.items()}


def row_versions(engine: sa.Engine, org_id: str) -> dict[str, dict]:
    """Every CRM row of the organization with its xmin: any write changes a row's xmin."""
    with engine.connect() as conn:
        return {
            table: dict(
                conn.execute(
                    sa.text(f"SELECT id, xmin::text FROM {table} WHERE organizacao_id = :org"),
                    {"org": org_id},
                ).all()
            )
            for table in CRM_TABLES
        }


def count(engine: sa.Engine, sql: str, **params) -> int:
    with engine.connect() as conn:
        return conn.scalar(sa.text(sql), params)
