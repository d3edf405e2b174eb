"""The engagement part of an org file: cashback program, WhatsApp connection and templates,
campaigns.

Field names are English snake_case; enumerated values keep the business's strings
(``FIXO``, ``PRIMEIRA-COMPRA``, ``DIAS``, ``18:00``, ``CLIENTES RECENTES``).
``orgfile_store/engagement_writer.py`` maps the models to the Portuguese columns.

Everything that can be checked without the database is checked here, so a bad file fails
before anything is written, with a message naming the campaign or template and the field.
Money and percentages are ``Decimal`` with at most 2 decimal places: a YAML float such as
``0.1`` is read through its shortest text form (``Decimal("0.1")``), never through its
binary value, and a third decimal place is an error rather than a silent rounding.

Example::

    cashback_program:
      accrual_type: PERCENTUAL
      accrual_value: 5
      minimum_sale_value: "20.00"
      expiry_days: 90
    whatsapp:
      connection:                    # Meta's Cloud API (type: cloud-api, the default)
        phone_number_id: "104857600000001"
        business_account_id: "209715200000001"
        token_env: WHATSAPP_TOKEN_LOJA_CENTRO
      # or the internal gateway:
      #   connection: {type: internal-gateway, gateway_url: "https://wa-gateway.internal",
      #                secret_env: INTERNAL_WHATSAPP_GATEWAY_API_SECRET, session_id: loja-centro}
      consent:                       # optional; these are the defaults
        opt_out_keywords: [PARAR, SAIR, STOP, CANCELAR, PARAR PROMOÇÕES, STOP PROMOTIONS]
        opt_in_keywords: [VOLTAR, RECEBER, START]
        unreachable_suppression_days: 30
      templates:
        - name: boas_vindas
          parameters: [clientName, cashbackAvailableBalance]
          body: "Olá {{1}}! Você tem {{2}} de cashback."
    campaigns:
      - key: boas-vindas
        title: Boas-vindas
        trigger: PRIMEIRA-COMPRA
        segmentations: [CLIENTES RECENTES]
        template: boas_vindas
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    field_validator,
    model_validator,
)

from recompra_pipelines.connectors.config import check_secret
from recompra_pipelines.domain.campaign_triggers import (
    Segmentation,
    trigger_definition,
    trigger_definitions,
)
from recompra_pipelines.domain.segments import RfmSegment
from recompra_pipelines.domain.vocabulary import (
    AmountType,
    RecurrenceType,
    ScheduleBlock,
    TemplateCategory,
    TemplateStatus,
    TemplateVariable,
    TimeUnit,
    values,
)
from recompra_pipelines.domain.whatsapp_consent import (
    DEFAULT_OPT_IN_KEYWORDS,
    DEFAULT_OPT_OUT_KEYWORDS,
    DEFAULT_UNREACHABLE_SUPPRESSION_DAYS,
    ConsentSettings,
    keyword_key,
)
from recompra_pipelines.domain.whatsapp_dispatch import ConnectionType
from recompra_pipelines.domain.whatsapp_messages import NEVER_FILLED


def _decimal_from_text(value: Any) -> Any:
    """Read floats through their shortest text form, so ``0.1`` is exactly ``Decimal("0.1")``."""
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


Money = Annotated[
    Decimal,
    BeforeValidator(_decimal_from_text),
    Field(ge=0, max_digits=14, decimal_places=2, allow_inf_nan=False),
]

_BLOCKS = values(ScheduleBlock)
# PyYAML reads an unquoted 12:00 as the base-60 integer 720 (YAML 1.1); map it back.
_BLOCK_FROM_YAML_SEXAGESIMAL = {int(block[:2]) * 60: block for block in _BLOCKS}


def _schedule_block(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        value = _BLOCK_FROM_YAML_SEXAGESIMAL.get(value, value)
    if value not in _BLOCKS:
        raise ValueError(
            f"{value!r} is not a scheduling block; use one of {', '.join(_BLOCKS)} (quoted in YAML)"
        )
    return value


Block = Annotated[ScheduleBlock, BeforeValidator(_schedule_block)]


def _graph_id(value: Any) -> Any:
    """Graph API ids are digit strings that YAML may have read as numbers."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


GraphId = Annotated[
    str, BeforeValidator(_graph_id), Field(pattern=r"^[A-Za-z0-9_-]+$", max_length=64)
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_percentage(kind: str | None, value: Decimal | None, field: str) -> None:
    if kind == AmountType.PERCENT and value is not None and value > 100:
        raise ValueError(f"{field} is a percentage and must be between 0 and 100, got {value}")


class Period(_Model):
    """An amount of time, e.g. ``{value: 30, unit: DIAS}``."""

    value: int = Field(ge=1)
    unit: TimeUnit = TimeUnit.DAYS


# ----------------------------------------------------------------------------- cashback


class CashbackProgramConfig(_Model):
    """The organization's cashback program (one active program per organization)."""

    accrual_type: AmountType
    # Reais per sale (FIXO) or percent of the sale value (PERCENTUAL).
    accrual_value: Money
    # Credited to the partner's linked client, same type and minimum as the buyer's.
    partner_accrual_value: Money = Decimal("0")
    minimum_sale_value: Money = Decimal("0")
    # This pipeline only sees ERP sales, so a program declared here accrues from them unless
    # turned off (the database default, false, is the old CRM's).
    allow_via_integration: bool = True
    # Days a credit stays usable; omitted: credits never expire.
    expiry_days: int | None = Field(default=None, ge=1)
    redemption_limit_type: AmountType | None = None
    redemption_limit_value: Money | None = None
    active: bool = True
    # A cancelled sale whose cashback was partly redeemed already: write the redeemed part
    # off, or claw it back (the balance may go negative until later accruals repay it).
    reversal_of_redeemed: Literal["write_off", "claw_back"] = "write_off"

    @model_validator(mode="after")
    def _coherent(self) -> CashbackProgramConfig:
        _check_percentage(self.accrual_type, self.accrual_value, "accrual_value")
        _check_percentage(self.accrual_type, self.partner_accrual_value, "partner_accrual_value")
        if (self.redemption_limit_type is None) != (self.redemption_limit_value is None):
            raise ValueError(
                "redemption_limit_type and redemption_limit_value go together: give both or neither"
            )
        _check_percentage(
            self.redemption_limit_type, self.redemption_limit_value, "redemption_limit_value"
        )
        return self


# ----------------------------------------------------------------------------- WhatsApp


# `whatsapp.connection.type` in an org file (omitted: the Cloud API).
CLOUD_API = "cloud-api"
INTERNAL_GATEWAY = "internal-gateway"


class WhatsAppConnectionConfig(_Model):
    """A Cloud API phone number. Give the token itself or, better, the environment variable
    holding it (``token_env``), so the file can be committed without the secret: only the
    variable's name is stored, and dispatch reads it from its own environment."""

    type: Literal[CLOUD_API] = CLOUD_API
    phone_number_id: GraphId
    business_account_id: GraphId
    token: SecretStr | None = None
    token_env: str | None = None

    @model_validator(mode="after")
    def _token_or_reference(self) -> WhatsAppConnectionConfig:
        check_secret(self.token, self.token_env, "token")
        return self

    @property
    def connection_type(self) -> ConnectionType:
        return ConnectionType.CLOUD_API


class InternalGatewayConnectionConfig(_Model):
    """A session of the company's internal WhatsApp gateway (``POST <gateway_url>/messages/send``
    with the rendered text). Its secret is never in the file nor in the database: only the
    name of the environment variable that holds it, read by the process that sends."""

    type: Literal[INTERNAL_GATEWAY]
    gateway_url: str = Field(pattern=r"^https?://[^\s/]+(/\S*)?$", max_length=2000)
    secret_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    session_id: str = Field(min_length=1, max_length=200, pattern=r"^\S+$")

    @property
    def connection_type(self) -> ConnectionType:
        return ConnectionType.INTERNAL_GATEWAY


def _connection_kind(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind or CLOUD_API


Connection = Annotated[
    Annotated[WhatsAppConnectionConfig, Tag(CLOUD_API)]
    | Annotated[InternalGatewayConnectionConfig, Tag(INTERNAL_GATEWAY)],
    Discriminator(
        _connection_kind,
        custom_error_type="connection_type",
        custom_error_message="connection type must be cloud-api (default) or internal-gateway",
    ),
]


class ConsentConfig(_Model):
    """Customers' consent over WhatsApp: a message that is exactly one of ``opt_out_keywords``
    (case, accents and punctuation ignored) stops marketing messages to that phone, one of
    ``opt_in_keywords`` resumes them; a number WhatsApp reports undeliverable (131026) is not
    messaged for ``unreachable_suppression_days`` (0: never suppressed)."""

    opt_out_keywords: list[str] = Field(
        default_factory=lambda: list(DEFAULT_OPT_OUT_KEYWORDS), min_length=1
    )
    opt_in_keywords: list[str] = Field(
        default_factory=lambda: list(DEFAULT_OPT_IN_KEYWORDS), min_length=1
    )
    unreachable_suppression_days: int = Field(
        default=DEFAULT_UNREACHABLE_SUPPRESSION_DAYS, ge=0, le=3650
    )

    @model_validator(mode="after")
    def _distinct_keywords(self) -> ConsentConfig:
        for field in ("opt_out_keywords", "opt_in_keywords"):
            if any(not keyword_key(k) for k in getattr(self, field)):
                raise ValueError(f"{field}: a keyword needs letters or digits")
        both = {keyword_key(k) for k in self.opt_out_keywords} & {
            keyword_key(k) for k in self.opt_in_keywords
        }
        if both:
            raise ValueError(
                f"{', '.join(sorted(both))} cannot be both an opt-out and an opt-in keyword"
            )
        return self

    def settings(self) -> ConsentSettings:
        return ConsentSettings(
            opt_out_keywords=tuple(self.opt_out_keywords),
            opt_in_keywords=tuple(self.opt_in_keywords),
            unreachable_suppression=timedelta(days=self.unreachable_suppression_days),
        )


class TemplateParameterConfig(_Model):
    """One body parameter: the variable that fills it and, for named templates, its name.
    For positional templates the bare variable key is enough (``- clientName``)."""

    variable: TemplateVariable
    name: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$")

    @model_validator(mode="before")
    @classmethod
    def _bare_variable(cls, value: Any) -> Any:
        return {"variable": value} if isinstance(value, str) else value


# Meta language codes: pt_BR, en, en_US, zh_HANS…
_LANGUAGE = r"^[a-z]{2,3}(_[A-Za-z]{2,4})?$"
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")


class TemplateConfig(_Model):
    """A message template as registered with Meta."""

    name: str = Field(pattern=r"^[a-z0-9_]+$", max_length=512)
    language: str = Field(default="pt_BR", pattern=_LANGUAGE)
    category: TemplateCategory = TemplateCategory.MARKETING
    parameter_format: Literal["positional", "named"] = "positional"
    parameters: list[TemplateParameterConfig] = Field(default_factory=list)
    header_type: Literal["none", "image", "video", "document"] = "none"
    header_media_url: str | None = Field(default=None, pattern=r"^https?://\S+$", max_length=2000)
    body: str = Field(min_length=1, max_length=1024)
    # Meta's approval status; a template-sync job may later keep it current.
    status: TemplateStatus = TemplateStatus.APPROVED

    @model_validator(mode="after")
    def _coherent(self) -> TemplateConfig:
        label = f"template {self.name!r} ({self.language})"
        if (self.header_type == "none") != (self.header_media_url is None):
            raise ValueError(
                f"{label}: header_media_url is required for an image, video or document header"
                " and not allowed without one"
            )
        placeholders = _PLACEHOLDER.findall(self.body)
        if self.parameter_format == "positional":
            if any(p.name is not None for p in self.parameters):
                raise ValueError(f"{label}: positional parameters take no name")
            expected = [str(i) for i in range(1, len(self.parameters) + 1)]
            if sorted(set(placeholders), key=_numeric_first) != expected:
                raise ValueError(
                    f"{label}: the body's placeholders {_listing(placeholders)} must be exactly"
                    f" {_listing(expected)}, one per listed parameter"
                )
        else:
            names = [p.name for p in self.parameters]
            if None in names:
                raise ValueError(f"{label}: every parameter of a named template needs a name")
            if len(set(names)) != len(names):
                raise ValueError(f"{label}: parameter names must be unique")
            if set(placeholders) != set(names):
                raise ValueError(
                    f"{label}: the body's placeholders {_listing(placeholders)} must match the"
                    f" parameter names {_listing(names)}"
                )
        return self

    @property
    def variables(self) -> set[str]:
        return {p.variable for p in self.parameters}


def _numeric_first(text: str) -> tuple[int, str]:
    return (int(text), "") if text.isdigit() else (1 << 30, text)


def _listing(names: list[str | None]) -> str:
    unique = sorted({n for n in names if n is not None}, key=_numeric_first)
    return ", ".join("{{" + n + "}}" for n in unique) or "(none)"


class WhatsAppConfig(_Model):
    connection: Connection
    templates: list[TemplateConfig] = Field(default_factory=list)
    consent: ConsentConfig = Field(default_factory=ConsentConfig)

    @field_validator("templates")
    @classmethod
    def _unique(cls, templates: list[TemplateConfig]) -> list[TemplateConfig]:
        seen: set[tuple[str, str]] = set()
        for template in templates:
            key = (template.name, template.language)
            if key in seen:
                raise ValueError(
                    f"template {template.name!r} ({template.language}) is declared twice"
                )
            seen.add(key)
        return templates


# ----------------------------------------------------------------------------- campaigns

# Every threshold field of TriggerConfig; which of them a trigger accepts and requires is in
# its definition (domain.campaign_triggers).
_THRESHOLDS = (
    "minimum_sale_value",
    "purchase_count",
    "purchase_total",
    "new_cashback_minimum",
    "total_cashback_minimum",
    "notice",
    "time_in_segment",
    "recurrence",
)


def _trigger_type(value: Any) -> Any:
    """A registered trigger type (the registry is read at validation time, so a trigger
    defined there needs nothing here)."""
    if isinstance(value, str):
        trigger_definition(value)  # raises, listing the types, when it is not one
    return value


def _variables_available(trigger: str) -> set[str]:
    """What an interaction of this trigger can fill a template with (its definition's
    variables: the client's and cashback on every trigger, the purchase on purchase triggers,
    the expiring cashback on CASHBACK-EXPIRANDO), never what nothing fills."""
    return set(trigger_definition(trigger).template_variables) - NEVER_FILLED


class RecurrenceConfig(_Model):
    """When a RECORRENTE campaign runs: every ``interval`` days, weeks or months from
    ``start_date``, on the listed ``weekdays`` (0 = Sunday … 6 = Saturday; SEMANAL) or
    ``month_days`` (1–31; MENSAL)."""

    type: RecurrenceType
    interval: int = Field(default=1, ge=1)
    weekdays: list[int] | None = None
    month_days: list[int] | None = None
    start_date: date | None = None

    @model_validator(mode="after")
    def _coherent(self) -> RecurrenceConfig:
        for field, needed_by, low, high in (
            ("weekdays", "SEMANAL", 0, 6),
            ("month_days", "MENSAL", 1, 31),
        ):
            days = getattr(self, field)
            if (self.type == needed_by) != (days is not None):
                raise ValueError(f"recurrence {field} is required for {needed_by} and only for it")
            if days is None:
                continue
            if not days or any(not low <= day <= high for day in days):
                raise ValueError(f"recurrence {field} must list days between {low} and {high}")
            if len(set(days)) != len(days):
                raise ValueError(f"recurrence {field} lists a day twice")
            setattr(self, field, sorted(days))
        return self


class TriggerConfig(_Model):
    """What fires the campaign, with the thresholds of its type. ``trigger: NOVA-COMPRA``
    is short for ``trigger: {type: NOVA-COMPRA}``."""

    type: Annotated[str, BeforeValidator(_trigger_type)]
    minimum_sale_value: Money | None = None  # NOVA-COMPRA
    purchase_count: int | None = Field(default=None, ge=1)  # QUANTIDADE-TOTAL-COMPRAS
    purchase_total: Money | None = None  # VALOR-TOTAL-COMPRAS
    new_cashback_minimum: Money | None = None  # CASHBACK-ACUMULADO: this credit ≥
    total_cashback_minimum: Money | None = None  # CASHBACK-ACUMULADO: balance after it ≥
    notice: Period | None = None  # CASHBACK-EXPIRANDO: how long before expiry (default 3 DIAS)
    time_in_segment: Period | None = None  # PERMANÊNCIA-SEGMENTAÇÃO
    recurrence: RecurrenceConfig | None = None  # RECORRENTE

    @model_validator(mode="before")
    @classmethod
    def _bare_type(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _thresholds_fit_type(self) -> TriggerConfig:
        definition = trigger_definition(self.type)
        for field in _THRESHOLDS:
            given = getattr(self, field) is not None
            if given and field not in definition.thresholds:
                users = [d.kind for d in trigger_definitions() if field in d.thresholds]
                raise ValueError(
                    f"trigger {field} does not apply to {self.type} (it is for {', '.join(users)})"
                )
            if not given and field in definition.required:
                raise ValueError(f"trigger {field} is required for {self.type}")
        return self


class FrequencyConfig(_Model):
    """How often one client may get this campaign: once ever (``allow_repeat: false``), or
    again only after ``min_interval`` (omitted: no limit)."""

    allow_repeat: bool = True
    min_interval: Period | None = None

    @model_validator(mode="after")
    def _coherent(self) -> FrequencyConfig:
        if not self.allow_repeat and self.min_interval is not None:
            raise ValueError("frequency min_interval only applies when allow_repeat is true")
        return self


class ScheduleConfig(_Model):
    """When the message goes out: immediately (no ``delay``), or ``delay`` later in the
    3-hour ``block`` (organization time). RECORRENTE campaigns give only the block."""

    delay: Period | None = None
    block: Block | None = None


class CampaignCashbackConfig(_Model):
    """Cashback the campaign credits when it fires; ``expiry`` omitted: 30 days."""

    type: AmountType
    value: Money
    expiry: Period | None = None

    @model_validator(mode="after")
    def _coherent(self) -> CampaignCashbackConfig:
        _check_percentage(self.type, self.value, "cashback value")
        return self


class CampaignConfig(_Model):
    # Stable identifier within the organization: re-applying the file updates this campaign.
    key: str = Field(pattern=r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$", max_length=100)
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    active: bool = True
    trigger: TriggerConfig
    segmentations: list[RfmSegment] = Field(default_factory=list)
    frequency: FrequencyConfig = Field(default_factory=FrequencyConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    cashback: CampaignCashbackConfig | None = None
    attribution_window_days: int = Field(default=14, ge=1, le=365)
    # A template declared under whatsapp.templates, by name and language.
    template: str | None = None
    template_language: str = Field(default="pt_BR", pattern=_LANGUAGE)

    @model_validator(mode="after")
    def _coherent(self) -> CampaignConfig:
        label = f"campaign {self.key!r}"
        trigger = self.trigger.type
        definition = trigger_definition(trigger)
        if len(set(self.segmentations)) != len(self.segmentations):
            raise ValueError(f"{label}: a segmentation is listed twice")
        if definition.segmentation is Segmentation.REQUIRED and not self.segmentations:
            raise ValueError(f"{label}: a {trigger} campaign needs at least one segmentation")
        if definition.segmentation is Segmentation.NONE and self.segmentations:
            raise ValueError(
                f"{label}: {trigger} campaigns reach every client; remove segmentations"
            )
        if definition.own_block:
            if self.schedule.delay is not None or self.schedule.block is None:
                raise ValueError(
                    f"{label}: a {trigger} campaign takes schedule.block (the time of day it"
                    " sends) and no schedule.delay"
                )
        elif (self.schedule.delay is None) != (self.schedule.block is None):
            raise ValueError(
                f"{label}: schedule.delay and schedule.block go together (without them the"
                " message is sent immediately)"
            )
        if self.cashback is not None:
            if not definition.grants_cashback:
                raise ValueError(f"{label}: {trigger} campaigns cannot generate cashback")
            if self.cashback.type == AmountType.PERCENT and not definition.percent_cashback:
                raise ValueError(
                    f"{label}: PERCENTUAL cashback needs a purchase to take a percentage of;"
                    f" {trigger} campaigns can only give FIXO cashback"
                )
        return self


class EngagementConfig(_Model):
    """The engagement sections of an org file, checked against each other."""

    cashback_program: CashbackProgramConfig | None = None
    whatsapp: WhatsAppConfig | None = None
    campaigns: list[CampaignConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> EngagementConfig:
        keys = [c.key for c in self.campaigns]
        duplicated = sorted({k for k in keys if keys.count(k) > 1})
        if duplicated:
            raise ValueError(f"campaign keys must be unique; repeated: {', '.join(duplicated)}")
        templates = {
            (t.name, t.language): t for t in (self.whatsapp.templates if self.whatsapp else [])
        }
        for campaign in self.campaigns:
            label = f"campaign {campaign.key!r}"
            if campaign.cashback is not None and self.cashback_program is None:
                raise ValueError(
                    f"{label} gives cashback, but the file declares no cashback_program"
                )
            if campaign.template is None:
                continue
            template = templates.get((campaign.template, campaign.template_language))
            if template is None:
                declared = ", ".join(f"{n} ({lang})" for n, lang in templates) or "none"
                raise ValueError(
                    f"{label} uses template {campaign.template!r} ({campaign.template_language}),"
                    f" which is not declared under whatsapp.templates (declared: {declared})"
                )
            never = template.variables & NEVER_FILLED
            if never:
                raise ValueError(
                    f"{label}: template {template.name!r} uses {', '.join(sorted(never))},"
                    " which nothing fills: every message would be skipped"
                )
            unavailable = template.variables - _variables_available(campaign.trigger.type)
            if unavailable:
                raise ValueError(
                    f"{label}: template {template.name!r} uses {', '.join(sorted(unavailable))},"
                    f" which a {campaign.trigger.type} campaign cannot fill"
                )
        return self
