"""A third-party connector registers through the entry-point group and syncs like a built-in:
the example plugin of examples/example_erp, installed the way `pip install` does it."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest

from recompra_pipelines.connectors.registry import CONNECTORS, ENTRY_POINT_GROUP
from recompra_pipelines.orgfile.organization import OrgFile
from recompra_pipelines.orgfile_store.writer import apply_org_file
from recompra_pipelines.testing import ErpAnswer, erp_server
from recompra_pipelines_tests.helpers import count, materialize_day

DAY = date(2026, 11, 20)
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "example_erp"
PLUGIN = "example_erp.connector:ExampleErpConnector"


@pytest.fixture
def installed_plugin(tmp_path):
    """What `pip install examples/example_erp` leaves on sys.path: the package and a dist-info
    with its entry_points.txt."""
    dist_info = tmp_path / "example_erp-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: example-erp\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nexample-erp = {PLUGIN}\n")
    sys.path[:0] = [str(tmp_path), str(EXAMPLE)]
    CONNECTORS.reload()
    yield
    sys.path.remove(str(tmp_path))
    sys.path.remove(str(EXAMPLE))
    CONNECTORS.reload()


def _three_sales(request) -> ErpAnswer:
    sales = [
        {"id": f"V{n}", "status": "pago", "total": f"{10 * n}.50", "cliente": f"Cliente {n}",
         "fone": f"(11) 9{n}123-4567", "itens": [{"sku": "CAFE", "qtd": "1", "valor": f"{10 * n}.50"}]}
        for n in (1, 2, 3)
    ]  # fmt: skip
    return ErpAnswer(200, {"vendas": sales, "completo": True})


def test_an_entry_point_connector_is_registered_and_syncs(
    installed_plugin, engine, database_url, instance
):
    assert "EXAMPLE-ERP" in CONNECTORS and "CARDAPIO-WEB" in CONNECTORS
    with erp_server(_three_sales) as erp:
        org = OrgFile.model_validate(
            {
                "id": "example-plugin-org",
                "name": "Loja Exemplo",
                "integration": {
                    "type": "example-erp",
                    "store_code": "LJ1",
                    "server_url": erp.url,
                    "api_key": "example-key-0123",
                },
            }
        )
        with engine.begin() as conn:
            apply_org_file(conn, org)

        assert materialize_day(instance, database_url, org.id, DAY).success

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
