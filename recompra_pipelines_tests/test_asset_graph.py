"""The asset graph an operator sees: one group per domain, connected lineage, and the
`erp_sync` job running exactly the sync graph with its checks, in one process, few steps."""

from __future__ import annotations

import dagster as dg

from recompra_pipelines.asset_groups import SYNC_GRAPH_ASSETS, AssetGroup
from recompra_pipelines.definitions import defs

GRAPH = defs.resolve_asset_graph()
INGESTION_ROOT = dg.AssetKey("erp_raw_extract")


def _group(key: dg.AssetKey) -> str:
    return GRAPH.get(key).group_name


def test_every_asset_outside_the_ingestion_root_has_an_upstream():
    roots = {key for key in GRAPH.get_all_asset_keys() if not GRAPH.get(key).parent_keys}
    assert INGESTION_ROOT in roots
    # Only what fetches from an ERP stands alone, and fetching is the erp group's business.
    assert {_group(root) for root in roots} == {AssetGroup.ERP}


def test_groups_are_the_domains():
    groups = {_group(key) for key in GRAPH.get_all_asset_keys()}
    assert groups == set(AssetGroup)
    expected = {
        "erp_raw_extract": AssetGroup.ERP,
        "erp_normalized_sales": AssetGroup.ERP,
        "crm_entities": AssetGroup.ERP,
        "crm_sales": AssetGroup.ERP,
        "cashback_ledger": AssetGroup.CASHBACK,
        "cashback_expiry": AssetGroup.CASHBACK,
        "campaign_interactions": AssetGroup.CAMPAIGNS,
        "sale_attribution": AssetGroup.CAMPAIGNS,
        "whatsapp_immediate_dispatch": AssetGroup.MESSAGING,
        "whatsapp_scheduled_dispatch": AssetGroup.MESSAGING,
        "rfm_analysis": AssetGroup.LIFECYCLE,
        "lifecycle_campaigns": AssetGroup.LIFECYCLE,
        "erp_retention": AssetGroup.MAINTENANCE,
    }
    assert {name: _group(dg.AssetKey(name)) for name in expected} == expected


def test_reads_are_declared_with_their_partition_windows():
    def parents(name: str) -> set[str]:
        return {key.to_user_string() for key in GRAPH.get(dg.AssetKey(name)).parent_keys}

    assert parents("rfm_analysis") == {"crm_sales"}
    assert parents("lifecycle_campaigns") == {"rfm_analysis", "cashback_expiry"}
    assert parents("cashback_expiry") == {"cashback_ledger"}
    assert parents("campaign_interactions") == {"cashback_ledger", "rfm_analysis"}
    assert parents("whatsapp_scheduled_dispatch") == {
        "campaign_interactions",
        "lifecycle_campaigns",
    }
    assert parents("erp_retention") == {"erp_raw_extract", "erp_normalized_sales"}

    # The RFM of a day reads the 12 months that end with it, of the same organization only.
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("organizations", ["loja-a", "loja-b"])
        from dagster._core.definitions.partitions.context import partition_loading_context

        with partition_loading_context(dynamic_partitions_store=instance):
            upstream = GRAPH.get_parent_partition_keys_for_child(
                "2025-06-10|loja-a", dg.AssetKey("crm_sales"), dg.AssetKey("rfm_analysis")
            ).partitions_subset.get_partition_keys()
            outbox = GRAPH.get_parent_partition_keys_for_child(
                "loja-b",
                dg.AssetKey("campaign_interactions"),
                dg.AssetKey("whatsapp_scheduled_dispatch"),
            ).partitions_subset.get_partition_keys()
    upstream = sorted(upstream)
    assert upstream[0] == "2024-06-10|loja-a" and upstream[-1] == "2025-06-10|loja-a"
    assert {key.split("|")[1] for key in upstream} == {"loja-a"}
    assert {key.split("|")[1] for key in outbox} == {"loja-b"}


def test_the_sync_job_runs_its_assets_and_their_checks_in_few_in_process_steps():
    job = defs.resolve_job_def("erp_sync")
    assert {key.to_user_string() for key in job.asset_layer.executable_asset_keys} == set(
        SYNC_GRAPH_ASSETS
    )
    checks = job.asset_layer.asset_graph.asset_check_keys
    assert {key.asset_key.to_user_string() for key in checks} <= set(SYNC_GRAPH_ASSETS)
    # Checks that read the same data share a step: 8 assets + 4 check steps (22 before).
    assert len(job.graph.node_defs) == 12
    assert job.executor_def is dg.in_process_executor


def test_runs_the_ui_launches_for_an_asset_selection_are_in_process_too():
    implicit = defs.resolve_implicit_global_asset_job_def()
    assert implicit.executor_def is dg.in_process_executor


def test_the_code_location_serializes_as_the_webserver_receives_it():
    """What the code server sends the webserver and daemon: anything it cannot serialize (an
    enum member for a group name, say) makes the whole location fail to load in the UI."""
    from dagster._core.remote_representation.external_data import RepositorySnap
    from dagster._serdes import serialize_value

    assert serialize_value(RepositorySnap.from_def(defs.get_repository_def()))
