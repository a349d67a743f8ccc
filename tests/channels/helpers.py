"""Small scenarios, cards and requests for the channel tests."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from payhub.channels.base import AuthorizeRequest, BankAccount, CardData, CardType, PayoutRequest
from payhub.channels.sim.scenario import Scenario, scenario_from_data

# A Wednesday, 10:00 in Beijing.
START = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)

PAN = "6222021234567894"  # Luhn-valid test number
CVV = "739"


def base_data() -> dict[str, Any]:
    """A two-channel world with no incidents and nothing lost: tests change what they need."""
    return copy.deepcopy(
        {
            "name": "test",
            "seed": 11,
            "duration_s": 3600,
            "payments": 1000,
            "currency": "CNY",
            "start_at": "2026-11-25T02:00:00Z",
            "amount": {"median_minor": 3500, "sigma": 0.9},
            "hard_decline_rate": 0.0,
            "issuers": [
                {"code": "PARTNER", "share": 0.5, "credit_share": 0.2},
                {"code": "ICBC", "share": 0.5, "credit_share": 0.3},
            ],
            "channels": [
                {
                    "id": "alpha",
                    "issuers": "*",
                    "fee_bps": {"debit": 30, "credit": 50},
                    "latency_ms": {"median": 100, "p99": 400},
                    "timeout_ms": 3000,
                    "success": {"default": 1.0},
                },
                {
                    "id": "beta",
                    "issuers": ["ICBC"],
                    "fee_bps": {"debit": 20, "credit": 40},
                    "latency_ms": {"median": 100, "p99": 400},
                    "timeout_ms": 3000,
                    "success": {"default": 1.0},
                },
            ],
            "payout_rails": [
                {
                    "id": "rail",
                    "banks": "*",
                    "latency_ms": {"median": 100, "p99": 400},
                    "timeout_ms": 3000,
                    "success": 1.0,
                    "max_amount": 1000000,
                    "fee_minor": 50,
                }
            ],
        }
    )


def scenario(**changes: Any) -> Scenario:
    """`base_data()` with top-level keys replaced; `alpha={...}` merges into channel alpha."""
    data = base_data()
    for key, value in changes.items():
        channel = next((c for c in data["channels"] if c["id"] == key), None)
        if channel is not None:
            channel.update(value)
        else:
            data[key] = value
    return scenario_from_data(data)


def card(
    issuer: str = "ICBC",
    *,
    pan: str = PAN,
    card_type: CardType = CardType.DEBIT,
    exp_year: int = 2031,
    exp_month: int = 12,
) -> CardData:
    return CardData(
        pan=pan,
        exp_month=exp_month,
        exp_year=exp_year,
        cvv=CVV,
        issuer_code=issuer,
        card_type=card_type,
        brand="unionpay",
    )


def auth_request(
    request_id: str = "req_1",
    *,
    payment_id: str = "pay_1",
    amount: int = 10_000,
    currency: str = "CNY",
    issuer: str = "ICBC",
    card_data: CardData | None = None,
) -> AuthorizeRequest:
    return AuthorizeRequest(
        request_id=request_id,
        payment_id=payment_id,
        merchant_id="mer_1",
        amount=amount,
        currency=currency,
        card=card_data or card(issuer),
    )


def payout_request(
    request_id: str = "po_req_1",
    *,
    payout_id: str = "po_1",
    amount: int = 50_000,
    bank: str = "ICBC",
    account_number: str = "6212260200012345678",
) -> PayoutRequest:
    return PayoutRequest(
        request_id=request_id,
        payout_id=payout_id,
        merchant_id="mer_1",
        amount=amount,
        currency="CNY",
        account=BankAccount(bank_code=bank, account_number=account_number, account_name="Noodles"),
    )
