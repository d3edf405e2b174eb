"""CPF and CNPJ: Brazilian taxpayer documents as normalized strings.

Documents are stored unmasked as text, never as integers: CPFs and CNPJs have
leading zeros, and from July 2026 CNPJs may contain letters (IN RFB 2.229/2024).
A document whose check digits fail is still parsed (`is_valid=False`) so the
caller can quarantine the field without losing the sale (docs/brazilian-data.md#cpf-and-cnpj).
"""

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

_MASK = re.compile(r"[\s./-]")
_CPF_SHAPE = re.compile(r"[0-9]{11}")
_CNPJ_SHAPE = re.compile(r"[A-Z0-9]{12}[0-9]{2}")
_DIGITS = re.compile(r"[0-9]+")

_CPF_WEIGHTS = (range(10, 1, -1), range(11, 1, -1))
_CNPJ_WEIGHTS = ((5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2), (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2))


@dataclass(frozen=True)
class TaxDocument:
    kind: Literal["CPF", "CNPJ"]
    digits: str  # normalized: digits (uppercase alphanumerics for the 2026 alphanumeric CNPJ)
    formatted: str
    is_valid: bool  # check digits pass


# Partners' documents repeat on every sale of theirs; the check digits are not free.
@functools.lru_cache(maxsize=1 << 12)
def parse_tax_document(raw: str | None) -> TaxDocument | None:
    """The CPF or CNPJ in `raw` (masks allowed), or None when it is neither.

    Only mask characters (spaces, `.`, `/`, `-`) are removed; any other character
    means the text is not a document, so a name or a note is never mistaken for one.
    """
    if raw is None:
        return None
    value = _MASK.sub("", raw).upper()
    if _CNPJ_SHAPE.fullmatch(value):
        return TaxDocument("CNPJ", value, _format_cnpj(value), is_valid_cnpj(value))
    if _CPF_SHAPE.fullmatch(value):
        return TaxDocument("CPF", value, _format_cpf(value), is_valid_cpf(value))
    return _cpf_with_lost_leading_zeros(value)


def is_valid_cpf(digits: str) -> bool:
    """Whether an unmasked 11-digit CPF has correct check digits.

    All-equal sequences (111.111.111-11) pass the arithmetic but are not issued.
    """
    if not _CPF_SHAPE.fullmatch(digits) or _is_one_repeated_character(digits):
        return False
    return _has_valid_check_digits([int(d) for d in digits], _CPF_WEIGHTS)


def is_valid_cnpj(value: str) -> bool:
    """Whether an unmasked 14-position CNPJ (numeric or alphanumeric) has correct check digits.

    Alphanumeric CNPJs value each character as its ASCII code minus 48 (A = 17), which
    leaves the old all-digit CNPJs computing exactly as before.
    """
    if not _CNPJ_SHAPE.fullmatch(value) or _is_one_repeated_character(value):
        return False
    return _has_valid_check_digits([ord(c) - ord("0") for c in value], _CNPJ_WEIGHTS)


def _cpf_with_lost_leading_zeros(value: str) -> TaxDocument | None:
    """A CPF an ERP stored as a number, which dropped its leading zeros.

    Padding is accepted only when the result has valid check digits, so a random
    9- or 10-digit number (a phone, a code) is rarely taken for a CPF.
    """
    if len(value) not in (9, 10) or not _DIGITS.fullmatch(value):
        return None
    padded = value.zfill(11)
    if not is_valid_cpf(padded):
        return None
    return TaxDocument("CPF", padded, _format_cpf(padded), True)


def _has_valid_check_digits(values: list[int], weights: Sequence[Sequence[int]]) -> bool:
    """Mod-11 check digits shared by CPF and CNPJ: each DV covers every position before it."""
    body_length = len(values) - len(weights)
    for position, position_weights in enumerate(weights, start=body_length):
        if values[position] != _check_digit(values[:position], position_weights):
            return False
    return True


def _check_digit(values: list[int], weights: Sequence[int]) -> int:
    remainder = sum(v * w for v, w in zip(values, weights, strict=True)) % 11
    return 0 if remainder < 2 else 11 - remainder


def _is_one_repeated_character(value: str) -> bool:
    return len(set(value)) == 1


def _format_cpf(digits: str) -> str:
    return f"{digits[:3]}.{digits[3:6]}.{digits[6:9]}-{digits[9:]}"


def _format_cnpj(value: str) -> str:
    return f"{value[:2]}.{value[2:5]}.{value[5:8]}/{value[8:12]}-{value[12:]}"
