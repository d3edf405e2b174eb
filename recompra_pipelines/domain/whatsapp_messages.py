"""A WhatsApp template message as Meta's Cloud API expects it, built from an interaction.

Pure rules, no I/O: which value fills each template variable, how a value is cleaned so Meta
accepts it, who the recipient is, and the exact ``/messages`` payload. Everything Meta would
reject for a reason we can see beforehand (parameter count, empty values, a missing media
header, a number that is not a Brazilian phone) is refused here, before any request, with a
reason the outbox records — the old sender found these out as 400s
(docs/whatsapp.md#what-meta-rejects-and-how-we-avoid-it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from recompra_pipelines.domain.phones import parse_brazilian_phone

# Client variables come from the client row; the rest from the interaction's metadados
# (docs/whatsapp.md#template-variables), and where the trigger stored none, from the CRM as it is
# when the message goes out (the favourite product and group, the lifetime cashback totals). Money
# variables render as pt-BR currency, missing money as R$ 0,00.
MONEY_VARIABLES: Mapping[str, str] = {
    "purchaseValue": "compraValor",
    "purchaseCashbackAccumulated": "compraCashbackAcumulado",
    "purchaseCashbackNewBalance": "compraCashbackNovoSaldo",
    "cashbackAvailableBalance": "cashbackSaldoDisponivel",
    "cashbackLifetimeAccumulated": "cashbackTotalAcumuladoVida",
    "cashbackLifetimeRedeemed": "cashbackTotalResgatadoVida",
    "cashbackExpiringAmount": "cashbackExpirandoValor",
}
TEXT_CONTEXT_VARIABLES: Mapping[str, str] = {
    "purchaseSellerName": "compraVendedorNome",
    "cashbackExpiringDate": "cashbackExpirandoData",
    # The daily triggers store them; otherwise they come from the client (ClientFields).
    "clientFavoriteProduct": "clienteProdutoMaisComprado",
    "clientFavoriteProductGroup": "clienteGrupoProdutoMaisComprado",
    "clientSuggestedProduct": "clienteProdutoSugerido",
}
# Nothing fills these (the old CRM always sent them empty): a template using one is never sent,
# so an org file may not use it.
NEVER_FILLED = frozenset({"clientSuggestedProduct"})

_NEWLINES_TABS = re.compile(r"[\r\n\t]+")
_LONG_WHITESPACE = re.compile(r"\s{4,}")
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")
# Meta limits a body text parameter to 1024 characters (the whole body too).
MAX_PARAMETER_LENGTH = 1024


class MessageRejected(ValueError):
    """The interaction cannot become a valid message; ``code`` is what the outbox records.

    ``skip`` separates "nothing to send" (IGNORADO: no phone, empty variable) from a broken
    template definition (FALHOU), which someone has to fix.
    """

    def __init__(self, code: str, reason: str, *, skip: bool) -> None:
        super().__init__(reason)
        self.code = code
        self.skip = skip


@dataclass(frozen=True)
class TemplateParameter:
    variable: str
    name: str | None  # Meta's parameter name; None in positional templates


@dataclass(frozen=True)
class TemplateSpec:
    """The stored template (whatsapp_templates) as far as sending needs it."""

    name: str
    language: str
    parameter_format: str  # POSITIONAL | NAMED
    parameters: tuple[TemplateParameter, ...]
    body: str
    header_type: str | None = None  # IMAGE | VIDEO | DOCUMENT
    header_media_url: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> TemplateSpec:
        return cls(
            name=row.nome,
            language=row.idioma,
            parameter_format=row.parametros_formato,
            parameters=tuple(
                TemplateParameter(variable=p.get("identificador"), name=p.get("nome"))
                for p in (row.parametros or [])
            ),
            body=row.corpo_texto,
            header_type=row.cabecalho_tipo,
            header_media_url=row.cabecalho_midia_url,
        )


@dataclass(frozen=True)
class ClientFields:
    """What the CRM knows of the client when the message goes out."""

    name: str
    phone: str | None
    email: str | None
    segmentation: str | None
    favourite_product: str | None = None
    favourite_group: str | None = None
    cashback_lifetime_redeemed: Any = None


@dataclass(frozen=True)
class RenderedMessage:
    to: str  # E.164 digits without '+', as Meta's `to`
    payload: dict[str, Any]
    text: str  # the body with values filled in, for the chat record


def format_brl(value: Any) -> str:
    """pt-BR currency, ``R$ 1.234,56``: exact (Decimal, half-up), negatives as ``-R$ 1,00``."""
    try:
        amount = Decimal(str(value if value is not None else "0"))
    except InvalidOperation:
        amount = Decimal("0")
    if not amount.is_finite():
        amount = Decimal("0")
    amount = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    sign = "-" if amount < 0 else ""
    whole, cents = f"{abs(amount):.2f}".split(".")
    grouped = f"{int(whole):,}".replace(",", ".")
    return f"{sign}R$ {grouped},{cents}"


def sanitize_parameter(value: str) -> str:
    """Meta refuses newlines, tabs and more than 3 consecutive spaces in a text parameter:
    newlines/tabs become one space, longer runs of whitespace three, then trim."""
    value = _NEWLINES_TABS.sub(" ", value)
    value = _LONG_WHITESPACE.sub("   ", value)
    return value.strip()


def whatsapp_recipient(telefone_e164: str | None) -> str | None:
    """Meta's ``to`` (country code + number, digits only) for a stored E.164 phone, or None.

    Re-reading through our phone rules means a DDD 55 number (Rio Grande do Sul) is never
    taken for a country code (the old gateway's bug, docs/brazilian-data.md#phone-numbers)."""
    if not telefone_e164 or not telefone_e164.startswith("+"):
        return None
    phone = parse_brazilian_phone(telefone_e164)
    return phone.e164.removeprefix("+") if phone else None


def variable_values(client: ClientFields, context: Mapping[str, Any] | None) -> dict[str, str]:
    """Every template variable's value for this client and trigger context
    (docs/whatsapp.md#template-variables)."""
    context = context or {}
    values = {
        "clientName": client.name or "",
        "clientPhoneNumber": client.phone or "",
        "clientEmail": client.email or "",
        "clientSegmentation": client.segmentation or "",
    }
    from_client = {
        "clientFavoriteProduct": client.favourite_product,
        "clientFavoriteProductGroup": client.favourite_group,
        "cashbackLifetimeRedeemed": client.cashback_lifetime_redeemed,
    }
    for variable, key in MONEY_VARIABLES.items():
        raw = context.get(key)
        values[variable] = format_brl(from_client.get(variable) if raw is None else raw)
    for variable, key in TEXT_CONTEXT_VARIABLES.items():
        raw = context.get(key)
        if raw is None or raw == "":
            raw = from_client.get(variable)
        values[variable] = "" if raw is None else str(raw)
    return values


def check_template(template: TemplateSpec) -> None:
    """The stored template is coherent: one parameter per body placeholder, named the way
    its format says, and a media URL for a media header. Otherwise every send would be a 132000."""
    placeholders = set(_PLACEHOLDER.findall(template.body))
    label = f"template {template.name} ({template.language})"
    if any(p.variable is None for p in template.parameters):
        raise MessageRejected(
            "TEMPLATE_INVALIDO", f"{label}: a parameter has no variable", skip=False
        )
    if template.parameter_format == "NAMED":
        names = [p.name for p in template.parameters]
        if None in names or set(names) != placeholders or len(set(names)) != len(names):
            raise MessageRejected(
                "TEMPLATE_INVALIDO",
                f"{label}: named parameters {sorted(n or '?' for n in names)} do not match the"
                f" body placeholders {sorted(placeholders)}",
                skip=False,
            )
    else:
        expected = {str(i) for i in range(1, len(template.parameters) + 1)}
        if placeholders != expected or any(p.name for p in template.parameters):
            raise MessageRejected(
                "TEMPLATE_INVALIDO",
                f"{label}: {len(template.parameters)} positional parameter(s) but body"
                f" placeholders {sorted(placeholders)}",
                skip=False,
            )
    if template.header_type and not template.header_media_url:
        raise MessageRejected(
            "TEMPLATE_INVALIDO",
            f"{label}: {template.header_type} header without a media URL",
            skip=False,
        )


def render_message(
    template: TemplateSpec,
    *,
    telefone_e164: str | None,
    values: Mapping[str, str],
    callback_data: str,
) -> RenderedMessage:
    """The ``/messages`` payload for one interaction, or MessageRejected.

    Only header and body components are sent: footers and buttons without variables are part
    of the registered template, and Meta rejects them in a send. The language is the template's
    own, not a fixed pt_BR (docs/whatsapp.md#what-meta-rejects-and-how-we-avoid-it).
    """
    to = whatsapp_recipient(telefone_e164)
    if to is None:
        reason = "client has no phone" if not telefone_e164 else "client phone is not valid"
        raise MessageRejected("SEM_TELEFONE", reason, skip=True)
    check_template(template)
    texts = _parameter_texts(template.parameters, values)
    components: list[dict[str, Any]] = []
    if template.header_type:
        media = template.header_type.lower()
        components.append(
            {
                "type": "header",
                "parameters": [{"type": media, media: {"link": template.header_media_url}}],
            }
        )
    if texts:
        named = template.parameter_format == "NAMED"
        components.append(
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "parameter_name": p.name, "text": text}
                    if named
                    else {"type": "text", "text": text}
                    for p, text in zip(template.parameters, texts, strict=True)
                ],
            }
        )
    payload: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "template",
        "template": {"name": template.name, "language": {"code": template.language}},
        "biz_opaque_callback_data": callback_data,
    }
    if components:
        payload["template"]["components"] = components
    return RenderedMessage(to=to, payload=payload, text=_fill_body(template, texts))


def _parameter_texts(
    parameters: Sequence[TemplateParameter], values: Mapping[str, str]
) -> list[str]:
    texts = []
    for parameter in parameters:
        if parameter.variable not in values:
            raise MessageRejected(
                "TEMPLATE_INVALIDO", f"unknown template variable {parameter.variable}", skip=False
            )
        text = sanitize_parameter(values[parameter.variable])
        if not text:
            # Meta rejects empty parameters; a message missing its content is not sent.
            raise MessageRejected(
                "PARAMETRO_VAZIO", f"variable {parameter.variable} has no value", skip=True
            )
        texts.append(text[:MAX_PARAMETER_LENGTH])
    return texts


def _fill_body(template: TemplateSpec, texts: Sequence[str]) -> str:
    if template.parameter_format == "NAMED":
        by_key = {p.name: t for p, t in zip(template.parameters, texts, strict=True)}
    else:
        by_key = {str(i): t for i, t in enumerate(texts, start=1)}
    return _PLACEHOLDER.sub(lambda m: by_key.get(m.group(1), m.group(0)), template.body)


def gateway_message(
    template: TemplateSpec, message: RenderedMessage, *, session_id: str, client_message_id: str
) -> dict[str, Any]:
    """The internal gateway's ``/messages/send`` body for a rendered message.

    The gateway sends plain WhatsApp messages, not Meta templates: the text is the template
    body with its values filled in, and a template with a media header becomes a media
    message with that text as its caption. ``to`` is the same parsed E.164 number Meta gets
    (a DDD 55 number keeps its 55, unlike the old "prefix 55 unless it starts with 55" rule).
    """
    if template.header_type and template.header_media_url:
        url = template.header_media_url
        content: dict[str, Any] = {
            "type": template.header_type.lower(),
            "text": message.text,
            "mediaUrl": url,
            "mediaFileName": PurePosixPath(urlsplit(url).path).name or "arquivo",
        }
    else:
        content = {"type": "text", "text": message.text}
    return {
        "sessionId": session_id,
        "to": message.to,
        "content": content,
        "clientMessageId": client_message_id,
    }
