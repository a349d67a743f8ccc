"""Test card numbers: Luhn-valid numbers from the BIN table, for tests, the demo and the
bank-network simulator. They belong to no real card.

Import the module (`from payhub.vault import testcards`) rather than the function into a
test file, or pytest might take `test_card` for a test (it is marked `__test__ = False`).
"""

from __future__ import annotations

import random

from stdnum import luhn

from payhub.vault import bins

_MAX_TRIES = 1000


def available() -> list[tuple[str, str]]:
    """Every (issuer code, card type) the table can make a test card for, sorted."""
    return sorted({(row.issuer_code, row.card_type) for row in bins.table().rows()})


def test_card(issuer_code: str, card_type: str, rng: random.Random | None = None) -> str:
    """A Luhn-valid card number that the BIN table resolves to this issuer and card type.

    `rng` makes the choice reproducible (a seeded `random.Random`); without it the number is
    drawn from the system's randomness. ValueError when the table has no such range."""
    rows = [
        row
        for row in bins.table().rows()
        if row.issuer_code == issuer_code and row.card_type == card_type
    ]
    if not rows:
        raise ValueError(f"the BIN table has no {card_type} range for issuer {issuer_code}")
    draw = rng if rng is not None else random.SystemRandom()
    for _ in range(_MAX_TRIES):
        row = draw.choice(rows)
        filler = row.pan_length - len(row.prefix) - 1
        body = row.prefix + "".join(str(draw.randrange(10)) for _ in range(filler))
        pan = body + str(luhn.calc_check_digit(body))
        # A longer prefix of another range may sit inside this one: draw again if we hit it.
        found = bins.lookup(pan)
        if found is not None and (found.issuer_code, found.card_type) == (issuer_code, card_type):
            return pan
    raise ValueError(f"could not draw a {card_type} card number for issuer {issuer_code}")


test_card.__test__ = False  # type: ignore[attr-defined]
