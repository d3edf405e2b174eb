"""Dagster's PostgreSQL storage with its connections kept open and reused (dagster.yaml).

dagster-postgres opens a new PostgreSQL connection for every storage operation (its engines use
SQLAlchemy's NullPool, and no instance setting changes that): an `erp_sync` run writes ~100
events and opened ~360 connections to Dagster's storage, each a PostgreSQL backend started and
torn down (`bench/results/run_cost.md`). Only dagster-webserver pools, through the storages'
`optimize_for_webserver`; this class calls that same method at start-up for every process that
loads the instance (daemon, run workers, webserver, CLI): one connection kept open per storage
(runs, event log, schedules) and reused, more only while threads use a storage at once.

The trade-off: each process holds up to 3 idle connections while it lives instead of none, and
a connection lost (PostgreSQL restarted) fails the one operation that finds it, which SQLAlchemy
then replaces - as the webserver has always run. Kubernetes deployments keep the chart's stock
storages and put a PgBouncer in front of PostgreSQL instead (docs/operations.md).
"""

from __future__ import annotations

from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

# dagster-webserver's own defaults for the same pool (`--db-pool-recycle`,
# `--db-pool-max-overflow`); no statement timeout, as the unpooled storages have none.
POOL_RECYCLE_SECONDS = 3600
POOL_MAX_OVERFLOW = 20
NO_STATEMENT_TIMEOUT = 0


class PooledPostgresStorage(DagsterPostgresStorage):
    """`DagsterPostgresStorage` (same config, tables and classes) with pooled connections."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True, **kwargs):
        super().__init__(postgres_url, should_autocreate_tables, **kwargs)
        for storage in (self._run_storage, self._event_log_storage, self._schedule_storage):
            storage.optimize_for_webserver(
                statement_timeout=NO_STATEMENT_TIMEOUT,
                pool_recycle=POOL_RECYCLE_SECONDS,
                max_overflow=POOL_MAX_OVERFLOW,
            )

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value
    ) -> PooledPostgresStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )
