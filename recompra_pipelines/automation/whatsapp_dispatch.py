"""The WhatsApp dispatcher: every minute, one run per organization with messages due.

Scheduled interactions go out when their (date, block) has arrived in the organization's
timezone; missed blocks are caught up within the lateness allowance; retries come back when
their backoff ends. The sensor requests a run only when something is due, so a quiet
minute costs one query and no run.
"""

from datetime import UTC, datetime

import dagster as dg

from recompra_pipelines.messaging.dispatcher import (
    dispatch_organization,
    organizations_with_due_messages,
)
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.resources.whatsapp import WhatsAppCloudApi

ORG_TAG = "recompra/whatsapp_org"
IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


class DispatchConfig(dg.Config):
    org_id: str


@dg.op
def dispatch_whatsapp_messages(
    context: dg.OpExecutionContext,
    config: DispatchConfig,
    crm_db: CrmDatabase,
    whatsapp: WhatsAppCloudApi,
) -> None:
    """Send the organization's due messages (immediate and scheduled)."""
    with whatsapp.client() as client:
        counts = dispatch_organization(
            crm_db.engine, client, config.org_id, settings=whatsapp.settings()
        )
    # Counts only: no phones, names or tokens.
    context.log.info(f"organization {config.org_id}: {vars(counts)}")


@dg.job(description="Send one organization's due WhatsApp messages.")
def whatsapp_dispatch():
    dispatch_whatsapp_messages()


@dg.sensor(
    job=whatsapp_dispatch,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def whatsapp_dispatch_sensor(
    context: dg.SensorEvaluationContext, crm_db: CrmDatabase, whatsapp: WhatsAppCloudApi
):
    """Every minute: a dispatch run for each organization with due messages and no dispatch
    run already queued or running."""
    if not whatsapp.is_enabled():
        return dg.SkipReason("WhatsApp dispatch is paused (RECOMPRA_WHATSAPP_DISPATCH=off)")
    now = datetime.now(UTC)
    with crm_db.engine.connect() as conn:
        due = organizations_with_due_messages(conn, now)
    busy = {
        run.tags.get(ORG_TAG)
        for run in context.instance.get_runs(
            filters=dg.RunsFilter(job_name=whatsapp_dispatch.name, statuses=IN_PROGRESS)
        )
    }
    requests = [
        dg.RunRequest(
            run_key=f"whatsapp:{org_id}@{now:%Y%m%dT%H%M}",
            run_config=dg.RunConfig(
                ops={"dispatch_whatsapp_messages": DispatchConfig(org_id=org_id)}
            ),
            tags={ORG_TAG: org_id},
        )
        for org_id in due
        if org_id not in busy
    ]
    return requests or dg.SkipReason("no WhatsApp messages due")
