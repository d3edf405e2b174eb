"""Every idempotency key format, built here and only here.

A key names the business event a row stands for, and a unique index on
``(organizacao_id, chave_idempotencia)`` makes a re-run or an overlapping run write nothing
twice. Where the ledger builds keys set-wise in SQL, ``db.key_sql`` holds the same formats as
SQL expressions, and a test on PostgreSQL proves both spell every key alike.

Ledger entries (``cashback_program_transactions``):
- ``acumulo:<sale>:r<validity revision>[.c<content revision>]:<role>:<beneficiary>``;
- ``estorno:<lot>`` reverses an accrual lot; ``expiracao:<lot>`` expires what is left of it;
- ``campanha:<campaign>:interacao:<interaction>[.c<content revision>]``, a campaign's cashback;
- ``resgate:<reference>``, a point-of-sale redemption.

Interactions: ``<campaign>:<client>:venda:<sale>:r<validity revision>`` for a purchase, else
``<campaign>:<client>:<event>`` with the daily trigger's event part: ``segmento:<label>:<since>``,
``permanencia:<label>:<since>``, ``expira:<lot>``, ``aniversario:<yyyy>``,
``recorrente:<yyyy-mm-dd>``.
"""

from __future__ import annotations

from datetime import date


def content_revision_suffix(content_revision: int) -> str:
    """The part of a sale-tied key naming the sale's content revision: nothing for revision 0
    (so every key written before edits were reconciled stays valid), ``.c<n>`` once the ERP
    edited the sale's value n times: ``acumulo:<sale>:r0.c2:comprador:<client>``."""
    return f".c{content_revision}" if content_revision else ""


# ---------------------------------------------------------------------------------- ledger


def accrual_key(
    sale_id: object,
    validity_revision: int,
    content_revision: int,
    role: str,
    beneficiary_id: object,
) -> str:
    """A sale's accrual for one beneficiary (``role``: COMPRADOR or PARCEIRO, lower-cased)."""
    return (
        f"acumulo:{sale_id}:r{validity_revision}{content_revision_suffix(content_revision)}"
        f":{role.lower()}:{beneficiary_id}"
    )


def reversal_key(lot_id: object) -> str:
    return f"estorno:{lot_id}"


def expiry_key(lot_id: object) -> str:
    return f"expiracao:{lot_id}"


def campaign_grant_key(campaign_id: object, interaction_id: object, content_revision: int) -> str:
    return f"campanha:{campaign_id}:interacao:{interaction_id}" + content_revision_suffix(
        content_revision
    )


def redemption_key(reference: str) -> str:
    return f"resgate:{reference}"


# ---------------------------------------------------------------------------- interactions


def purchase_interaction_key(
    campaign_id: object, client_id: object, sale_id: object, sale_revision: int
) -> str:
    """One interaction per campaign, client and sale revision."""
    return f"{campaign_id}:{client_id}:venda:{sale_id}:r{sale_revision}"


def event_interaction_key(campaign_id: object, client_id: object, event: str) -> str:
    """One interaction per campaign, client and trigger event (``event`` below)."""
    return f"{campaign_id}:{client_id}:{event}"


def segment_entry_event(label: str, since: date) -> str:
    return f"segmento:{label}:{since}"


def segment_stay_event(label: str, since: date) -> str:
    return f"permanencia:{label}:{since}"


def expiring_event(lot_id: object) -> str:
    return f"expira:{lot_id}"


def birthday_event(year: int) -> str:
    return f"aniversario:{year}"


def recurrent_event(day: date) -> str:
    return f"recorrente:{day.isoformat()}"
