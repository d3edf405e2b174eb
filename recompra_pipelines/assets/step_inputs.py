"""The guard every sync-graph asset runs first: its input must exist for the partition."""

import dagster as dg

from recompra_pipelines.db.sync_progress import DayProgress
from recompra_pipelines.partitions import org_day_of
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.sync.preconditions import StepInputMissing, SyncStep, require_input


def require_step_input(
    context: dg.AssetExecutionContext, crm_db: CrmDatabase, step: SyncStep
) -> DayProgress:
    """Fails the step (no retry: nothing will appear by waiting) with a message naming the
    organization, the day and what to select, instead of materializing zeros."""
    part = org_day_of(context)
    try:
        return require_input(crm_db.engine, part.org_id, part.day, step)
    except StepInputMissing as missing:
        raise dg.Failure(description=str(missing), allow_retries=False) from None
