"""The CRM database as a Dagster resource."""

import dagster as dg
import sqlalchemy as sa
from pydantic import PrivateAttr

from recompra_pipelines.db.engine import create_crm_engine


class CrmDatabase(dg.ConfigurableResource):
    """PostgreSQL holding the CRM tables (`RECOMPRA_DATABASE_URL`)."""

    url: str

    _engine: sa.Engine | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._engine = create_crm_engine(self.url)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._engine is not None:
            self._engine.dispose()

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = create_crm_engine(self.url)
        return self._engine
