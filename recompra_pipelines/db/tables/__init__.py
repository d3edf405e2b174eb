"""All CRM tables, registered on one `metadata` (what Alembic migrates)."""

from recompra_pipelines.db.tables import campaigns, cashback, catalog, messaging, sync  # noqa: F401
from recompra_pipelines.db.tables.base import metadata

__all__ = ["metadata"]
