"""The CRM database as a Dagster resource."""

import dagster as dg
import sqlalchemy as sa
from pydantic import PrivateAttr

from recompra_pipelines.db.engine import DatabaseTimeouts, create_crm_engine

_TIMEOUTS = DatabaseTimeouts()


class CrmDatabase(dg.ConfigurableResource):
    """PostgreSQL holding the CRM tables (`RECOMPRA_DATABASE_URL`).

    A database that does not answer fails the step within `connect_timeout_seconds`, a
    statement that runs (or waits for a lock) longer than `statement_timeout_seconds` is
    cancelled: the run fails with the reason and frees the organization's slot.
    """

    url: str
    connect_timeout_seconds: int = _TIMEOUTS.connect_seconds
    statement_timeout_seconds: float = _TIMEOUTS.statement_seconds

    _engine: sa.Engine | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._engine = create_crm_engine(self.url, self.timeouts())

    def timeouts(self) -> DatabaseTimeouts:
        return DatabaseTimeouts(
            connect_seconds=self.connect_timeout_seconds,
            statement_seconds=self.statement_timeout_seconds,
        )

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._engine is not None:
            self._engine.dispose()

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = create_crm_engine(self.url, self.timeouts())
        return self._engine
