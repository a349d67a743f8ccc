"""Test card numbers are valid and land where they were asked to."""

from __future__ import annotations

import random

import pytest
from stdnum import luhn

from payhub.vault import bins, testcards, validation

COMBINATIONS = testcards.available()


def test_every_issuer_of_the_table_can_make_cards() -> None:
    assert {code for code, _ in COMBINATIONS} == set(bins.issuers())


@pytest.mark.parametrize(("issuer", "card_type"), COMBINATIONS)
def test_cards_are_luhn_valid_and_resolve_to_the_issuer_and_type(
    issuer: str, card_type: str
) -> None:
    rng = random.Random(f"{issuer}/{card_type}")
    for _ in range(40):
        pan = testcards.test_card(issuer, card_type, rng=rng)
        assert pan.isdigit() and luhn.is_valid(pan)
        info = bins.lookup(pan)
        assert info is not None
        assert (info.issuer_code, info.card_type, info.pan_length) == (issuer, card_type, len(pan))
        number, checked = validation.validate_card_number(pan)
        assert number == pan and checked == info


def test_a_seeded_rng_repeats_itself() -> None:
    one = [testcards.test_card("PARTNER", "debit", rng=random.Random(5)) for _ in range(3)]
    assert len(set(one)) == 1
    unseeded = {testcards.test_card("PARTNER", "debit") for _ in range(5)}
    assert len(unseeded) > 1


def test_the_partner_debit_range_avoids_the_credit_range_inside_it() -> None:
    rng = random.Random(0)
    cards = [testcards.test_card("PARTNER", "debit", rng=rng) for _ in range(500)]
    assert all(pan.startswith("623208") and not pan.startswith("62320899") for pan in cards)


@pytest.mark.parametrize(("issuer", "card_type"), [("NOBANK", "debit"), ("CITYBANK3", "credit")])
def test_missing_ranges_are_refused(issuer: str, card_type: str) -> None:
    with pytest.raises(ValueError, match="no"):
        testcards.test_card(issuer, card_type)
