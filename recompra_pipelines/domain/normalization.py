"""From a canonical sale to the facts the CRM stores: buyer evidence, seller, partner, time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from recompra_pipelines.domain.client_matching import ClientEvidence
from recompra_pipelines.domain.documents import parse_tax_document
from recompra_pipelines.domain.local_time import local_midnight
from recompra_pipelines.domain.names import (
    clean_name,
    is_anonymous_client,
    is_placeholder_reference,
    name_match_key,
)
from recompra_pipelines.domain.phones import parse_brazilian_phone
from recompra_pipelines.domain.sales import CanonicalSale

# Precision of a stored sale time (sales.data_venda_precisao).
TIME_FROM_ERP = "ERP"
TIME_FROM_CAPTURE = "CAPTURA"
DATE_ONLY = "DIA"


@dataclass(frozen=True)
class PartnerReference:
    identifier: str  # the document's digits, else the trimmed code: what partners match on
    code: str  # as the ERP sent it
    # The CPF/CNPJ in the CRM's masked form (000.000.000-00, 00.000.000/0000-00) when the code
    # is one: the CRM application stores and shows documents so.
    document: str | None


@dataclass(frozen=True)
class NormalizedSale:
    sale: CanonicalSale
    client: ClientEvidence | None  # None: anonymous sale
    seller_name: str  # as shown on the sale ("N/A" when none)
    seller_key: str | None
    partner: PartnerReference | None
    sale_time: datetime
    sale_time_precision: str
    valid: bool


def best_known_sale_time(
    erp_time: datetime | None, business_date: date, timezone: ZoneInfo, first_seen_at: datetime
) -> tuple[datetime, str]:
    """The real time of a sale as well as we know it (the old code reset it to midnight).

    The ERP's own time wins. Without it, a sale first seen on its own day happened shortly
    before the sync saw it, so the capture time is the best estimate; a sale seen on a later
    day (a backfill) only has its date.
    """
    if erp_time is not None:
        return erp_time, TIME_FROM_ERP
    if first_seen_at.astimezone(timezone).date() == business_date:
        return first_seen_at, TIME_FROM_CAPTURE
    return local_midnight(business_date, timezone), DATE_ONLY


def client_evidence(sale: CanonicalSale) -> ClientEvidence | None:
    if is_anonymous_client(sale.client_name):
        return None
    phone = parse_brazilian_phone(sale.client_phone)
    return ClientEvidence(
        name=clean_name(sale.client_name),
        name_key=name_match_key(sale.client_name),
        phone=phone.display if phone else None,
        phone_base=phone.base if phone else None,
        phone_e164=phone.e164 if phone else None,
        external_id=sale.client_external_id,
    )


def partner_reference(code: str | None) -> PartnerReference | None:
    if is_placeholder_reference(code):
        return None
    raw = (code or "").strip()
    document = parse_tax_document(raw)
    if document is not None:
        return PartnerReference(identifier=document.digits, code=raw, document=document.formatted)
    return PartnerReference(identifier=raw, code=raw, document=None)


def normalize_sale(
    sale: CanonicalSale, timezone: ZoneInfo, first_seen_at: datetime
) -> NormalizedSale:
    seller_missing = is_placeholder_reference(sale.seller_name)
    sale_time, precision = best_known_sale_time(
        sale.erp_time, sale.business_date, timezone, first_seen_at
    )
    return NormalizedSale(
        sale=sale,
        client=client_evidence(sale),
        seller_name=(sale.seller_name or "N/A").strip() or "N/A",
        seller_key=None if seller_missing else name_match_key(sale.seller_name),
        partner=partner_reference(sale.partner_code),
        sale_time=sale_time,
        sale_time_precision=precision,
        valid=sale.valid,
    )
