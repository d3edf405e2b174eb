"""Client names and the "nobody" sentinels ERPs put in name and reference fields."""

import functools
import unicodedata

ANONYMOUS_CLIENT_NAMES = frozenset(
    {
        "AO CONSUMIDOR",
        "CONSUMIDOR",
        "CONSUMIDOR FINAL",
        "CLIENTE CARDAPIO WEB",
        "NÃO INFORMADO",
        "N/A",
        "0",
    }
)
"""Placeholders a point of sale puts in the client field when the buyer is not identified.

Online Software writes `AO CONSUMIDOR`, CardapioWeb `CLIENTE CARDAPIO WEB` and
operators type the others. Matching any of them would merge every walk-in sale
into one fake client that then gets cashback and campaigns, so such sales load
with no client. Compared by `name_match_key`, so case, spacing and accents don't
matter (`nao informado` is `NÃO INFORMADO`).
"""

_PLACEHOLDER_REFERENCES = frozenset({"n/a", "na", "0", "-"})


def clean_name(raw: str | None) -> str:
    """The name as stored in `nome`: trimmed, inner whitespace (tabs, nbsp) collapsed.

    Case and accents are kept because this is what people read in the CRM and in
    WhatsApp messages.
    """
    if raw is None:
        return ""
    return " ".join(raw.split())


# Names repeat across a day's sales and Unicode normalization is not cheap.
@functools.lru_cache(maxsize=1 << 16)
def name_match_key(raw: str | None) -> str:
    """The name as compared when matching clients: case- and accent-insensitive.

    The old code only trimmed and upper-cased, so "José da Silva" and "JOSE DA SILVA"
    became two clients (docs/decisions.md#d-04-clients-are-matched-by-erp-id-then-phone-then-name).
    """
    decomposed = _compatibility_casefold(raw or "")
    unaccented = "".join(c for c in decomposed if not unicodedata.combining(c))
    # Cleaned last: decomposition can itself produce spaces (a spacing cedilla "¸").
    return clean_name(unaccented)


def _compatibility_casefold(text: str) -> str:
    """Unicode compatibility caseless form (Unicode D146), in decomposed (NFKD) form.

    Both steps run twice, as Unicode prescribes, because NFKD can produce letters that
    casefolding still changes ("𝕊" becomes "S" only under NFKD, then "s").
    """
    once = unicodedata.normalize("NFKD", text.casefold())
    return unicodedata.normalize("NFKD", once.casefold())


_ANONYMOUS_KEYS = frozenset(map(name_match_key, ANONYMOUS_CLIENT_NAMES))


def is_anonymous_client(raw: str | None) -> bool:
    """Whether the sale's client field names nobody (empty or a placeholder)."""
    key = name_match_key(raw)
    return key == "" or key in _ANONYMOUS_KEYS


def is_placeholder_reference(raw: str | None) -> bool:
    """Whether a seller/partner field means "none" (Online Software sends `N/A` or `0`)."""
    if raw is None:
        return True
    value = raw.strip().casefold()
    return value == "" or value in _PLACEHOLDER_REFERENCES
