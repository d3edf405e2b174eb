"""What each step of the sync graph needs before it runs, and what to tell an operator who
materializes a step whose input was never produced.

Steps read what earlier steps stored, so selecting one alone is legitimate (re-running the
ledger of a synced day, say) — but over a day whose earlier steps never ran it would succeed
with zeros and the UI would call the day materialized. Instead it fails, naming the
organization, the day and what to select.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

import sqlalchemy as sa

from recompra_pipelines.db.sync_progress import DayProgress, StepMarker, day_progress


class SyncStep(StrEnum):
    """The steps of the per org x day graph that read an earlier step's output (asset names)."""

    NORMALIZE = "erp_normalized_sales"
    ENTITIES = "crm_entities"
    SALES = "crm_sales"
    CASHBACK = "cashback_ledger"
    CAMPAIGNS = "campaign_interactions"
    ATTRIBUTION = "sale_attribution"


class StepInputMissing(RuntimeError):
    """The step's input was never produced for this org x day; the message says what to run."""


# The step whose completion each step needs (beyond a staging of the latest extract).
_NEEDS: dict[SyncStep, StepMarker | None] = {
    SyncStep.NORMALIZE: None,
    SyncStep.ENTITIES: None,
    SyncStep.SALES: StepMarker.ENTITIES,
    SyncStep.CASHBACK: StepMarker.SALES,
    SyncStep.CAMPAIGNS: StepMarker.CASHBACK,
    SyncStep.ATTRIBUTION: StepMarker.SALES,
}
_PRODUCED_BY = {
    StepMarker.ENTITIES: SyncStep.ENTITIES,
    StepMarker.SALES: SyncStep.SALES,
    StepMarker.CASHBACK: SyncStep.CASHBACK,
}
# Steps that work on the latest extract; the later ones work on the sales as loaded, which
# stay right when a newer extract turned out unreadable and was never staged.
_NEEDS_LATEST_STAGED = {SyncStep.ENTITIES, SyncStep.SALES}


def missing_input(progress: DayProgress, step: SyncStep) -> str | None:
    """Why `step` cannot run on this day yet, or None when its input is there."""
    if progress.latest_extract_hash is None and progress.staged_hash is None:
        return "no ERP extract is stored for this day"
    if step == SyncStep.NORMALIZE:
        return None
    if progress.staged_hash is None:
        return "the day's ERP extract was never normalized into staging"
    if step in _NEEDS_LATEST_STAGED and progress.latest_extract_hash != progress.staged_hash:
        if progress.latest_extract_error:
            return (
                "the day's latest ERP extract cannot be read "
                f"({progress.latest_extract_error}) and staging holds an older one"
            )
        return "the day's latest ERP extract is not normalized into staging yet"
    needed = _NEEDS[step]
    if needed is not None and not progress.done(needed):
        return f"{_PRODUCED_BY[needed]} has not run on the day's current staging"
    return None


def require_input(engine: sa.Engine, org_id: str, day: date, step: SyncStep) -> DayProgress:
    """The day's progress, or StepInputMissing naming the organization, day and what to run."""
    with engine.connect() as conn:
        progress = day_progress(conn, org_id, day)
    reason = missing_input(progress, step)
    if reason is not None:
        raise StepInputMissing(
            f"organization {org_id}, day {day}: {step} cannot run: {reason}. Nothing was "
            "written. Sync the whole day instead: Jobs → erp_sync → Materialize all (pick "
            f"the day and organization), or `recompra backfill --org {org_id} --from {day} "
            f"--to {day}`; or select the steps before {step} together with it."
        )
    return progress
