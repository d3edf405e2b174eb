import pytest
from hypothesis import given
from hypothesis import strategies as st

from recompra_pipelines.domain.documents import (
    TaxDocument,
    is_valid_cnpj,
    is_valid_cpf,
    parse_tax_document,
)


def mod11_check_digit(values: list[int], weights: list[int]) -> int:
    """Independent restatement of the Receita Federal DV rule
    (docs/brazilian-data.md#cpf-and-cnpj)."""
    remainder = sum(v * w for v, w in zip(values, weights, strict=True)) % 11
    return 0 if remainder < 2 else 11 - remainder


def cpf_with_check_digits(body: str) -> str:
    values = [int(d) for d in body]
    first = mod11_check_digit(values, list(range(10, 1, -1)))
    second = mod11_check_digit([*values, first], list(range(11, 1, -1)))
    return f"{body}{first}{second}"


def cnpj_with_check_digits(body: str) -> str:
    values = [ord(c) - 48 for c in body]
    first = mod11_check_digit(values, [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])
    second = mod11_check_digit([*values, first], [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])
    return f"{body}{first}{second}"


def test_the_test_helpers_agree_with_public_examples():
    assert cpf_with_check_digits("529982247") == "52998224725"
    assert cnpj_with_check_digits("112223330001") == "11222333000181"
    assert cnpj_with_check_digits("12ABC34501DE") == "12ABC34501DE35"


class TestCpf:
    @pytest.mark.parametrize(
        "raw", ["529.982.247-25", "52998224725", " 529 982 247 25 ", "529982247-25"]
    )
    def test_masked_or_bare_cpf_is_parsed(self, raw):
        assert parse_tax_document(raw) == TaxDocument(
            kind="CPF", digits="52998224725", formatted="529.982.247-25", is_valid=True
        )

    def test_wrong_check_digits_are_parsed_but_invalid(self):
        assert parse_tax_document("529.982.247-26") == TaxDocument(
            kind="CPF", digits="52998224726", formatted="529.982.247-26", is_valid=False
        )

    @pytest.mark.parametrize("digit", "0123456789")
    def test_all_equal_digits_are_invalid(self, digit):
        document = parse_tax_document(digit * 11)
        assert document is not None
        assert document.kind == "CPF"
        assert document.is_valid is False

    def test_cpf_stored_as_a_number_gets_its_leading_zero_back(self):
        assert parse_tax_document("1234567890") == TaxDocument(
            kind="CPF", digits="01234567890", formatted="012.345.678-90", is_valid=True
        )

    def test_cpf_that_lost_two_leading_zeros_is_recovered(self):
        cpf = cpf_with_check_digits("001234567")
        assert cpf.startswith("00")
        document = parse_tax_document(cpf.lstrip("0"))
        assert document is not None
        assert document.digits == cpf
        assert document.is_valid

    @pytest.mark.parametrize("raw", ["1234567891", "123456789", "000000000", "3499998888"])
    def test_short_number_that_is_not_a_padded_cpf_is_rejected(self, raw):
        assert parse_tax_document(raw) is None

    @given(st.from_regex(r"[0-9]{9}", fullmatch=True).filter(lambda s: len(set(s)) > 1))
    def test_any_cpf_with_correct_check_digits_is_valid(self, body):
        cpf = cpf_with_check_digits(body)
        assert is_valid_cpf(cpf)
        wrong_last_digit = cpf[:-1] + str((int(cpf[-1]) + 1) % 10)
        assert not is_valid_cpf(wrong_last_digit)

    @pytest.mark.parametrize(
        "value", ["529.982.247-25", "5299822472", "529982247250", "52998224A25", ""]
    )
    def test_validator_expects_exactly_eleven_unmasked_digits(self, value):
        assert not is_valid_cpf(value)


class TestCnpj:
    @pytest.mark.parametrize("raw", ["11.222.333/0001-81", "11222333000181", "11 222 333 0001 81"])
    def test_masked_or_bare_cnpj_is_parsed(self, raw):
        assert parse_tax_document(raw) == TaxDocument(
            kind="CNPJ", digits="11222333000181", formatted="11.222.333/0001-81", is_valid=True
        )

    def test_wrong_check_digits_are_parsed_but_invalid(self):
        document = parse_tax_document("11.222.333/0001-82")
        assert document is not None
        assert document.kind == "CNPJ"
        assert document.is_valid is False

    @pytest.mark.parametrize("raw", ["12.ABC.345/01DE-35", "12ABC34501DE35", "12.abc.345/01de-35"])
    def test_alphanumeric_cnpj_is_parsed_uppercase(self, raw):
        assert parse_tax_document(raw) == TaxDocument(
            kind="CNPJ", digits="12ABC34501DE35", formatted="12.ABC.345/01DE-35", is_valid=True
        )

    def test_alphanumeric_cnpj_with_wrong_check_digits_is_invalid(self):
        document = parse_tax_document("12ABC34501DE36")
        assert document is not None
        assert document.is_valid is False

    @pytest.mark.parametrize("raw", ["12ABC34501DEAB", "12ABC34501DE3A"])
    def test_letters_in_the_check_digits_are_not_a_cnpj(self, raw):
        assert parse_tax_document(raw) is None

    @pytest.mark.parametrize("digit", "0123456789")
    def test_all_equal_digits_are_invalid(self, digit):
        document = parse_tax_document(digit * 14)
        assert document is not None
        assert document.kind == "CNPJ"
        assert document.is_valid is False

    @given(st.from_regex(r"[A-Z0-9]{12}", fullmatch=True).filter(lambda s: len(set(s)) > 1))
    def test_any_cnpj_with_correct_check_digits_is_valid(self, body):
        cnpj = cnpj_with_check_digits(body)
        assert is_valid_cnpj(cnpj)
        wrong_last_digit = cnpj[:-1] + str((int(cnpj[-1]) + 1) % 10)
        assert not is_valid_cnpj(wrong_last_digit)

    @pytest.mark.parametrize("value", ["11.222.333/0001-81", "12abc34501de35", "1122233300018", ""])
    def test_validator_expects_fourteen_unmasked_uppercase_positions(self, value):
        assert not is_valid_cnpj(value)


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "   ",
        "N/A",
        "0",
        "abc",
        "123",
        "CPF: 529.982.247-25",
        "529.982.247-25 / 11.222.333/0001-81",
        "52998224A25",  # letters are only allowed in a CNPJ
        "1122233300018",  # 13 digits
        "112223330001811",  # 15 digits
        "１１２２２３３３０００１８１",  # fullwidth digits
        "joao@example.com",
    ],
)
def test_anything_else_is_not_a_document(raw):
    assert parse_tax_document(raw) is None
