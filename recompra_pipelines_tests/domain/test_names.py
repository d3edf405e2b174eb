import pytest
from hypothesis import given
from hypothesis import strategies as st

from recompra_pipelines.domain.names import (
    ANONYMOUS_CLIENT_NAMES,
    clean_name,
    is_anonymous_client,
    is_placeholder_reference,
    name_match_key,
)


class TestCleanName:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("  José   da SILVA ", "José da SILVA"),
            ("Maria\tdas\u00a0Dores", "Maria das Dores"),
            ("Ana\n  Paula\r\n", "Ana Paula"),
            ("\u00a0João\u2003Pedro\u00a0", "João Pedro"),
            ("Conceição", "Conceição"),
            ("", ""),
            ("   ", ""),
            (None, ""),
        ],
    )
    def test_trims_and_collapses_whitespace_keeping_case_and_accents(self, raw, expected):
        assert clean_name(raw) == expected

    @given(st.text())
    def test_is_idempotent(self, raw):
        assert clean_name(clean_name(raw)) == clean_name(raw)


class TestNameMatchKey:
    def test_spacing_case_and_accents_do_not_matter(self):
        assert name_match_key("  José   da SILVA ") == name_match_key("jose da silva")
        assert name_match_key("  José   da SILVA ") == "jose da silva"

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("CONCEIÇÃO", "conceicao"),
            ("Müller Ñandú", "muller nandu"),
            ("JOÃO\u00a0PEDRO", "joao pedro"),
            ("Straße", "strasse"),
            ("Jose\u0301", "jose"),  # decomposed accent
            (None, ""),
            ("  ", ""),
        ],
    )
    def test_folds_to_unaccented_lowercase(self, raw, expected):
        assert name_match_key(raw) == expected

    def test_different_names_stay_different(self):
        assert name_match_key("José da Silva") != name_match_key("José Silva")

    @given(st.text())
    def test_is_idempotent(self, raw):
        assert name_match_key(name_match_key(raw)) == name_match_key(raw)


class TestIsAnonymousClient:
    @pytest.mark.parametrize(
        "raw",
        [
            None,
            "",
            "   ",
            "AO CONSUMIDOR",
            " ao  consumidor ",
            "Ao Consumidor",
            "CONSUMIDOR",
            "consumidor final",
            "Consumidor  Final",
            "CLIENTE CARDAPIO WEB",
            "Cliente Cardápio Web",
            "NÃO INFORMADO",
            "NAO INFORMADO",
            "não informado",
            "N/A",
            "n/a",
            "0",
            " 0 ",
        ],
    )
    def test_placeholders_are_anonymous(self, raw):
        assert is_anonymous_client(raw)

    @pytest.mark.parametrize(
        "raw",
        ["José da Silva", "CONSUMIDORA MARIA", "AO CONSUMIDOR JOÃO", "Informado", "00", "N"],
    )
    def test_real_names_are_not_anonymous(self, raw):
        assert not is_anonymous_client(raw)

    def test_every_listed_placeholder_is_anonymous(self):
        for name in ANONYMOUS_CLIENT_NAMES:
            assert is_anonymous_client(name), name


class TestIsPlaceholderReference:
    @pytest.mark.parametrize(
        "raw", [None, "", "   ", "\t", "N/A", "n/a", "N/a", " N/A ", "0", "NA", "na", "-", " - "]
    )
    def test_none_sentinels(self, raw):
        assert is_placeholder_reference(raw)

    @pytest.mark.parametrize("raw", ["JOAO", "Vendedor 1", "10", "00", "N/A2", "--", "NAO"])
    def test_real_references(self, raw):
        assert not is_placeholder_reference(raw)
