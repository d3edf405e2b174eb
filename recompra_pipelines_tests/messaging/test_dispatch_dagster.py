"""The immediate-dispatch asset in a sync partition run, and the dispatcher sensor."""

from __future__ import annotations

from datetime import date

import dagster as dg

from recompra_pipelines.assets.whatsapp_dispatch import whatsapp_immediate_dispatch
from recompra_pipelines.automation.whatsapp_dispatch import whatsapp_dispatch_sensor
from recompra_pipelines.partitions import ORGANIZATIONS, org_day_key
from recompra_pipelines.resources.crm_database import CrmDatabase
from recompra_pipelines.resources.whatsapp import WhatsAppCloudApi
from recompra_pipelines_tests.messaging.support import (
    TOKEN,
    interaction,
    new_client,
    new_interaction,
    simulator_for_templates,
    whatsapp_org,
)


def test_immediate_dispatch_asset_sends_only_immediate_ones(engine, database_url, instance):
    org_id = whatsapp_org(engine)
    immediate = new_interaction(engine, org_id, new_client(engine, org_id))
    scheduled = new_interaction(
        engine, org_id, new_client(engine, org_id), day=date(2099, 1, 1), block="18:00"
    )
    instance.add_dynamic_partitions(ORGANIZATIONS, [org_id])
    simulator = simulator_for_templates()
    with simulator.run_in_thread() as url:
        result = dg.materialize(
            [whatsapp_immediate_dispatch],
            partition_key=str(org_day_key(org_id, date.today())),
            instance=instance,
            resources={
                "crm_db": CrmDatabase(url=database_url),
                "whatsapp": WhatsAppCloudApi(enabled=True, graph_url=url, api_version="v22.0"),
            },
        )
    assert result.success
    assert interaction(engine, immediate).status_envio == "ENVIADO"
    assert interaction(engine, scheduled).status_envio == "PENDENTE"
    materialization = result.asset_materializations_for_node("whatsapp_immediate_dispatch")[0]
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert metadata["sent"] == 1
    assert TOKEN not in repr(metadata)


def test_sensor_requests_a_run_per_organization_with_due_messages(engine, database_url, instance):
    org_id = whatsapp_org(engine)
    new_interaction(engine, org_id, new_client(engine, org_id))
    resources = {
        "crm_db": CrmDatabase(url=database_url),
        "whatsapp": WhatsAppCloudApi(enabled=True),
    }
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        result = whatsapp_dispatch_sensor(context)
    mine = [r for r in result.run_requests if r.partition_key == org_id]
    assert len(mine) == 1
    # Not registered by the organizations sensor (no ERP): its dispatch partition is added.
    assert org_id in result.dynamic_partitions_requests[0].partition_keys
    with dg.build_sensor_context(
        instance=instance,
        resources={**resources, "whatsapp": WhatsAppCloudApi(enabled=False)},
    ) as paused:
        assert isinstance(whatsapp_dispatch_sensor(paused), dg.SkipReason)
