"""A campaign trigger is its definition (domain.campaign_triggers): a throwaway trigger
registered at test time is accepted by the org file, written and loaded by the database code,
put in the generated CHECK and dispatched on purchase, with no other edit. The worked example
is docs/adding-a-campaign-trigger.md."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from recompra_pipelines.db import campaign_interactions as store
from recompra_pipelines.db.tables.base import checked_enum, metadata
from recompra_pipelines.db.tables.sync import organizations
from recompra_pipelines.domain.campaign_rules import Campaign, Purchase, fires, meets_trigger
from recompra_pipelines.domain.campaign_triggers import (
    PURCHASE_VARIABLES,
    Firing,
    TriggerDefinition,
    registered,
    trigger_definitions,
    trigger_kinds,
)
from recompra_pipelines.orgfile.engagement import EngagementConfig
from recompra_pipelines.orgfile_store.engagement_writer import apply_engagement
from recompra_pipelines.sync.lifecycle_steps import CANDIDATE_FINDERS

# Fires on every even-numbered purchase of a client, from a minimum value.
EVEN_PURCHASE = TriggerDefinition(
    kind="COMPRA-PAR",
    title="Compra de número par",
    fires=Firing.ON_PURCHASE,
    meets=lambda campaign, purchase: (
        purchase.position % 2 == 0
        and (
            campaign.new_purchase_minimum is None or purchase.value >= campaign.new_purchase_minimum
        )
    ),
    thresholds=frozenset({"minimum_sale_value"}),
    variables=PURCHASE_VARIABLES,
    percent_cashback=True,
)


def _campaign_file(trigger: object) -> dict:
    return {"campaigns": [{"key": "pares", "title": "Pares", "trigger": trigger}]}


def _purchase(position: int, value: str = "50.00") -> Purchase:
    return Purchase(
        sale_id=uuid.uuid4(),
        sale_revision=0,
        client_id=uuid.uuid4(),
        value=Decimal(value),
        time=datetime(2026, 11, 20, 15, tzinfo=UTC),
        position=position,
        running_total=Decimal(value) * position,
        rfm_title=None,
        seller_name=None,
    )


def test_an_unregistered_trigger_is_refused_by_name():
    with pytest.raises(ValidationError, match="'COMPRA-PAR' is not a campaign trigger"):
        EngagementConfig.model_validate(_campaign_file("COMPRA-PAR"))


def test_the_org_file_takes_a_registered_trigger_with_its_own_thresholds():
    with registered(EVEN_PURCHASE):
        config = EngagementConfig.model_validate(
            _campaign_file({"type": "COMPRA-PAR", "minimum_sale_value": "30.00"})
        )
        assert config.campaigns[0].trigger.minimum_sale_value == Decimal("30.00")
        with pytest.raises(ValidationError, match="purchase_count does not apply to COMPRA-PAR"):
            EngagementConfig.model_validate(
                _campaign_file({"type": "COMPRA-PAR", "purchase_count": 2})
            )
    assert "COMPRA-PAR" not in trigger_kinds()  # the registration ends with the block


def test_purchase_dispatch_uses_the_definitions_condition():
    with registered(EVEN_PURCHASE):
        assert "COMPRA-PAR" in trigger_kinds(Firing.ON_PURCHASE)
        campaign = Campaign(
            id=uuid.uuid4(),
            title="Pares",
            trigger="COMPRA-PAR",
            segmentations=frozenset(),
            new_purchase_minimum=Decimal("30.00"),
        )
        assert fires(campaign, _purchase(2))
        assert not fires(campaign, _purchase(3))
        assert not meets_trigger(campaign, _purchase(4, "10.00"))


def test_the_generated_check_the_writer_and_the_loader_take_it(engine):
    """In one rolled-back transaction: the CHECK generated from the registry replaces the
    migrated one (what the trigger's migration does), the org file's campaign is written, and
    the purchase step's query loads it."""
    org_id = f"org-{uuid.uuid4().hex[:10]}"
    with registered(EVEN_PURCHASE), engine.connect() as conn, conn.begin() as transaction:
        generated = sa.Table(
            "campaigns",
            sa.MetaData(naming_convention=metadata.naming_convention),
            sa.Column("gatilho_tipo", checked_enum("gatilho_tipo", trigger_kinds())),
        )
        (check,) = [c for c in generated.constraints if isinstance(c, sa.CheckConstraint)]
        conn.execute(sa.text("ALTER TABLE campaigns DROP CONSTRAINT ck_campaigns_gatilho_tipo"))
        conn.execute(sa.schema.AddConstraint(check))
        conn.execute(organizations.insert().values(id=org_id, nome="Loja Par"))
        config = EngagementConfig.model_validate(_campaign_file("COMPRA-PAR"))
        apply_engagement(conn, org_id, config)
        loaded = store.active_campaigns(conn, org_id)
        assert [(c.title, c.trigger) for c in loaded] == [("Pares", "COMPRA-PAR")]
        assert fires(loaded[0], _purchase(2))
        transaction.rollback()


def test_the_migrated_check_refuses_an_unmigrated_trigger(engine):
    """Without its migration a registered trigger cannot be stored: the CHECK is the schema's."""
    org_id = f"org-{uuid.uuid4().hex[:10]}"
    with registered(EVEN_PURCHASE), engine.connect() as conn, conn.begin() as transaction:
        conn.execute(organizations.insert().values(id=org_id, nome="Loja Par"))
        config = EngagementConfig.model_validate(_campaign_file("COMPRA-PAR"))
        with pytest.raises(sa.exc.IntegrityError, match="ck_campaigns_gatilho_tipo"):
            apply_engagement(conn, org_id, config)
        transaction.rollback()


def test_every_daily_trigger_has_a_candidate_finder():
    daily = set(trigger_kinds(Firing.DAILY))
    assert daily == set(CANDIDATE_FINDERS)
    assert daily | set(trigger_kinds(Firing.ON_PURCHASE)) == {d.kind for d in trigger_definitions()}


def test_a_definition_is_coherent():
    with pytest.raises(ValueError, match="purchase condition iff it fires on purchase"):
        TriggerDefinition(kind="X", title="X", fires=Firing.DAILY, meets=lambda c, p: True)
    with pytest.raises(ValueError, match="required thresholds must be accepted ones"):
        TriggerDefinition(
            kind="X",
            title="X",
            fires=Firing.DAILY,
            required=frozenset({"notice"}),
        )
