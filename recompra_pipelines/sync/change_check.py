"""Whether `recompra sync` needs a run at all, decided without Dagster (the CLI stays quick).

The ERP's answer for the day is fetched once and hashed. No run is needed when that answer is
the content staging holds and a whole sync run completed for it (the COMPLETE_SYNC marker that
`recompra sync` records after its run succeeded). When the CRM has no such sync to compare
with (a day never synced whole, or one awaiting confirmation), nothing could be skipped and the
ERP is not asked: the run asks it once (a 20,000-sale day is 45 MB). Staging holding that content means no other
answer was staged since, so the CRM is exactly what that run left; a crash empties staging
(UNLOGGED) and the next call runs. A sale missing from an earlier answer is confirmed gone
only by another run, so such a day always runs, as the schedule's check has it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from recompra_pipelines.db.engine import create_crm_engine
from recompra_pipelines.db.sales_load import days_with_unconfirmed_absences
from recompra_pipelines.db.sync_progress import StepMarker, day_progress
from recompra_pipelines.sync import steps
from recompra_pipelines.sync.organizations import load_organization


@dataclass(frozen=True)
class ContentCheck:
    """What the ERP answers for a day now (its content hash, or why the check failed), and
    why no run is needed, if none is. The schedule's check and `recompra sync`'s both."""

    # None when the ERP was not asked (nothing to compare its answer with) or did not answer.
    content_hash: str | None = None
    # Why the ERP's answer could not be had (the run then fetches again and reports it).
    error: str | None = None
    # A sale missing from an earlier answer awaits a second answer: the day must run.
    confirming: bool = False
    # Why no run is needed ("the ERP's answer is ..."), else None.
    skip_reason: str | None = None


def check_day_content(
    database_url: str, org_id: str, day: date, *, other_history: bool = False
) -> ContentCheck:
    """The ERP's answer for the org x day now, against the last complete sync in the CRM.

    `other_history`: another record of past runs (Dagster's) compares the answer too, so the
    ERP is asked even when the CRM alone could not skip the day."""
    engine = create_crm_engine(database_url)
    try:
        with engine.connect() as conn:
            load_organization(conn, org_id)  # an unknown organization fails here, as a run would
            confirming = (org_id, day) in days_with_unconfirmed_absences(conn)
            completed = day_progress(conn, org_id, day).done(StepMarker.COMPLETE_SYNC)
        if not other_history and (confirming or not completed):
            return ContentCheck(confirming=confirming)
        try:
            content_hash = steps.fetch_day(
                engine, org_id, day, steps.QUICK_CHECK_FETCH
            ).content_hash
        except Exception as error:  # the run fetches again and reports what the ERP did
            return ContentCheck(error=str(error)[:300], confirming=confirming)
        with engine.connect() as conn:
            # Read again after the answer: staging may have changed while the ERP was asked.
            progress = day_progress(conn, org_id, day)
    finally:
        engine.dispose()
    if (
        not confirming
        and progress.staged_hash == content_hash
        and progress.done(StepMarker.COMPLETE_SYNC)
    ):
        return ContentCheck(
            content_hash=content_hash,
            skip_reason="the ERP's answer is the content the last complete sync of this day "
            f"processed (content {content_hash[:16]})",
        )
    return ContentCheck(content_hash=content_hash, confirming=confirming)
