import pytest
from hypothesis import given
from hypothesis import strategies as st

from recompra_pipelines.domain.phones import (
    VALID_DDDS,
    BrazilianPhone,
    parse_brazilian_phone,
    telefone_base,
)

MOBILE_34 = BrazilianPhone(
    e164="+5534999998888", display="(34) 99999-8888", base="3499998888", is_mobile=True
)
LANDLINE_34 = BrazilianPhone(
    e164="+553432221111", display="(34) 3222-1111", base="3432221111", is_mobile=False
)
MOBILE_55 = BrazilianPhone(
    e164="+5555999998888", display="(55) 99999-8888", base="5599998888", is_mobile=True
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # The old code's known misreadings (docs/brazilian-data.md#phone-numbers), read correctly.
        ("(34) 99999-8888", MOBILE_34),
        ("34999998888", MOBILE_34),
        ("5534999998888", MOBILE_34),
        ("3432221111", LANDLINE_34),
        ("553432221111", LANDLINE_34),
        ("034999998888", MOBILE_34),
        ("999998888", None),
        ("(55) 99999-8888", MOBILE_55),
    ],
)
def test_old_normalization_table_reads_correctly(raw, expected):
    assert parse_brazilian_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "+55 (11) 98765-4321",
        "+5511987654321",
        "+55 11 98765 4321",
        "55 11 98765-4321",
        "(11) 98765-4321",
        "11.98765.4321",
        "11 98765 4321",
        " 11-98765-4321 ",
        "011 98765-4321",
        "(011) 98765-4321",
        "0xx11 98765-4321",
        "11\t98765\u00a04321",
    ],
)
def test_spellings_of_one_mobile_are_the_same_phone(raw):
    assert parse_brazilian_phone(raw) == BrazilianPhone(
        e164="+5511987654321", display="(11) 98765-4321", base="1187654321", is_mobile=True
    )


@pytest.mark.parametrize(
    "raw",
    ["0 15 34 99999-8888", "015 34 99999 8888", "0 21 (34) 99999-8888", "0 41 34 9999-8888"],
)
def test_carrier_selection_code_is_dropped(raw):
    assert parse_brazilian_phone(raw) == MOBILE_34


def test_carrier_selection_code_before_a_landline_is_dropped():
    assert parse_brazilian_phone("0 15 34 3222-1111") == LANDLINE_34


def test_trunk_prefix_before_a_landline_is_dropped():
    assert parse_brazilian_phone("(034) 3222-1111") == LANDLINE_34


class TestCountryCode55:
    def test_plus_55_is_always_the_country_code(self):
        assert parse_brazilian_phone("+55 55 99999-8888") == MOBILE_55

    def test_55_before_a_full_national_number_is_the_country_code(self):
        assert parse_brazilian_phone("55 55 99999-8888") == MOBILE_55

    def test_55_in_an_eleven_digit_number_is_ddd_55(self):
        assert parse_brazilian_phone("55999998888") == MOBILE_55

    def test_55_in_a_ten_digit_number_is_ddd_55(self):
        phone = parse_brazilian_phone("5532221111")
        assert phone == BrazilianPhone(
            e164="+555532221111", display="(55) 3222-1111", base="5532221111", is_mobile=False
        )

    def test_ten_digit_ddd_55_old_mobile_gets_its_ninth_digit(self):
        assert parse_brazilian_phone("5599998888") == MOBILE_55

    def test_55_followed_by_an_invalid_national_number_is_rejected(self):
        assert parse_brazilian_phone("552099998888") is None


class TestLandlineVersusMobile:
    @pytest.mark.parametrize("first_digit", "2345")
    def test_eight_digit_subscriber_starting_2_to_5_is_a_landline(self, first_digit):
        phone = parse_brazilian_phone(f"(61) {first_digit}123-4567")
        assert phone is not None
        assert phone.is_mobile is False
        assert phone.e164 == f"+5561{first_digit}1234567"
        assert phone.display == f"(61) {first_digit}123-4567"
        assert phone.base == f"61{first_digit}1234567"

    def test_nine_digit_subscriber_starting_9_is_a_mobile(self):
        phone = parse_brazilian_phone("(61) 98123-4567")
        assert phone is not None
        assert phone.is_mobile is True
        assert phone.base == "6181234567"

    @pytest.mark.parametrize("first_digit", "6789")
    def test_old_eight_digit_mobile_gets_the_mandatory_ninth_digit(self, first_digit):
        phone = parse_brazilian_phone(f"(34) {first_digit}999-8888")
        assert phone == BrazilianPhone(
            e164=f"+55349{first_digit}9998888",
            display=f"(34) 9{first_digit}999-8888",
            base=f"34{first_digit}9998888",
            is_mobile=True,
        )

    def test_old_and_new_spelling_of_a_mobile_share_the_base(self):
        assert telefone_base("(34) 9999-8888") == telefone_base("(34) 99999-8888")

    @pytest.mark.parametrize("raw", ["(34) 89999-8888", "(34) 39999-8888", "(34) 09999-8888"])
    def test_nine_digit_subscriber_not_starting_with_9_is_rejected(self, raw):
        assert parse_brazilian_phone(raw) is None

    @pytest.mark.parametrize("raw", ["(34) 1222-1111", "(34) 0222-1111"])
    def test_eight_digit_subscriber_starting_0_or_1_is_rejected(self, raw):
        assert parse_brazilian_phone(raw) is None


@pytest.mark.parametrize("ddd", ["20", "23", "25", "26", "29", "30", "36", "39", "40", "50", "52"])
def test_invalid_ddd_is_rejected(ddd):
    assert parse_brazilian_phone(f"({ddd}) 99999-8888") is None
    assert parse_brazilian_phone(f"({ddd}) 3222-1111") is None


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "   ",
        "N/A",
        "n/a",
        "sem telefone",
        "abc",
        "0",
        "99998888",  # subscriber only
        "999998888",  # no DDD
        "3499998",  # too short
        "349999988880",  # 12 digits, neither trunk nor country code
        "55349999988881",  # too long
        "+55 34 99999-88881",
        "34 99999-8888 / 34 3222-1111",  # two numbers in one field
        "(34) 99999-9999",  # filler
        "(34) 3333-3333",
        "11111111111",
        "00000000000",
        "9999999999999",
    ],
)
def test_unusable_input_is_not_a_phone(raw):
    assert parse_brazilian_phone(raw) is None
    assert telefone_base(raw) == ""


@pytest.mark.parametrize("raw", ["+1 202 555 0100", "+351 912 345 678", "+54 9 11 2345-6789"])
def test_foreign_numbers_are_never_read_as_brazilian(raw):
    assert parse_brazilian_phone(raw) is None


def test_labels_around_the_number_are_ignored():
    assert parse_brazilian_phone("Cel: (34) 99999-8888") == MOBILE_34


def test_telefone_base_is_the_parsed_base():
    assert telefone_base("+55 (34) 99999-8888") == "3499998888"
    assert telefone_base("553432221111") == "3432221111"
    assert telefone_base("(55) 99999-8888") == "5599998888"


def test_every_anatel_ddd_is_accepted():
    for ddd in VALID_DDDS:
        phone = parse_brazilian_phone(f"{ddd}987654321")
        assert phone is not None, ddd
        assert phone.base == f"{ddd}87654321"


ddds = st.sampled_from(sorted(VALID_DDDS))
mobile_subscribers = st.from_regex(r"9[0-9]{8}", fullmatch=True).filter(
    lambda s: len(set(s[1:])) > 1
)


@given(ddd=ddds, subscriber=mobile_subscribers)
def test_any_mobile_written_any_common_way_has_one_e164_and_base(ddd, subscriber):
    national = f"{ddd}{subscriber}"
    spellings = [
        national,
        f"({ddd}) {subscriber[:5]}-{subscriber[5:]}",
        f"+55 {ddd} {subscriber}",
        f"55{national}",
        f"0{national}",
        f"0 15 {national}",
    ]
    phones = {parse_brazilian_phone(spelling) for spelling in spellings}
    assert len(phones) == 1
    (phone,) = phones
    if phone is not None:  # phonenumbers may still refuse an unallocated range
        assert phone.e164 == f"+55{national}"
        assert phone.base == f"{ddd}{subscriber[1:]}"
        assert phone.is_mobile


@given(st.text(max_size=30))
def test_parsing_never_raises_and_results_are_consistent(raw):
    phone = parse_brazilian_phone(raw)
    if phone is None:
        assert telefone_base(raw) == ""
        return
    assert phone.e164.startswith("+55")
    assert len(phone.e164) == (14 if phone.is_mobile else 13)
    assert phone.base == phone.e164[3:5] + phone.e164[-8:]
    assert phone.base[:2] in VALID_DDDS
