"""Who may receive WhatsApp messages: opt-outs (LGPD), opt-ins, and unreachable numbers.

A customer who answers a keyword such as PARAR stops getting marketing messages from that
organization; an opt-in keyword (VOLTAR) reverses it. The keyword must be the whole message
(case, accents, punctuation and emoji ignored): "parar!" opts out, "não quero parar de
receber" does not — the rule SMS carriers use for STOP. The latest keyword wins, by the time
the customer sent it, so statuses and messages arriving out of order decide the same way.

A number Meta reports as undeliverable (131026: not on WhatsApp, an old app, terms not
accepted) is suppressed for a while instead of being tried by every campaign; a later
message from or delivered to that number lifts it. The period is read when deciding, so
changing it applies to numbers already suppressed.

These rules decide at creation (the campaign step records the interaction IGNORADO with the
reason) and again at send time, since consent can change while a message waits for its block.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from recompra_pipelines.domain.names import name_match_key
from recompra_pipelines.domain.phones import parse_brazilian_phone
from recompra_pipelines.domain.vocabulary import SkipReason

# Meta's template category that consent governs; UTILITY and AUTHENTICATION messages (an
# answer the customer expects) are not marketing.
MARKETING = "MARKETING"

DEFAULT_OPT_OUT_KEYWORDS = (
    "PARAR",
    "SAIR",
    "STOP",
    "CANCELAR",
    # The quick-reply button Meta adds to marketing templates, in Portuguese and English.
    "PARAR PROMOÇÕES",
    "STOP PROMOTIONS",
)
DEFAULT_OPT_IN_KEYWORDS = ("VOLTAR", "RECEBER", "START")
DEFAULT_UNREACHABLE_SUPPRESSION_DAYS = 30

_NOT_WORD = re.compile(r"[^\w\s]|_")


class ConsentAction(StrEnum):
    OPT_OUT = "OPT_OUT"
    OPT_IN = "OPT_IN"


def keyword_key(text: str | None) -> str:
    """A message or keyword as compared: case, accents, punctuation, emoji and extra spaces
    do not count."""
    return " ".join(_NOT_WORD.sub(" ", name_match_key(text or "")).split())


@dataclass(frozen=True)
class ConsentSettings:
    """An organization's keywords and suppression period, stored in
    ``organizations.configuracao.whatsapp.consentimento``."""

    opt_out_keywords: tuple[str, ...] = DEFAULT_OPT_OUT_KEYWORDS
    opt_in_keywords: tuple[str, ...] = DEFAULT_OPT_IN_KEYWORDS
    unreachable_suppression: timedelta = timedelta(days=DEFAULT_UNREACHABLE_SUPPRESSION_DAYS)

    @classmethod
    def parse(cls, configuracao: Mapping[str, Any] | None) -> ConsentSettings:
        stored = ((configuracao or {}).get("whatsapp") or {}).get("consentimento") or {}
        defaults = cls()
        days = stored.get("supressao_inalcancavel_dias")
        return cls(
            opt_out_keywords=tuple(stored.get("palavras_descadastro") or defaults.opt_out_keywords),
            opt_in_keywords=tuple(stored.get("palavras_recadastro") or defaults.opt_in_keywords),
            unreachable_suppression=(
                defaults.unreachable_suppression if days is None else timedelta(days=int(days))
            ),
        )

    def stored(self) -> dict[str, Any]:
        return {
            "palavras_descadastro": list(self.opt_out_keywords),
            "palavras_recadastro": list(self.opt_in_keywords),
            "supressao_inalcancavel_dias": self.unreachable_suppression.days,
        }

    def match(self, texts: Iterable[str | None]) -> KeywordMatch | None:
        """What a customer's message asks, given its text(s) (a button has a title and a
        payload): opt-out, opt-in, or nothing (None). Opt-out wins if both match."""
        keys = {keyword_key(text) for text in texts} - {""}
        for action, keywords in (
            (ConsentAction.OPT_OUT, self.opt_out_keywords),
            (ConsentAction.OPT_IN, self.opt_in_keywords),
        ):
            for keyword in keywords:
                if keyword_key(keyword) in keys:
                    return KeywordMatch(action, keyword)
        return None


@dataclass(frozen=True)
class KeywordMatch:
    action: ConsentAction
    keyword: str  # as the organization configured it


@dataclass(frozen=True)
class ContactState:
    """What is recorded about one phone in one organization (``whatsapp_contatos``)."""

    opted_out: bool = False
    unreachable_since: datetime | None = None


def consent_skip(
    *, marketing: bool, contact: ContactState | None, suppression: timedelta, now: datetime
) -> SkipReason | None:
    """Why a message to this contact must not go out now, or None."""
    if contact is None:
        return None
    if marketing and contact.opted_out:
        return SkipReason.OPT_OUT
    if contact.unreachable_since is not None and contact.unreachable_since + suppression > now:
        return SkipReason.UNREACHABLE
    return None


def phone_from_wa_id(wa_id: str | None) -> str | None:
    """The E.164 phone of a WhatsApp id, as clients store it (``clients.telefone_e164``), or
    None when the id is not a phone number (Meta's business-scoped user ids, ``US.13491…``).

    A Brazilian mobile registered before the ninth digit still has an 8-digit wa_id
    (``55 34 9999 8888``); reading it through our phone rules gives it back its 9, so the
    customer's opt-out matches the client stored with it. Other countries are kept as sent.
    """
    if not wa_id or not wa_id.isdigit() or not 8 <= len(wa_id) <= 15:
        return None
    phone = parse_brazilian_phone("+" + wa_id)
    return phone.e164 if phone else "+" + wa_id
