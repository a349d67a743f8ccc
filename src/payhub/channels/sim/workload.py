"""The payments a scenario plays: arrival times, issuers, card types, amounts and cards, all
drawn from the scenario seed (so every run and every routing strategy sees the same ones)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from stdnum import luhn

from payhub.channels.base import AuthorizeRequest, CardData, CardType
from payhub.channels.sim.draws import Draws, Stream, normal_quantile, pick
from payhub.channels.sim.scenario import Scenario


@dataclass(frozen=True, slots=True)
class SimPayment:
    """One payment of a scenario. `key` is what the simulator keys its draws by: send it as
    the request's `reference` (or as its `payment_id`)."""

    index: int
    key: str
    at_s: float  # seconds after the scenario start
    issuer: str
    card_type: CardType
    amount: int
    currency: str
    card: CardData

    def authorize_request(
        self,
        request_id: str,
        *,
        payment_id: str | None = None,
        merchant_id: str = "mer_sim",
    ) -> AuthorizeRequest:
        return AuthorizeRequest(
            request_id=request_id,
            payment_id=payment_id or self.key,
            merchant_id=merchant_id,
            amount=self.amount,
            currency=self.currency,
            card=self.card,
            reference=self.key,
        )


def payment_key(index: int) -> str:
    return f"p{index:07d}"


def _test_pan(draws: Draws, key: str) -> str:
    """A Luhn-valid 16-digit number in the UnionPay 62 range, made up from the seed."""
    body = "62" + str(int(draws.uniform(Stream.CARD, key, "pan") * 10**13)).zfill(13)
    return body + luhn.calc_check_digit(body)


def generate_payment(scenario: Scenario, index: int, draws: Draws | None = None) -> SimPayment:
    draws = draws or Draws(scenario.seed)
    key = payment_key(index)
    total = max(scenario.payments, 1)
    # Stratified arrivals: payment i arrives somewhere in the i-th slice of the duration,
    # so arrivals are in index order and evenly spread.
    at_s = scenario.duration_s * (index + draws.uniform(Stream.ARRIVAL, key)) / total
    issuer = pick(draws.uniform(Stream.ISSUER, key), scenario.issuer_weights)
    spec = next(i for i in scenario.issuers if i.code == issuer)
    card_type = (
        CardType.CREDIT
        if draws.uniform(Stream.CARD_TYPE, key) < spec.credit_share
        else CardType.DEBIT
    )
    z = normal_quantile(draws.uniform(Stream.AMOUNT, key))
    amount = max(1, round(scenario.amount.median_minor * math.exp(scenario.amount.sigma * z)))
    card = CardData(
        pan=_test_pan(draws, key),
        exp_month=1 + int(draws.uniform(Stream.CARD, key, "month") * 12),
        exp_year=2030 + int(draws.uniform(Stream.CARD, key, "year") * 8),
        cvv=None,
        issuer_code=issuer,
        card_type=card_type,
        brand="unionpay",
    )
    return SimPayment(index, key, at_s, issuer, card_type, amount, scenario.currency, card)


def generate_payments(scenario: Scenario, count: int | None = None) -> list[SimPayment]:
    """The scenario's payments in arrival order (the first `count` of them if given)."""
    draws = Draws(scenario.seed)
    n = scenario.payments if count is None else min(count, scenario.payments)
    return [generate_payment(scenario, i, draws) for i in range(n)]
