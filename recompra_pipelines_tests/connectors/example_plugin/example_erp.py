"""A complete ERP connector in one file: what docs/adding-an-integration.md walks through.

"Example ERP" answers a day as `{"vendas": [...]}`; this connector fabricates that answer from
its config instead of calling a server, so the test can show registration and the sync alone.
A real connector calls its ERP with httpx in `fetch_day` (see connectors/cardapio_web).
"""

from __future__ import annotations

import json
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import Field

from recompra_pipelines.connectors.base import Connector, ConnectorConfig, id_field
from recompra_pipelines.connectors.errors import ErpPayloadError
from recompra_pipelines.connectors.extract import RawExtract
from recompra_pipelines.domain.parsing import parse_non_negative_decimal, quantize_money
from recompra_pipelines.domain.sales import (
    CanonicalItem,
    CanonicalSale,
    RecordRejected,
    SaleStatus,
    record_hash,
)


class ExampleConfig(ConnectorConfig):
    """The org file's `integration` section for this type (besides `type` and `active`)."""

    store_code: str = Field(min_length=1)
    sales_per_day: int = Field(3, ge=0)


class ExampleErpConnector(Connector[ExampleConfig]):
    integration_type = "EXAMPLE-ERP"
    config_model = ExampleConfig

    def fetch_day(self, config, day: date, settings, *, timezone: ZoneInfo, previous=None):
        sales = [
            {"id": f"{config.store_code}-{day:%Y%m%d}-{n}", "total": f"{10 * (n + 1)}.50",
             "cliente": f"Cliente {n}", "fone": f"(11) 9{n}123-4567", "hora": f"1{n}:00",
             "itens": [{"sku": "CAFE", "nome": "Café", "qtd": "1", "valor": f"{10 * (n + 1)}.50"}]}
            for n in range(config.sales_per_day)
        ]  # fmt: skip
        text = json.dumps({"vendas": sales}, sort_keys=True)
        return RawExtract.from_text(
            request={"day": day.isoformat()}, status_code=200, text=text, attempts=1
        )

    def records(self, text: str) -> list[Any]:
        body = json.loads(text)
        if not isinstance(body, dict) or not isinstance(body.get("vendas"), list):
            raise ErpPayloadError("response has no 'vendas' list")
        return body["vendas"]

    def record_id(self, record: Any) -> str | None:
        return id_field(record, "id")

    def map_record(self, record: Any, *, day: date, timezone: ZoneInfo) -> CanonicalSale:
        if not isinstance(record, dict) or not record.get("id"):
            raise RecordRejected("id", "missing")
        try:
            total = quantize_money(parse_non_negative_decimal(record.get("total")))
        except ValueError as error:
            raise RecordRejected("total", str(error)) from None
        hour = time.fromisoformat(record["hora"])
        items = tuple(
            CanonicalItem(
                line=n, product_code=i["sku"], description=i["nome"], unit="UN", group=None,
                ncm=None, product_type=None, quantity=Decimal(i["qtd"]),
                unit_price=Decimal(i["valor"]), gross=Decimal(i["valor"]),
                discount=Decimal("0"), net=Decimal(i["valor"]), unit_cost=Decimal("0"),
                total_cost=Decimal("0"),
            )
            for n, i in enumerate(record["itens"], start=1)
        )  # fmt: skip
        return CanonicalSale(
            external_id=str(record["id"]), business_date=day,
            erp_time=datetime.combine(day, hour, tzinfo=timezone),
            client_name=record.get("cliente"), client_phone=record.get("fone"),
            client_external_id=None, seller_name=None, partner_code=None, total=total,
            status=SaleStatus.COMPLETED, model="EXAMPLE", series="N/A", document="N/A", movement="N/A",
            sale_type=None, situation="FECHADO", access_key=None, channel="Loja Física",
            delivery_mode="PRESENCIAL", items=items, content_hash=record_hash(record),
        )  # fmt: skip
