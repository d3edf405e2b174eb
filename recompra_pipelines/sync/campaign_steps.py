"""The campaign and attribution steps of one org x day (after sales and the ledger)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from recompra_pipelines.db import campaign_interactions as store
from recompra_pipelines.db.attribution import AttributionCounts, attribute_day
from recompra_pipelines.db.bulk import lock_organization
from recompra_pipelines.db.ledger import (
    CampaignGrant,
    grant_campaign_cashbacks,
    reconcile_campaign_grants,
)
from recompra_pipelines.domain.campaign_rules import (
    Campaign,
    Decision,
    Purchase,
    Trigger,
    campaign_cashback,
    campaign_cashback_expiry,
    decide,
    eligible_for_effects,
    fires,
    idempotency_key,
    meets_trigger,
)
from recompra_pipelines.domain.vocabulary import CONSENT_SKIPS, SkipReason
from recompra_pipelines.domain.whatsapp_consent import ConsentSettings, consent_skip
from recompra_pipelines.messaging import contacts
from recompra_pipelines.sync.allocation import collector_paused
from recompra_pipelines.sync.organizations import Organization, load_organization


@dataclass(frozen=True)
class CampaignCounts:
    purchases: int
    not_eligible: int  # before the effects start, or first seen too late
    interactions_created: int
    skipped_frequency: int
    skipped_daily_cap: int
    skipped_consent: int  # opted out, or the number is suppressed after a 131026
    cancelled_with_sale: int
    # Unsent interactions whose sale the ERP changed so that it no longer meets the trigger.
    withdrawn_sale_changed: int
    cashback_grants: int
    # Campaign cashback decided again (an edited sale's percentage) or reversed (withdrawn).
    cashback_revised: int
    cashback_reversed: int


def create_purchase_interactions(
    engine: sa.Engine, org_id: str, day: date, now: datetime
) -> CampaignCounts:
    """Turn the day's purchases into campaign interactions, exactly once per trigger key.

    Runs under the organization's lock, so two overlapping runs decide frequency and caps one
    after the other; the unique idempotency key makes a repeated decision a no-op.
    """
    with collector_paused(), engine.begin() as conn:
        lock_organization(conn, org_id)
        org = load_organization(conn, org_id)
        cancelled = store.cancel_interactions_of_cancelled_sales(conn, org_id, day)
        campaigns = store.active_campaigns(conn, org_id)
        purchases = store.day_purchases(conn, org_id, day)
        withdrawn = _withdraw_unqualified(conn, org_id, day, campaigns, purchases)
        eligible = [
            purchase
            for purchase, first_seen in purchases
            if eligible_for_effects(
                day, first_seen, org.timezone, org.effects_start, org.max_sale_age_days
            )
        ]
        candidates = [(c, p) for p in eligible for c in campaigns if fires(c, p)]
        inserted, granted = create_interactions(conn, org, candidates, now)
        grants = reconcile_campaign_grants(conn, org_id, day, now, SkipReason.SALE_CHANGED)
    reasons = [decision.skip_reason for _, decision in inserted]
    return CampaignCounts(
        purchases=len(purchases),
        not_eligible=len(purchases) - len(eligible),
        interactions_created=reasons.count(None),
        skipped_frequency=reasons.count(SkipReason.FREQUENCY),
        skipped_daily_cap=reasons.count(SkipReason.DAILY_CAP),
        skipped_consent=sum(reason in CONSENT_SKIPS for reason in reasons),
        cancelled_with_sale=cancelled,
        withdrawn_sale_changed=withdrawn,
        cashback_grants=granted,
        cashback_revised=grants.revisions,
        cashback_reversed=grants.reversals,
    )


def _withdraw_unqualified(
    conn: sa.Connection,
    org_id: str,
    day: date,
    campaigns: Sequence[Campaign],
    purchases: Sequence[tuple[Purchase, datetime]],
) -> int:
    """Unsent interactions the day's sales no longer qualify for: the ERP moved the sale to
    another buyer, or changed it (its value, its place in the client's history) so that the
    campaign's trigger no longer holds. A paused campaign's are left to the dispatcher."""
    by_campaign = {campaign.id: campaign for campaign in campaigns}
    by_sale = {purchase.sale_id: purchase for purchase, _ in purchases}
    stale = [
        row.id
        for row in store.unsent_sale_interactions(conn, org_id, day)
        if (campaign := by_campaign.get(row.campanha_id)) is not None
        and (purchase := by_sale.get(row.venda_id)) is not None
        and (purchase.client_id != row.cliente_id or not meets_trigger(campaign, purchase))
    ]
    return store.withdraw(conn, org_id, stale, SkipReason.SALE_CHANGED)


def create_interactions(
    conn: sa.Connection,
    org: Organization,
    candidates: Sequence[tuple[Campaign, Purchase | Trigger]],
    now: datetime,
) -> tuple[list[tuple[Any, Decision]], int]:
    """The one creation path of every trigger (purchases and the daily ones): drop candidates
    whose idempotency key exists, apply frequency rules and the daily cap, insert the
    interactions (skips with their reason) and grant campaign cashback. The caller holds the
    organization lock. Returns the (interaction id, decision) pairs inserted and the grants."""
    keys = [idempotency_key(c, p) for c, p in candidates]
    decided = store.existing_keys(conn, org.id, keys)
    new = [candidate for candidate, key in zip(candidates, keys, strict=True) if key not in decided]
    if not new:
        return [], 0  # all decided by an earlier run: no history, balances or ledger to read
    clients = sorted({p.client_id for _, p in new}, key=str)
    withheld, allowed = _consent_decisions(conn, org, new, clients, now)
    decisions = withheld + decide(
        allowed,
        store.interaction_history(conn, org.id, clients, org.timezone),
        org.timezone,
        org.daily_message_cap,
    )
    inserted = store.insert_interactions(
        conn, org.id, decisions, org.timezone, now, store.balances(conn, org.id, clients)
    )
    return inserted, _grant_campaign_cashback(conn, org.id, inserted, org.timezone, now)


def _consent_decisions(
    conn: sa.Connection,
    org: Organization,
    candidates: Sequence[tuple[Campaign, Purchase | Trigger]],
    clients: Sequence[Any],
    now: datetime,
) -> tuple[list[Decision], list[tuple[Campaign, Purchase | Trigger]]]:
    """Candidates whose client opted out (marketing) or whose number WhatsApp reported
    undeliverable are recorded skipped with the reason, before frequency and the daily cap
    count them; the rest go on to be decided."""
    known = contacts.client_contacts(conn, org.id, clients)
    if not known:
        return [], list(candidates)
    suppression = ConsentSettings.parse(org.settings).unreachable_suppression
    withheld, allowed = [], []
    for campaign, purchase in candidates:
        reason = consent_skip(
            marketing=campaign.marketing,
            contact=known.get(purchase.client_id),
            suppression=suppression,
            now=now,
        )
        if reason is None:
            allowed.append((campaign, purchase))
        else:
            withheld.append(Decision(campaign, purchase, reason))
    return withheld, allowed


def _grant_campaign_cashback(conn, org_id: str, inserted, timezone, now: datetime) -> int:
    """Campaign cashback through the ledger, once per interaction (the ledger's key), all the
    interactions' grants in one pass."""
    grants = []
    for interaction_id, decision in inserted:
        campaign, purchase = decision.campaign, decision.purchase
        amount = campaign_cashback(campaign, purchase.value)
        if decision.skip_reason or amount is None:
            continue
        expires_on = campaign_cashback_expiry(campaign, purchase.time.astimezone(timezone).date())
        grants.append(
            CampaignGrant(
                client_id=purchase.client_id,
                campaign_id=campaign.id,
                interaction_id=interaction_id,
                amount=amount,
                expires_on=expires_on,
                sale_id=purchase.sale_id,
                sale_content_revision=purchase.sale_content_revision,
            )
        )
    entries = grant_campaign_cashbacks(conn, org_id, grants, now)
    return sum(entry is not None for entry in entries)


def attribute_sales(engine: sa.Engine, org_id: str, day: date) -> AttributionCounts:
    with collector_paused(), engine.begin() as conn:
        lock_organization(conn, org_id)
        return attribute_day(conn, org_id, day)
