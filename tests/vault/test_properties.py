"""Properties: any test card of the table survives bind → reveal, and bind → rotate →
re-encrypt → reveal, unchanged."""

from __future__ import annotations

import itertools
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payhub.core.cryptosuite import Aead
from payhub.db.session import Database
from payhub.vault import keys, reencrypt, service, testcards
from tests.vault.helpers import MERCHANT, bind, reveal_for_channel

_customers = itertools.count()


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    kind=st.sampled_from(testcards.available()),
    rng=st.randoms(use_true_random=False),
    exp_month=st.integers(min_value=1, max_value=12),
    exp_year=st.integers(min_value=2027, max_value=2040),
    with_customer=st.booleans(),
)
async def test_bind_then_reveal_returns_the_same_card(
    db: Database,
    kind: tuple[str, str],
    rng: random.Random,
    exp_month: int,
    exp_year: int,
    with_customer: bool,
) -> None:
    issuer, card_type = kind
    pan = testcards.test_card(issuer, card_type, rng=rng)
    customer = f"cus_{next(_customers)}" if with_customer else None
    view, _ = await bind(db, pan, customer_id=customer, exp_month=exp_month, exp_year=exp_year)
    assert (view.first6, view.last4) == (pan[:6], pan[-4:])
    assert (view.issuer_code, view.card_type) == (issuer, card_type)
    assert (view.exp_month, view.exp_year) == (exp_month, exp_year)
    assert pan not in repr(view)
    revealed = await db.run_in_transaction(lambda s: service.reveal_card(s, view.token))
    assert revealed.pan == pan
    assert (revealed.issuer_code, revealed.card_type, revealed.brand) == (
        issuer,
        card_type,
        view.brand,
    )
    got = await db.run_in_transaction(
        lambda s: service.get_card(s, view.token, merchant_id=MERCHANT)
    )
    assert got == view


@settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    kind=st.sampled_from(testcards.available()),
    rng=st.randoms(use_true_random=False),
    algorithm=st.sampled_from(list(Aead)),
    batch=st.integers(min_value=1, max_value=5),
)
async def test_bind_rotate_reencrypt_then_reveal_returns_the_same_card(
    db: Database, kind: tuple[str, str], rng: random.Random, algorithm: Aead, batch: int
) -> None:
    issuer, card_type = kind
    pan = testcards.test_card(issuer, card_type, rng=rng)
    view, _ = await bind(db, pan, customer_id=f"cus_{next(_customers)}")
    rotated = await db.run_in_transaction(lambda s: keys.rotate(s, algorithm))
    await reencrypt.run(db, limit=batch)
    assert await db.run_in_transaction(reencrypt.pending) == 0
    assert await reveal_for_channel(db, view.token) == pan
    current = await db.run_in_transaction(
        lambda s: service.get_card(s, view.token, merchant_id=MERCHANT)
    )
    assert current.fingerprint == view.fingerprint
    assert rotated.rows == 0 and rotated.algorithm == algorithm.value
