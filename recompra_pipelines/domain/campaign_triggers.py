"""Every campaign trigger, each described once: what it is called, how it fires, which
thresholds it takes, what its templates may use and how it treats segmentations.

The rest of the project derives from this registry: ``campaigns.gatilho_tipo``'s CHECK
(``db.tables.campaigns``), the org file's ``trigger`` and its validation
(``orgfile.engagement``), which campaigns the purchase step and the daily lifecycle run load
(``sync.campaign_steps``, ``sync.lifecycle_steps``) and the purchase condition
(``campaign_rules.meets_trigger``). ``docs/adding-a-campaign-trigger.md`` walks through adding
one.

The purchase conditions read a campaign and a purchase (``domain.campaign_rules``); they only
touch attributes, so this module imports nothing from there at run time and the rules can
import the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from recompra_pipelines.domain.vocabulary import TemplateVariable

if TYPE_CHECKING:
    from recompra_pipelines.domain.campaign_rules import Campaign, Purchase


class Firing(StrEnum):
    """When a trigger is decided."""

    # Per valid sale, by the campaigns step of the day's sync (a pure `meets` condition).
    ON_PURCHASE = "on purchase"
    # Once a day by `lifecycle_daily`, whose candidate finder for the trigger lists the
    # clients (sync.lifecycle_steps).
    DAILY = "daily lifecycle"


class Segmentation(StrEnum):
    """How a trigger treats a campaign's RFM segmentations."""

    OPTIONAL = "optional"  # an empty list means every client
    REQUIRED = "required"  # the trigger is about a segment: at least one
    NONE = "none"  # the trigger reaches every client: segmentations are refused


# What a template may use on every trigger: the client's fields and its cashback balances.
CLIENT_VARIABLES = frozenset(v for v in TemplateVariable if v.startswith("client"))
PURCHASE_VARIABLES = frozenset(v for v in TemplateVariable if v.startswith("purchase"))
EXPIRING_VARIABLES = frozenset(
    {TemplateVariable.CASHBACK_EXPIRING_AMOUNT, TemplateVariable.CASHBACK_EXPIRING_DATE}
)
CASHBACK_VARIABLES = (
    frozenset(v for v in TemplateVariable if v.startswith("cashback")) - EXPIRING_VARIABLES
)
# The title format of an interaction when the trigger does not name its own.
CAMPAIGN_MESSAGE_TITLE = "Envio de mensagem automática via campanha {title}"

PurchaseCondition = Callable[["Campaign", "Purchase"], bool]


@dataclass(frozen=True)
class TriggerDefinition:
    """One campaign trigger.

    ``thresholds`` are the fields of the org file's ``trigger`` this type accepts
    (``orgfile.engagement.TriggerConfig``), ``required`` those it cannot do without;
    ``variables`` what its templates may use beyond the client's and cashback variables
    (every trigger has those). ``percent_cashback``: the trigger has a purchase value, so a
    PERCENTUAL campaign cashback has something to take a percentage of.
    """

    kind: str  # campaigns.gatilho_tipo, and `trigger` in an org file
    title: str  # how the CRM names it
    fires: Firing
    meets: PurchaseCondition | None = None  # ON_PURCHASE: whether a purchase meets it
    thresholds: frozenset[str] = frozenset()
    required: frozenset[str] = frozenset()
    variables: frozenset[TemplateVariable] = frozenset()
    segmentation: Segmentation = Segmentation.OPTIONAL
    percent_cashback: bool = False
    grants_cashback: bool = True
    # Sends in the campaign's own block every time (no delay): a calendar trigger.
    own_block: bool = False
    interaction_title: str = CAMPAIGN_MESSAGE_TITLE

    def __post_init__(self) -> None:
        if (self.fires is Firing.ON_PURCHASE) != (self.meets is not None):
            raise ValueError(f"trigger {self.kind}: a purchase condition iff it fires on purchase")
        if not self.required <= self.thresholds:
            raise ValueError(f"trigger {self.kind}: required thresholds must be accepted ones")

    @property
    def template_variables(self) -> frozenset[TemplateVariable]:
        """What an interaction of this trigger can fill a template with."""
        return CLIENT_VARIABLES | CASHBACK_VARIABLES | self.variables


# ----------------------------------------------------------------------- purchase conditions


def _first_purchase(campaign: Campaign, purchase: Purchase) -> bool:
    return purchase.position == 1


def _new_purchase(campaign: Campaign, purchase: Purchase) -> bool:
    minimum = campaign.new_purchase_minimum
    return purchase.position > 1 and (minimum is None or purchase.value >= minimum)


def _purchase_count(campaign: Campaign, purchase: Purchase) -> bool:
    return campaign.purchase_count is not None and purchase.position == campaign.purchase_count


def _purchase_total(campaign: Campaign, purchase: Purchase) -> bool:
    """The running total crosses the threshold with this sale (Decimal, not float equality)."""
    threshold = campaign.purchase_total
    return (
        threshold is not None
        and purchase.running_total - purchase.value < threshold <= purchase.running_total
    )


def _cashback_accrued(campaign: Campaign, purchase: Purchase) -> bool:
    accrued, balance = purchase.cashback_accrued, purchase.cashback_balance_after
    return (
        accrued is not None
        and accrued > 0
        and (campaign.new_cashback_minimum is None or accrued >= campaign.new_cashback_minimum)
        and (
            campaign.total_cashback_minimum is None
            or (balance or 0) >= campaign.total_cashback_minimum
        )
    )


# ------------------------------------------------------------------------------ definitions

FIRST_PURCHASE = TriggerDefinition(
    kind="PRIMEIRA-COMPRA",
    title="Primeira compra",
    fires=Firing.ON_PURCHASE,
    meets=_first_purchase,
    variables=PURCHASE_VARIABLES,
    percent_cashback=True,
)
NEW_PURCHASE = TriggerDefinition(
    kind="NOVA-COMPRA",
    title="Nova compra",
    fires=Firing.ON_PURCHASE,
    meets=_new_purchase,
    thresholds=frozenset({"minimum_sale_value"}),
    variables=PURCHASE_VARIABLES,
    percent_cashback=True,
)
PURCHASE_COUNT = TriggerDefinition(
    kind="QUANTIDADE-TOTAL-COMPRAS",
    title="Quantidade total de compras",
    fires=Firing.ON_PURCHASE,
    meets=_purchase_count,
    thresholds=frozenset({"purchase_count"}),
    required=frozenset({"purchase_count"}),
    variables=PURCHASE_VARIABLES,
    percent_cashback=True,
)
PURCHASE_TOTAL = TriggerDefinition(
    kind="VALOR-TOTAL-COMPRAS",
    title="Valor total de compras",
    fires=Firing.ON_PURCHASE,
    meets=_purchase_total,
    thresholds=frozenset({"purchase_total"}),
    required=frozenset({"purchase_total"}),
    variables=PURCHASE_VARIABLES,
    percent_cashback=True,
)
CASHBACK_ACCRUED = TriggerDefinition(
    kind="CASHBACK-ACUMULADO",
    title="Cashback acumulado",
    fires=Firing.ON_PURCHASE,
    meets=_cashback_accrued,
    thresholds=frozenset({"new_cashback_minimum", "total_cashback_minimum"}),
    variables=PURCHASE_VARIABLES,
)
CASHBACK_EXPIRING = TriggerDefinition(
    kind="CASHBACK-EXPIRANDO",
    title="Cashback expirando",
    fires=Firing.DAILY,
    thresholds=frozenset({"notice"}),
    variables=EXPIRING_VARIABLES,
    segmentation=Segmentation.NONE,
    interaction_title="Cashback Expirando: {title}",
)
SEGMENT_ENTRY = TriggerDefinition(
    kind="ENTRADA-SEGMENTAÇÃO",
    title="Entrada em segmentação",
    fires=Firing.DAILY,
    segmentation=Segmentation.REQUIRED,
)
SEGMENT_STAY = TriggerDefinition(
    kind="PERMANÊNCIA-SEGMENTAÇÃO",
    title="Permanência em segmentação",
    fires=Firing.DAILY,
    thresholds=frozenset({"time_in_segment"}),
    required=frozenset({"time_in_segment"}),
    segmentation=Segmentation.REQUIRED,
)
BIRTHDAY = TriggerDefinition(
    kind="ANIVERSARIO_CLIENTE",
    title="Aniversário do cliente",
    fires=Firing.DAILY,
    segmentation=Segmentation.NONE,
    interaction_title="Aniversário: {title}",
)
RECURRENT = TriggerDefinition(
    kind="RECORRENTE",
    title="Recorrente",
    fires=Firing.DAILY,
    thresholds=frozenset({"recurrence"}),
    required=frozenset({"recurrence"}),
    grants_cashback=False,
    own_block=True,
    interaction_title="Recorrente: {title}",
)

# The registry, in the order the CHECK and the docs list them.
_REGISTRY: dict[str, TriggerDefinition] = {
    d.kind: d
    for d in (
        FIRST_PURCHASE,
        NEW_PURCHASE,
        PURCHASE_COUNT,
        PURCHASE_TOTAL,
        CASHBACK_ACCRUED,
        CASHBACK_EXPIRING,
        SEGMENT_ENTRY,
        SEGMENT_STAY,
        BIRTHDAY,
        RECURRENT,
    )
}


def trigger_definitions() -> tuple[TriggerDefinition, ...]:
    return tuple(_REGISTRY.values())


def trigger_kinds(fires: Firing | None = None) -> tuple[str, ...]:
    """Every trigger type, or those that fire the given way."""
    return tuple(d.kind for d in _REGISTRY.values() if fires is None or d.fires is fires)


def trigger_definition(kind: str) -> TriggerDefinition:
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise ValueError(
            f"{kind!r} is not a campaign trigger; use one of {', '.join(map(repr, _REGISTRY))}"
        ) from None


@contextmanager
def registered(definition: TriggerDefinition) -> Iterator[TriggerDefinition]:
    """``definition`` in the registry for the duration: how a test shows that a new trigger is
    picked up by everything that reads the registry. (A real trigger is a definition above.)"""
    if definition.kind in _REGISTRY:
        raise ValueError(f"trigger {definition.kind} is already registered")
    _REGISTRY[definition.kind] = definition
    try:
        yield definition
    finally:
        del _REGISTRY[definition.kind]
