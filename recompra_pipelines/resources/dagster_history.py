"""How much of Dagster's own history (runs, event logs, ticks) the maintenance job keeps."""

from __future__ import annotations

from datetime import datetime, timedelta

import dagster as dg
from pydantic import Field

from recompra_pipelines.db.dagster_history import HistoryCutoffs
from recompra_pipelines.settings import whole_number_from_env

RUN_DAYS_ENV = "RECOMPRA_RETENTION_DAGSTER_RUN_DAYS"
MAX_RUNS_ENV = "RECOMPRA_RETENTION_DAGSTER_MAX_RUNS"
TICK_DAYS_ENV = "RECOMPRA_RETENTION_DAGSTER_TICK_DAYS"
MAX_TICKS_ENV = "RECOMPRA_RETENTION_DAGSTER_MAX_TICKS"
# A week of runs: enough to look into last week's failures; at ~70 runs per organization a day
# it is what bounds Dagster's database (docs/operations.md has the arithmetic).
DEFAULT_RUN_DAYS = 7
# A ceiling for a fleet that grows faster than anyone resized the database: ~200 organizations'
# week. 0 turns the count limit off.
DEFAULT_MAX_RUNS = 100_000
DEFAULT_TICK_DAYS = 7
# A 30-second sensor ticks 2,880 times a day: about a week of it.
DEFAULT_MAX_TICKS = 20_000


class DagsterHistoryRetention(dg.ConfigurableResource):
    """Finished runs (with their event logs and check executions) older than `run_days` or
    beyond the newest `max_runs` are deleted, except each asset partition's latest
    materialization; ticks older than `tick_days` or beyond the newest `max_ticks` of their
    schedule or sensor are deleted. A limit of 0 turns that count limit off."""

    run_days: int = Field(default=DEFAULT_RUN_DAYS, ge=1)
    max_runs: int = Field(default=DEFAULT_MAX_RUNS, ge=0)
    tick_days: int = Field(default=DEFAULT_TICK_DAYS, ge=1)
    max_ticks: int = Field(default=DEFAULT_MAX_TICKS, ge=0)

    @classmethod
    def from_env(cls) -> DagsterHistoryRetention:
        return cls(
            run_days=whole_number_from_env(RUN_DAYS_ENV, DEFAULT_RUN_DAYS, minimum=1),
            max_runs=whole_number_from_env(MAX_RUNS_ENV, DEFAULT_MAX_RUNS, minimum=0),
            tick_days=whole_number_from_env(TICK_DAYS_ENV, DEFAULT_TICK_DAYS, minimum=1),
            max_ticks=whole_number_from_env(MAX_TICKS_ENV, DEFAULT_MAX_TICKS, minimum=0),
        )

    def cutoffs(self, now: datetime) -> HistoryCutoffs:
        return HistoryCutoffs(
            runs_finished_before=now - timedelta(days=self.run_days),
            ticks_before=now - timedelta(days=self.tick_days),
            max_runs=self.max_runs or None,
            max_ticks=self.max_ticks or None,
        )
