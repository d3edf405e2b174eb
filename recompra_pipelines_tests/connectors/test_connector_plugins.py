"""A third-party connector registers through the entry-point group and syncs like a built-in."""

from __future__ import annotations

import sys
from datetime import date

import pytest

from recompra_pipelines.connectors.registry import CONNECTORS, ENTRY_POINT_GROUP
from recompra_pipelines.orgfile.organization import OrgFile
from recompra_pipelines.orgfile_store.writer import apply_org_file
from recompra_pipelines_tests.helpers import count, materialize_day

DAY = date(2026, 11, 20)
PLUGIN = "recompra_pipelines_tests.connectors.example_plugin.example_erp:ExampleErpConnector"


@pytest.fixture
def installed_plugin(tmp_path):
    """What `pip install example-erp` leaves on sys.path: a dist-info with entry_points.txt."""
    dist_info = tmp_path / "example_erp-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: example-erp\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nexample-erp = {PLUGIN}\n")
    sys.path.insert(0, str(tmp_path))
    CONNECTORS.reload()
    yield
    sys.path.remove(str(tmp_path))
    CONNECTORS.reload()


def test_an_entry_point_connector_is_registered_and_syncs(
    installed_plugin, engine, database_url, instance
):
    assert "EXAMPLE-ERP" in CONNECTORS and "CARDAPIO-WEB" in CONNECTORS
    org = OrgFile.model_validate(
        {
            "id": "example-plugin-org",
            "name": "Loja Exemplo",
            "integration": {"type": "example-erp", "store_code": "LJ1", "sales_per_day": 3},
        }
    )
    with engine.begin() as conn:
        apply_org_file(conn, org)

    materialize_day(instance, database_url, org.id, DAY)

    assert count(engine, "SELECT count(*) FROM sales WHERE organizacao_id = :o", o=org.id) == 3
    assert count(engine, "SELECT count(*) FROM clients WHERE organizacao_id = :o", o=org.id) == 3


def test_a_broken_plugin_is_left_out_and_the_built_ins_still_load(tmp_path):
    dist_info = tmp_path / "broken-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nbroken = no_such_module:X\n"
    )
    sys.path.insert(0, str(tmp_path))
    CONNECTORS.reload()
    try:
        assert {"ONLINE-SOFTWARE", "CARDAPIO-WEB"} <= set(CONNECTORS)
        assert "broken" not in CONNECTORS
    finally:
        sys.path.remove(str(tmp_path))
        CONNECTORS.reload()
