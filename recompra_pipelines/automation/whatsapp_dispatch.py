"""The WhatsApp dispatcher: every minute, one run per organization with messages due.

Scheduled interactions go out when their (date, block) has arrived in the organization's
timezone; missed blocks are caught up within the lateness allowance; retries come back when
their backoff ends. The sensor requests a run of the organization's `whatsapp_scheduled_dispatch`
partition only when something is due, so a quiet minute costs one query and no run.
"""

from datetime import UTC, datetime

import dagster as dg

from recompra_pipelines.automation.run_status import IN_PROGRESS
from recompra_pipelines.automation.tick_log import Decision, TickDecisions
from recompra_pipelines.db.outbox import organizations_with_due_messages
from recompra_pipelines.partitions import ORGANIZATIONS, PARTITION_TAG, organization_partitions
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.resources.whatsapp import DISPATCH_ENV, WhatsAppCloudApi

whatsapp_dispatch = dg.define_asset_job(
    "whatsapp_dispatch",
    selection=dg.AssetSelection.assets("whatsapp_scheduled_dispatch"),
    executor_def=dg.in_process_executor,
    description="Send one organization's due WhatsApp messages (immediate and scheduled).",
)


@dg.sensor(
    job=whatsapp_dispatch,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def whatsapp_dispatch_sensor(
    context: dg.SensorEvaluationContext, crm_db: CrmDatabase, whatsapp: WhatsAppCloudApi
):
    """Every minute: a dispatch run for each organization with due messages and no dispatch
    run already queued or running. Each organization's decision is a line of the tick's log."""
    decisions = TickDecisions(context.log)
    registered = set(context.instance.get_dynamic_partitions(ORGANIZATIONS))
    if not whatsapp.is_enabled():
        for org_id in sorted(registered):
            decisions.record(org_id, Decision.PAUSED, f"{DISPATCH_ENV}=off")
        return decisions.skip_reason("WhatsApp dispatch is paused")
    with crm_db.engine.connect() as conn:
        due = set(organizations_with_due_messages(conn, datetime.now(UTC), whatsapp.claim_expiry()))
    busy = {
        run.tags.get(PARTITION_TAG): run.run_id
        for run in context.instance.get_runs(
            filters=dg.RunsFilter(job_name=whatsapp_dispatch.name, statuses=IN_PROGRESS)
        )
    }
    now = datetime.now(UTC)
    requests = []
    for org_id in sorted(registered | due):
        if org_id not in due:
            decisions.record(org_id, Decision.NOTHING_DUE)
        elif org_id in busy:
            decisions.record(org_id, Decision.IN_PROGRESS, f"run {busy[org_id]}")
        else:
            decisions.record(org_id, Decision.LAUNCHED, "messages are due")
            requests.append(
                dg.RunRequest(run_key=f"whatsapp:{org_id}@{now:%Y%m%dT%H%M}", partition_key=org_id)
            )
    if not requests:
        return decisions.skip_reason()
    # An organization with messages but no ERP integration is not registered by the
    # organizations sensor; its dispatch partition is added here.
    unregistered = sorted(due - registered)
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=(
            [organization_partitions.build_add_request(unregistered)] if unregistered else []
        ),
    )
