"""Brazilian phone numbers: one canonical reading of whatever the ERP typed.

The phone is the client-matching key (`telefone_base`) and the WhatsApp target
(`e164`), so a misread number merges strangers or messages the wrong person. The
old code mangled country-code prefixed inputs and trunk prefixes
(docs/decisions.md#d-06-phones-are-parsed-never-guessed); this module reads them correctly and
refuses anything it cannot read with certainty instead of guessing.

Rules (docs/brazilian-data.md#phone-numbers):
- Only non-digits are dropped; a leading `+` means "a country code follows" and
  only `+55` is accepted — a foreign number is not a Brazilian phone and we never
  guess another country.
- A leading `0` is the trunk prefix (`0 34 …`); `0` + two digits + a full national
  number is a carrier-selection code (`0 15 34 …`) and both are dropped.
- A leading `55` is the country code only in a 12- or 13-digit string, where the
  rest is a 10/11-digit national number; in a 10- or 11-digit string it is DDD 55
  (Rio Grande do Sul).
- National numbers are DDD (Anatel list) + subscriber: mobiles are 9 digits starting
  with 9, landlines 8 digits starting with 2–5.
- An 8-digit subscriber starting with 6–9 is a mobile written before the ninth digit
  (mandatory nationwide since Nov 2016) and gets its 9, so the old and new spellings
  of one number are the same phone.
- A number whose last 8 digits are one repeated digit (`99999-9999`, `3333-3333`)
  is filler typed into a required field, not a phone.
- Google's `phonenumbers` has the final word on validity and does the formatting.
"""

import functools
import re
from dataclasses import dataclass

import phonenumbers

BRAZIL_COUNTRY_CODE = "55"

# Anatel area codes in use.
VALID_DDDS = frozenset(
    """
    11 12 13 14 15 16 17 18 19
    21 22 24 27 28
    31 32 33 34 35 37 38
    41 42 43 44 45 46 47 48 49
    51 53 54 55
    61 62 63 64 65 66 67 68 69
    71 73 74 75 77 79
    81 82 83 84 85 86 87 88 89
    91 92 93 94 95 96 97 98 99
    """.split()
)

_NON_DIGITS = re.compile(r"[^0-9]")


@dataclass(frozen=True)
class BrazilianPhone:
    e164: str  # '+5534999998888'
    display: str  # '(34) 99999-8888' or '(34) 3222-1111'
    base: str  # telefone_base: DDD + last 8 digits, e.g. '3499998888'
    is_mobile: bool


# A day's sales repeat their buyers' phones; formatting with phonenumbers is the slow part.
@functools.lru_cache(maxsize=1 << 16)
def parse_brazilian_phone(raw: str | None) -> BrazilianPhone | None:
    """The phone `raw` denotes, or None when it holds no usable Brazilian number."""
    if raw is None:
        return None
    national = _national_number(raw)
    if national is None:
        return None
    national = _with_ninth_digit(national)
    if not _is_well_formed_national(national):
        return None
    number = phonenumbers.PhoneNumber(
        country_code=int(BRAZIL_COUNTRY_CODE), national_number=int(national)
    )
    if not phonenumbers.is_valid_number_for_region(number, "BR"):
        return None
    return BrazilianPhone(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        display=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL),
        base=national[:2] + national[-8:],
        is_mobile=len(national) == 11,
    )


def telefone_base(raw: str | None) -> str:
    """The client-matching key: DDD + last 8 digits, or "" when there is no phone.

    Dropping the ninth digit keeps the old RecompraCRM key so a client stored with or
    without the 9 is still found; unlike the old code it is taken from the parsed
    number, so country codes and trunk prefixes no longer leak in
    (docs/brazilian-data.md#phone-numbers).
    """
    phone = parse_brazilian_phone(raw)
    return phone.base if phone else ""


def _national_number(raw: str) -> str | None:
    """DDD + subscriber digits, with country code, trunk and carrier prefixes removed."""
    text = raw.strip()
    digits = _NON_DIGITS.sub("", text)
    if text.startswith("+"):
        if not digits.startswith(BRAZIL_COUNTRY_CODE):
            return None
        return digits[len(BRAZIL_COUNTRY_CODE) :]
    if digits.startswith("0"):
        return _without_carrier_code(digits[1:])
    if len(digits) in (12, 13) and digits.startswith(BRAZIL_COUNTRY_CODE):
        return digits[len(BRAZIL_COUNTRY_CODE) :]
    return digits


def _without_carrier_code(after_trunk_prefix: str) -> str:
    """Drop the two-digit carrier code of `0 XX DDD number` dialing.

    No DDD starts with 0 and a national number has 10 or 11 digits, so after the
    trunk `0` a 12/13-digit string can only be carrier code + national number.
    """
    if len(after_trunk_prefix) in (12, 13):
        return after_trunk_prefix[2:]
    return after_trunk_prefix


def _with_ninth_digit(national: str) -> str:
    """Add the mandatory ninth digit to a mobile written in the pre-2016 8-digit form."""
    if len(national) == 10 and national[2] in "6789":
        return national[:2] + "9" + national[2:]
    return national


def _is_well_formed_national(national: str) -> bool:
    if len(national) not in (10, 11) or national[:2] not in VALID_DDDS:
        return False
    subscriber = national[2:]
    if len(set(subscriber[-8:])) == 1:
        return False
    if len(subscriber) == 9:
        return subscriber[0] == "9"
    return subscriber[0] in "2345"
