from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recompra_pipelines.domain.parsing import (
    format_ddmmyyyy,
    parse_br_date,
    parse_br_datetime,
    parse_decimal,
    parse_non_negative_decimal,
    quantize_money,
)

# The largest two-place amount every numeric column of the CRM holds.
STORABLE = Decimal("999999999999.99")


class TestParseDecimal:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("45.90", "45.90"),
            ("45,90", "45.90"),
            ("  12 ", "12"),
            ("-3.50", "-3.50"),
            ("-3,50", "-3.50"),
            ("0", "0"),
            ("0.0001", "0.0001"),
            ("1.234,56", "1234.56"),
            ("1,234.56", "1234.56"),
            ("12.345.678,9", "12345678.9"),
            ("12,345,678.9", "12345678.9"),
            ("-1.234,56", "-1234.56"),
            ("1.234", "1.234"),  # a lone separator is the decimal one
            ("1,234", "1.234"),
            ("007", "7"),
            (12, "12"),
            (-3, "-3"),
            (0, "0"),
            (45.9, "45.9"),
            (0.1, "0.1"),
            (1e-07, "1E-7"),
            (-2.5, "-2.5"),
        ],
    )
    def test_accepted_forms(self, value, expected):
        assert parse_decimal(value) == Decimal(expected)

    def test_keeps_the_exact_digits(self):
        assert str(parse_decimal("45.90")) == "45.90"
        assert str(parse_decimal("0.123456789")) == "0.123456789"

    def test_floats_go_through_their_repr_not_their_binary_value(self):
        assert parse_decimal(0.1) == Decimal("0.1")
        assert parse_decimal(0.1 + 0.2) == Decimal("0.30000000000000004")

    @pytest.mark.parametrize(
        ("value", "reason"),
        [
            (None, "missing value"),
            ("", "empty value"),
            ("   ", "empty value"),
            ("abc", "not a number: 'abc'"),
            ("1.2.3", "not a number: '1.2.3'"),
            ("1,2,3", "not a number: '1,2,3'"),
            ("1.234.567", "not a number: '1.234.567'"),
            ("12.34,56", "not a number: '12.34,56'"),
            ("1,23.456,7", "not a number: '1,23.456,7'"),
            ("1.234,567.8", "not a number: '1.234,567.8'"),
            ("NaN", "not a number: 'NaN'"),
            ("nan", "not a number: 'nan'"),
            ("Infinity", "not a number: 'Infinity'"),
            ("-inf", "not a number: '-inf'"),
            ("1e5", "not a number: '1e5'"),
            ("R$ 10,00", "not a number: 'R$ 10,00'"),
            ("1 234,56", "not a number: '1 234,56'"),
            (".5", "not a number: '.5'"),
            ("5.", "not a number: '5.'"),
            ("--1", "not a number: '--1'"),
            ("١٢", "not a number: '١٢'"),  # non-ASCII digits
            (True, "not a number: True"),
            (False, "not a number: False"),
            (float("nan"), "not a finite number: nan"),
            (float("inf"), "not a finite number: inf"),
            (float("-inf"), "not a finite number: -inf"),
            ([1], "not a number: [1]"),
        ],
    )
    def test_rejected_with_a_short_reason(self, value, reason):
        with pytest.raises(ValueError) as error:
            parse_decimal(value)
        assert str(error.value) == reason

    @given(
        st.decimals(
            places=2, allow_nan=False, allow_infinity=False, min_value=-STORABLE, max_value=STORABLE
        )
    )
    def test_two_place_decimals_round_trip_with_point_or_comma(self, number):
        assert parse_decimal(str(number)) == number
        assert parse_decimal(str(number).replace(".", ",")) == number

    @given(
        st.decimals(
            places=2, allow_nan=False, allow_infinity=False, max_value=STORABLE, min_value=-STORABLE
        )
    )
    def test_grouped_thousands_round_trip_in_both_conventions(self, number):
        english = f"{number:,.2f}"
        brazilian = english.replace(",", "_").replace(".", ",").replace("_", ".")
        assert parse_decimal(english) == number
        assert parse_decimal(brazilian) == number

    @given(st.floats(min_value=-1e12, max_value=1e12, exclude_min=True, exclude_max=True))
    def test_any_storable_float_is_its_shortest_repr(self, number):
        assert parse_decimal(number) == Decimal(repr(number))

    @given(st.integers(min_value=-(10**12) + 1, max_value=10**12 - 1))
    def test_any_storable_int_is_exact(self, number):
        assert parse_decimal(number) == number

    @pytest.mark.parametrize(
        ("value", "reason"),
        [
            (1e30, "1e+30 is beyond any amount the CRM can store"),
            (10**12, "1000000000000 is beyond any amount the CRM can store"),
            ("100000000000000", "'100000000000000' is beyond any amount the CRM can store"),
            ("-1000000000000,00", "'-1000000000000,00' is beyond any amount the CRM can store"),
            (
                Decimal("9" * 5000),
                "999999999999999999999999999999999999999… is beyond any amount the CRM can store",
            ),
        ],
    )
    def test_a_magnitude_no_column_holds_is_rejected_before_any_arithmetic(self, value, reason):
        with pytest.raises(ValueError) as error:
            parse_decimal(value)
        assert str(error.value) == reason

    def test_a_reason_quotes_at_most_a_few_dozen_characters_of_the_value(self):
        with pytest.raises(ValueError) as error:
            parse_decimal("x" * 50_000_000)
        assert str(error.value) == "not a number: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…"


class TestParseNonNegativeDecimal:
    @pytest.mark.parametrize(
        ("value", "expected"), [("0", "0"), ("45,90", "45.90"), (3, "3"), (0.5, "0.5")]
    )
    def test_accepts_zero_and_positive(self, value, expected):
        assert parse_non_negative_decimal(value) == Decimal(expected)

    @pytest.mark.parametrize(
        ("value", "reason"),
        [
            ("-1", "must not be negative: '-1'"),
            ("-0,01", "must not be negative: '-0,01'"),
            (-2, "must not be negative: -2"),
            (-0.5, "must not be negative: -0.5"),
        ],
    )
    def test_rejects_negatives(self, value, reason):
        with pytest.raises(ValueError) as error:
            parse_non_negative_decimal(value)
        assert str(error.value) == reason

    def test_still_rejects_non_numbers(self):
        with pytest.raises(ValueError, match="not a number: 'abc'"):
            parse_non_negative_decimal("abc")

    @pytest.mark.parametrize("value", ["-0", "-0.00", -0.0])
    def test_negative_zero_is_plain_zero(self, value):
        result = parse_non_negative_decimal(value)
        assert result == 0
        assert not result.is_signed()
        assert quantize_money(result).to_eng_string() == "0.00"


class TestParseBrDate:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("28/11/2026", date(2026, 11, 28)),
            ("01/02/2026", date(2026, 2, 1)),
            ("1/2/2026", date(2026, 2, 1)),
            (" 29/02/2028 ", date(2028, 2, 29)),
            ("31/12/1999", date(1999, 12, 31)),
        ],
    )
    def test_accepts_day_first_dates(self, value, expected):
        assert parse_br_date(value) == expected

    @pytest.mark.parametrize(
        ("value", "reason"),
        [
            ("", "empty date"),
            ("  ", "empty date"),
            ("2026-11-28", "not a DD/MM/YYYY date: '2026-11-28'"),
            ("28-11-2026", "not a DD/MM/YYYY date: '28-11-2026'"),
            ("28/11/26", "not a DD/MM/YYYY date: '28/11/26'"),
            ("28/11/2026 10:00", "not a DD/MM/YYYY date: '28/11/2026 10:00'"),
            ("028/11/2026", "not a DD/MM/YYYY date: '028/11/2026'"),
            ("31/02/2026", "not a calendar date: '31/02/2026'"),
            ("29/02/2027", "not a calendar date: '29/02/2027'"),
            ("00/01/2026", "not a calendar date: '00/01/2026'"),
            ("12/13/2026", "not a calendar date: '12/13/2026'"),
            (None, "not a date: None"),
        ],
    )
    def test_rejects_other_formats_and_impossible_dates(self, value, reason):
        with pytest.raises(ValueError) as error:
            parse_br_date(value)
        assert str(error.value) == reason

    @given(st.dates(min_value=date(1000, 1, 1)))
    def test_round_trips_any_date(self, day):
        assert parse_br_date(day.strftime("%d/%m/%Y")) == day
        assert parse_br_date(f"{day.day}/{day.month}/{day.year}") == day


class TestParseBrDatetime:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("28/11/2026 19:45:30", datetime(2026, 11, 28, 19, 45, 30)),
            ("28/11/2026 19:45", datetime(2026, 11, 28, 19, 45)),
            ("01/01/2026 00:00:00", datetime(2026, 1, 1)),
            (" 31/12/2026 23:59:59 ", datetime(2026, 12, 31, 23, 59, 59)),
        ],
    )
    def test_accepts_strict_formats_as_naive_local_time(self, value, expected):
        result = parse_br_datetime(value)
        assert result == expected
        assert result.tzinfo is None

    @pytest.mark.parametrize(
        ("value", "reason"),
        [
            ("", "empty datetime"),
            ("28/11/2026", "not a DD/MM/YYYY HH:mm[:ss] datetime: '28/11/2026'"),
            ("1/2/2026 10:00", "not a DD/MM/YYYY HH:mm[:ss] datetime: '1/2/2026 10:00'"),
            ("28/11/2026 9:45", "not a DD/MM/YYYY HH:mm[:ss] datetime: '28/11/2026 9:45'"),
            ("28/11/2026T19:45", "not a DD/MM/YYYY HH:mm[:ss] datetime: '28/11/2026T19:45'"),
            ("2026-11-28 19:45:30", "not a DD/MM/YYYY HH:mm[:ss] datetime: '2026-11-28 19:45:30'"),
            (
                "28/11/2026 19:45:30.123",
                "not a DD/MM/YYYY HH:mm[:ss] datetime: '28/11/2026 19:45:30.123'",
            ),
            (
                "28/11/2026 19:45:30-03:00",
                "not a DD/MM/YYYY HH:mm[:ss] datetime: '28/11/2026 19:45:30-03:00'",
            ),
            ("28/11/2026 24:00", "not a calendar datetime: '28/11/2026 24:00'"),
            ("28/11/2026 12:60", "not a calendar datetime: '28/11/2026 12:60'"),
            ("31/04/2026 12:00", "not a calendar datetime: '31/04/2026 12:00'"),
            (None, "not a datetime: None"),
        ],
    )
    def test_rejects_anything_else(self, value, reason):
        with pytest.raises(ValueError) as error:
            parse_br_datetime(value)
        assert str(error.value) == reason

    @given(st.datetimes(min_value=datetime(1000, 1, 1)).map(lambda d: d.replace(microsecond=0)))
    def test_round_trips_any_datetime(self, moment):
        assert parse_br_datetime(moment.strftime("%d/%m/%Y %H:%M:%S")) == moment
        assert parse_br_datetime(moment.strftime("%d/%m/%Y %H:%M")) == moment.replace(second=0)


class TestFormatDdmmyyyy:
    def test_online_software_request_format(self):
        assert format_ddmmyyyy(date(2026, 11, 28)) == "28112026"
        assert format_ddmmyyyy(date(2026, 2, 1)) == "01022026"

    @given(st.dates())
    def test_is_day_month_year_zero_padded(self, day):
        text = format_ddmmyyyy(day)
        assert len(text) == 8
        assert parse_br_date(f"{text[:2]}/{text[2:4]}/{text[4:]}") == day


class TestQuantizeMoney:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("10", "10.00"),
            ("10.005", "10.01"),
            ("10.004999", "10.00"),
            ("2.675", "2.68"),
            ("0.125", "0.13"),
            ("-0.125", "-0.13"),
            ("-10.005", "-10.01"),
            ("45.90", "45.90"),
            ("1234.5678", "1234.57"),
        ],
    )
    def test_rounds_half_up_to_centavos(self, value, expected):
        assert quantize_money(Decimal(value)).to_eng_string() == expected

    @given(
        st.decimals(allow_nan=False, allow_infinity=False, min_value=-STORABLE, max_value=STORABLE)
    )
    def test_result_is_centavos_within_half_a_centavo_and_stable(self, value):
        rounded = quantize_money(value)
        assert rounded.as_tuple().exponent == -2
        assert abs(rounded - value) <= Decimal("0.005")
        assert quantize_money(rounded) == rounded

    @pytest.mark.parametrize("value", ["1e30", "1000000000000", "-1e12"])
    def test_a_magnitude_no_column_holds_is_a_value_error_not_a_decimal_signal(self, value):
        with pytest.raises(ValueError, match="beyond any amount the CRM can store"):
            quantize_money(Decimal(value))
