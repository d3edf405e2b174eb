"""Staging of one org x day: the validated sales of its latest extract, and its quarantine."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from recompra_pipelines.db.bulk import analyze_after_bulk_write, copy_rows
from recompra_pipelines.db.tables.sync import (
    erp_quarantine,
    erp_staging_extracts,
    erp_staging_sales,
)
from recompra_pipelines.domain.normalization import NormalizedSale
from recompra_pipelines.domain.sales import CanonicalItem, first_line_per_product
from recompra_pipelines.domain.storable import json_problem
from recompra_pipelines.json_codec import canonical_bytes

SALE_COLUMNS = (
    "organizacao_id", "data_referencia", "id_externo", "integracao_tipo",
    "cliente_nome", "cliente_nome_chave", "cliente_telefone", "cliente_telefone_base",
    "cliente_telefone_e164", "cliente_id_externo", "vendedor_nome", "vendedor_identificador",
    "parceiro", "parceiro_identificador", "parceiro_cpf_cnpj", "valor_total", "custo_total",
    "itens_valor_liquido", "documento", "modelo", "serie", "movimento", "natureza", "tipo",
    "situacao", "chave", "canal", "entrega_modalidade", "data_venda", "data_venda_precisao",
    "valida", "hash_conteudo",
    "valor_desconto", "valor_taxa_entrega", "valor_taxa_servico", "valor_taxa_adicional",
    "descontos", "pagamentos", "entrega_endereco", "itens",
)  # fmt: skip

# A staged sale's items: a JSON array of objects with these fields, in the ERP's order.
ITEM_FIELDS = (
    ("linha", "int"), ("produto_codigo", "text"), ("quantidade", "numeric"),
    ("valor_unitario", "numeric"), ("valor_venda_total_bruto", "numeric"),
    ("valor_total_desconto", "numeric"), ("valor_venda_total_liquido", "numeric"),
    ("valor_custo_unitario", "numeric"), ("valor_custo_total", "numeric"), ("metadados", "jsonb"),
)  # fmt: skip

# The day's products (erp_staging_extracts.produtos): each code once, from its first line.
PRODUCT_FIELDS = (
    ("codigo", "text"), ("descricao", "text"), ("unidade", "text"), ("grupo", "text"),
    ("ncm", "text"), ("tipo", "text"),
)  # fmt: skip


def staged_items(sale: str = "s") -> str:
    """SQL: the items of the staged sale aliased `sale`, as rows `i` (after a comma or LATERAL)."""
    return _recordset(f"{sale}.itens", "i", ITEM_FIELDS)


def staged_products(extract: str = "e") -> str:
    """SQL: the day's products of the staged extract aliased `extract`, as rows `p`."""
    return _recordset(f"{extract}.produtos", "p", PRODUCT_FIELDS)


def _recordset(column: str, alias: str, fields: tuple[tuple[str, str], ...]) -> str:
    columns = ", ".join(f"{name} {kind}" for name, kind in fields)
    return f"json_to_recordset({column}) AS {alias}({columns})"


@dataclass(frozen=True)
class QuarantinedRecord:
    external_id: str | None
    field: str | None
    reason: str
    record: Any
    record_hash: str


@dataclass(frozen=True)
class StagingSummary:
    received: int
    staged: int
    quarantined: int
    troco_dropped: int
    # The extract lists the whole day, and the ids it lists that are not staged.
    complete: bool = False
    listed_not_staged: tuple[str, ...] = ()


def staged_content(conn: sa.Connection, org_id: str, day: date) -> dict[str, str]:
    """The staged sales of an org x day: content hash -> external id."""
    return dict(
        conn.execute(
            sa.select(erp_staging_sales.c.hash_conteudo, erp_staging_sales.c.id_externo).where(
                erp_staging_sales.c.organizacao_id == org_id,
                erp_staging_sales.c.data_referencia == day,
            )
        ).all()
    )


def replace_staging(
    conn: sa.Connection,
    *,
    org_id: str,
    day: date,
    integration_type: str,
    extract_id: UUID,
    content_hash: str,
    sales: Sequence[NormalizedSale],
    unchanged: Collection[str],
    quarantined: Sequence[QuarantinedRecord],
    summary: StagingSummary,
) -> None:
    """Make staging hold exactly this extract's sales: the `unchanged` ones (external ids)
    keep their staged rows, `sales` replace or join the rest, anything else goes. Records
    the quarantined records."""
    conn.execute(
        sa.text(
            "DELETE FROM erp_staging_sales s WHERE s.organizacao_id = :org"
            " AND s.data_referencia = :day AND NOT EXISTS ("
            "SELECT 1 FROM unnest(CAST(:unchanged AS text[])) AS kept(id_externo)"
            " WHERE kept.id_externo = s.id_externo)"
        ),
        {"org": org_id, "day": day, "unchanged": list(unchanged)},
    )
    copy_rows(
        conn,
        "erp_staging_sales",
        SALE_COLUMNS,
        (_sale_row(org_id, day, integration_type, s) for s in sales),
        json_columns=("descontos", "pagamentos", "entrega_endereco", "itens"),
    )
    # The next steps join staging with the CRM tables on these keys.
    analyze_after_bulk_write(
        conn,
        len(sales),
        "erp_staging_sales (organizacao_id, data_referencia, id_externo, integracao_tipo,"
        " vendedor_identificador, parceiro_identificador, cliente_telefone_base,"
        " cliente_nome_chave)",
    )
    _record_quarantine(conn, org_id, day, integration_type, extract_id, quarantined)
    products = _day_products(conn, org_id, day, sales, keep_previous=bool(unchanged))
    conn.execute(
        insert(erp_staging_extracts)
        .values(
            organizacao_id=org_id,
            data_referencia=day,
            extracao_id=extract_id,
            hash_conteudo=content_hash,
            produtos=products,
            registros_recebidos=summary.received,
            registros_validos=summary.staged,
            registros_quarentena=summary.quarantined,
            linhas_troco_descartadas=summary.troco_dropped,
            resposta_completa=summary.complete,
            ids_nao_carregados=list(summary.listed_not_staged),
        )
        .on_conflict_do_update(
            index_elements=["organizacao_id", "data_referencia"],
            set_={
                "extracao_id": extract_id,
                "hash_conteudo": content_hash,
                "registros_recebidos": summary.received,
                "registros_validos": summary.staged,
                "registros_quarentena": summary.quarantined,
                "linhas_troco_descartadas": summary.troco_dropped,
                "resposta_completa": summary.complete,
                "ids_nao_carregados": list(summary.listed_not_staged),
                "produtos": products,
                "normalizado_em": sa.func.now(),
            },
        )
    )


def _day_products(
    conn: sa.Connection,
    org_id: str,
    day: date,
    sales: Sequence[NormalizedSale],
    *,
    keep_previous: bool,
) -> list[dict[str, Any]]:
    """The day's products for the entity step. Sales kept from the previous staging keep their
    products in the list (a product whose entity step crashed must still be created); the
    newly staged sales add the codes not in it."""
    products: dict[str, dict[str, Any]] = {}
    if keep_previous:
        previous = conn.scalar(
            sa.select(erp_staging_extracts.c.produtos).where(
                erp_staging_extracts.c.organizacao_id == org_id,
                erp_staging_extracts.c.data_referencia == day,
            )
        )
        products = {p["codigo"]: p for p in previous or []}
    for item in first_line_per_product(n.sale for n in sales):
        products.setdefault(item.product_code, _product_object(item))
    return list(products.values())


def _record_quarantine(
    conn: sa.Connection,
    org_id: str,
    day: date,
    integration_type: str,
    extract_id: UUID,
    quarantined: Sequence[QuarantinedRecord],
) -> None:
    if not quarantined:
        return
    statement = insert(erp_quarantine).on_conflict_do_update(
        index_elements=["organizacao_id", "data_referencia", "integracao_tipo", "hash_registro"],
        set_={"ultima_ocorrencia_em": sa.func.now(), "extracao_id": extract_id},
    )
    conn.execute(
        statement,
        [
            {
                "organizacao_id": org_id,
                "data_referencia": day,
                "integracao_tipo": integration_type,
                "extracao_id": extract_id,
                "id_externo": q.external_id,
                "campo": q.field,
                "motivo": q.reason,
                **_record_columns(q.record),
                "hash_registro": q.record_hash,
            }
            for q in quarantined
        ],
    )


def _record_columns(record: Any) -> dict[str, Any]:
    """The quarantined record as JSONB, or as its JSON bytes when JSONB cannot hold it."""
    if json_problem(record) is None:
        return {"registro": record, "registro_bruto": None}
    return {"registro": None, "registro_bruto": canonical_bytes(record)}


def _sale_row(org_id: str, day: date, integration_type: str, n: NormalizedSale) -> tuple:
    s, c, p = n.sale, n.client, n.partner
    return (
        org_id, day, s.external_id, integration_type,
        c.name if c else None, c.name_key if c else None, c.phone if c else None,
        c.phone_base if c else None, c.phone_e164 if c else None, c.external_id if c else None,
        n.seller_name, n.seller_key,
        p.code if p else (s.partner_code or "N/A"), p.identifier if p else None,
        p.document if p else None,
        s.total, s.total_cost, s.items_net_total, s.document, s.model, s.series, s.movement,
        s.stored_nature, s.sale_type, s.situation, s.access_key or "N/A", s.channel, s.delivery_mode,
        n.sale_time, n.sale_time_precision, n.valid, s.content_hash,
        s.discount_total, s.delivery_fee, s.service_fee, s.additional_fee,
        list(s.discounts) or None, list(s.payments) or None,
        s.delivery_address.as_record() if s.delivery_address else None,
        [_item_object(i) for i in s.items],
    )  # fmt: skip


def _item_object(i: CanonicalItem) -> dict[str, Any]:
    """One element of a staged sale's `itens` (ITEM_FIELDS); amounts as exact decimal text."""
    return {
        "linha": i.line, "produto_codigo": i.product_code, "quantidade": i.quantity,
        "valor_unitario": i.unit_price, "valor_venda_total_bruto": i.gross,
        "valor_total_desconto": i.discount, "valor_venda_total_liquido": i.net,
        "valor_custo_unitario": i.unit_cost, "valor_custo_total": i.total_cost,
        "metadados": i.extra or None,
    }  # fmt: skip


def _product_object(i: CanonicalItem) -> dict[str, Any]:
    """One element of the staged day's `produtos` (PRODUCT_FIELDS)."""
    return {
        "codigo": i.product_code, "descricao": i.description, "unidade": i.unit,
        "grupo": i.group, "ncm": i.ncm, "tipo": i.product_type,
    }  # fmt: skip
