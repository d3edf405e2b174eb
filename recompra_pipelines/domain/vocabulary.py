"""The enumerated values the CRM stores, each defined once.

Every enumerated text column is limited by a CHECK generated from one of these classes
(``db.tables.base.checked_enum``), the org-file models validate against them
(``orgfile.engagement``) and the rules compare with their members, so a value is spelled in
exactly one place. The values are the CRM's own strings (Portuguese, or Meta's spelling for
Meta's vocabularies): they are what the database holds and what the CRM application reads.

RFM segment labels are ``domain.segments.RfmSegment``. Campaign trigger types are not here: each trigger is described by its definition in
``domain.campaign_triggers``, and ``TriggerType`` is built from those definitions.
"""

from __future__ import annotations

from enum import StrEnum


def values(enum: type[StrEnum]) -> tuple[str, ...]:
    """The stored strings of ``enum``, in declaration order."""
    return tuple(member.value for member in enum)


class TimeUnit(StrEnum):
    """The unit of a period (campaign delays, frequency, notice, cashback expiry)."""

    DAYS = "DIAS"
    WEEKS = "SEMANAS"
    MONTHS = "MESES"
    YEARS = "ANOS"


class ScheduleBlock(StrEnum):
    """The eight 3-hour blocks of the day (organization time) in which scheduled messages go
    out."""

    H00 = "00:00"
    H03 = "03:00"
    H06 = "06:00"
    H09 = "09:00"
    H12 = "12:00"
    H15 = "15:00"
    H18 = "18:00"
    H21 = "21:00"


class RecurrenceType(StrEnum):
    """How a RECORRENTE campaign repeats."""

    DAILY = "DIARIO"
    WEEKLY = "SEMANAL"
    MONTHLY = "MENSAL"


class AmountType(StrEnum):
    """How a cashback amount is given: reais, or percent of the sale value."""

    FIXED = "FIXO"
    PERCENT = "PERCENTUAL"


class ConsumedReversalPolicy(StrEnum):
    """What a sale cancellation does with the part of its cashback already redeemed:
    WRITE_OFF (the business absorbs it, recorded on the CANCELAMENTO entry) or CLAW_BACK
    (the balance goes negative and future accruals repay it)."""

    WRITE_OFF = "BAIXA"
    CLAW_BACK = "SALDO-NEGATIVO"


class LedgerEntryKind(StrEnum):
    """``cashback_program_transactions.tipo``: an accrual (a lot) or a debit."""

    ACCRUAL = "ACÚMULO"
    REDEMPTION = "RESGATE"
    EXPIRY = "EXPIRAÇÃO"
    REVERSAL = "CANCELAMENTO"


class LotStatus(StrEnum):
    """``cashback_program_transactions.status``: an open lot, or how it was emptied."""

    ACTIVE = "ATIVO"
    CONSUMED = "CONSUMIDO"
    EXPIRED = "EXPIRADO"


class InteractionType(StrEnum):
    MESSAGE = "ENVIO-MENSAGEM"
    EMAIL = "ENVIO-EMAIL"
    CALL = "LIGAÇÃO"
    SERVICE = "ATENDIMENTO"


class SendStatus(StrEnum):
    """``interactions.status_envio``: the outbox state of an interaction. Committed PENDING
    before any HTTP call, claimed (SENDING), then SENT, FAILED or SKIPPED; status webhooks
    later move it to DELIVERED / READ, never backwards."""

    PENDING = "PENDENTE"
    SENDING = "ENVIANDO"
    SENT = "ENVIADO"
    DELIVERED = "ENTREGUE"
    READ = "LIDO"
    FAILED = "FALHOU"
    SKIPPED = "IGNORADO"


class MessageStatus(StrEnum):
    """``chat_messages.status``: the send states a chat shows (no claim, no skip)."""

    PENDING = SendStatus.PENDING.value
    SENT = SendStatus.SENT.value
    DELIVERED = SendStatus.DELIVERED.value
    READ = SendStatus.READ.value
    FAILED = SendStatus.FAILED.value


class SkipReason(StrEnum):
    """``interactions.erro_codigo`` of an interaction not sent (IGNORADO) by our decision;
    a Graph error code (e.g. 131026) fills the same column for a FALHOU."""

    FREQUENCY = "FREQUENCIA"
    DAILY_CAP = "LIMITE_DIARIO"
    # Withdrawn before sending: the sale was cancelled, vanished from the ERP, or the ERP
    # changed it (value, buyer) so that it no longer meets the campaign's trigger.
    SALE_CANCELLED = "VENDA_CANCELADA"
    SALE_REMOVED = "VENDA_REMOVIDA"
    SALE_CHANGED = "VENDA_ALTERADA"
    # Consent and reachability (domain.whatsapp_consent).
    OPT_OUT = "OPT_OUT"
    UNREACHABLE = "NUMERO_INALCANCAVEL"

    @property
    def description(self) -> str:
        """The reason in words, stored in ``interactions.erro_envio``."""
        return _SKIP_DESCRIPTIONS[self]


_SKIP_DESCRIPTIONS = {
    SkipReason.FREQUENCY: "bloqueada pela regra de frequência da campanha",
    SkipReason.DAILY_CAP: "limite diário de mensagens de marketing do cliente atingido",
    SkipReason.SALE_CANCELLED: "a venda que disparou a interação foi cancelada",
    SkipReason.SALE_REMOVED: "a venda que disparou a interação sumiu das respostas do ERP",
    SkipReason.SALE_CHANGED: "a venda mudou no ERP e não atende mais ao gatilho da campanha",
    SkipReason.OPT_OUT: "o cliente pediu para não receber mensagens de marketing (opt-out)",
    SkipReason.UNREACHABLE: "o WhatsApp informou que o número não recebe mensagens (131026)",
}
# Our skip reasons that are about consent (counted together by the steps).
CONSENT_SKIPS = frozenset({SkipReason.OPT_OUT, SkipReason.UNREACHABLE})


class AttributionModel(StrEnum):
    LAST_TOUCH = "LAST_TOUCH"
    FIRST_TOUCH = "FIRST_TOUCH"
    LINEAR = "LINEAR"


class ConversionType(StrEnum):
    ACQUISITION = "AQUISICAO"
    REACTIVATION = "REATIVACAO"
    ACCELERATION = "ACELERACAO"
    LATE = "ATRASADA"
    REGULAR = "REGULAR"


# ---------------------------------------------------------------- WhatsApp (Meta's spelling)


class TemplateCategory(StrEnum):
    MARKETING = "MARKETING"
    UTILITY = "UTILITY"
    AUTHENTICATION = "AUTHENTICATION"


class TemplateParameterFormat(StrEnum):
    POSITIONAL = "POSITIONAL"
    NAMED = "NAMED"


class TemplateHeaderType(StrEnum):
    IMAGE = "IMAGE"
    VIDEO = "VIDEO"
    DOCUMENT = "DOCUMENT"


class TemplateStatus(StrEnum):
    APPROVED = "APPROVED"
    PENDING = "PENDING"
    REJECTED = "REJECTED"
    PAUSED = "PAUSED"
    DISABLED = "DISABLED"
    IN_APPEAL = "IN_APPEAL"
    PENDING_DELETION = "PENDING_DELETION"
    DELETED = "DELETED"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"


class TemplateVariable(StrEnum):
    """The values a template parameter can be filled with (``whatsapp_templates.parametros``
    ``identificador``); the prefix says what it is about (client, purchase, cashback)."""

    CLIENT_NAME = "clientName"
    CLIENT_PHONE_NUMBER = "clientPhoneNumber"
    CLIENT_EMAIL = "clientEmail"
    CLIENT_SEGMENTATION = "clientSegmentation"
    CLIENT_FAVORITE_PRODUCT = "clientFavoriteProduct"
    CLIENT_FAVORITE_PRODUCT_GROUP = "clientFavoriteProductGroup"
    CLIENT_SUGGESTED_PRODUCT = "clientSuggestedProduct"
    PURCHASE_VALUE = "purchaseValue"
    PURCHASE_CASHBACK_ACCUMULATED = "purchaseCashbackAccumulated"
    PURCHASE_CASHBACK_NEW_BALANCE = "purchaseCashbackNewBalance"
    PURCHASE_SELLER_NAME = "purchaseSellerName"
    CASHBACK_AVAILABLE_BALANCE = "cashbackAvailableBalance"
    CASHBACK_LIFETIME_ACCUMULATED = "cashbackLifetimeAccumulated"
    CASHBACK_LIFETIME_REDEEMED = "cashbackLifetimeRedeemed"
    CASHBACK_EXPIRING_AMOUNT = "cashbackExpiringAmount"
    CASHBACK_EXPIRING_DATE = "cashbackExpiringDate"


class MessageContentType(StrEnum):
    TEXT = "TEXTO"
    IMAGE = "IMAGEM"
    VIDEO = "VIDEO"
    DOCUMENT = "DOCUMENTO"
    AUDIO = "AUDIO"


class MessageAuthorType(StrEnum):
    CLIENT = "CLIENTE"
    USER = "USUÁRIO"
