"""Online Software wire models (docs/erp-wire-formats.md#online-software): the `listarVendas001`
request and response.

Numbers arrive as strings ("45.90", sometimes "45,90"), except the item's `vcusto`, a JSON
number; dates are DD/MM/YYYY with an optional DD/MM/YYYY HH:mm[:ss] `datahora`. The models
keep the values the mapper reads as the ERP sent them (the mapper parses them, so a bad value is
reported with its field name instead of failing the whole payload); other keys are ignored
here - the raw record itself is stored in the extract and hashed whole. The mapper checks
records against WireSale and WireItem by hand, field by field in their order, instead of
validating a model per record and per item (a 20,000-sale day has ~90,000 items).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from recompra_pipelines.domain.parsing import format_ddmmyyyy

LISTAR_VENDAS_ROUTINE = "listarVendas001"
LISTAR_VENDAS_PATH = "/planodecontas/apirestweb/vends/listvends.php"
DEFAULT_SERVER_URL = "https://onlinesoftware.com.br"

# Decimal: a JSON integer too long for int (json_codec), kept exact to be reported as such.
WireScalar = str | int | float | Decimal | None


class ListSalesRequest(BaseModel):
    token: str
    rotina: str = LISTAR_VENDAS_ROUTINE
    dtinicio: str
    dtfim: str

    @classmethod
    def for_day(cls, token: str, day: date) -> ListSalesRequest:
        text = format_ddmmyyyy(day)
        return cls(token=token, dtinicio=text, dtfim=text)

    def without_secrets(self) -> dict[str, str]:
        return {"rotina": self.rotina, "dtinicio": self.dtinicio, "dtfim": self.dtfim}


class WireItem(BaseModel):
    model_config = ConfigDict(extra="ignore")

    codigo: WireScalar = None
    descricao: WireScalar = None
    unidade: WireScalar = None
    qtde: WireScalar = None
    valorunit: WireScalar = None
    vprod: WireScalar = None
    vdesc: WireScalar = None
    vcusto: WireScalar = None
    tipo: WireScalar = None
    ncm: WireScalar = None
    grupo: WireScalar = None


# Fiscal item fields copied verbatim into sale_items.metadados
# (docs/erp-wire-formats.md#item-fields).
FISCAL_ITEM_FIELDS = (
    "baseicms", "percent", "icms", "cst_icms", "csosn", "cst_pis", "cfop", "vfrete",
    "vseg", "voutro", "vipi", "vicmsst", "vicms_desonera", "cest",
)  # fmt: skip


class WireSale(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: WireScalar = None
    cliente: WireScalar = None
    clientefone: WireScalar = None
    clientecelular: WireScalar = None
    documento: WireScalar = None
    modelo: WireScalar = None
    serie: WireScalar = None
    valor: WireScalar = None
    movimento: WireScalar = None
    data: WireScalar = None
    datahora: WireScalar = None
    vendedor: WireScalar = None
    natureza: WireScalar = None
    tipo: WireScalar = None
    parceiro: WireScalar = None
    situacao: WireScalar = None
    chave: WireScalar = None
    itens: Any = Field(default=None)
