"""Pure pricing: fee rules, their validation, and the fee a payment owes.

A rule is a percentage in basis points, a fixed part, a minimum and an optional cap, all
integers (minor units of the plan's currency). The percentage is rounded half-even to the
minor unit by `payhub.channels.base.fee_for`, the one fee formula of the code base.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from payhub.channels.base import CardType, ChannelInfo, fee_for
from payhub.core.errors import PayHubError
from payhub.core.money import MAX_MINOR, check_currency

MAX_BPS = 10_000  # 100 %
CARD_TYPES = tuple(t.value for t in CardType)
CHANNEL_CLASSES = ("in_house", "unionpay", "other")
REFUND_POLICIES = ("proportional", "none")
MAX_RULES = 100


def _bad(param: str, detail: str) -> PayHubError:
    return PayHubError("validation_error", param=param, detail=detail)


@dataclass(frozen=True, slots=True)
class Price:
    """One price: `bps` of the amount (half-even), plus `fixed`, at least `minimum`, at most
    `cap` (None: no cap)."""

    bps: int
    fixed: int = 0
    minimum: int = 0
    cap: int | None = None

    def fee(self, amount: int, *, same_currency: bool = True) -> int:
        """The fee on `amount`, never more than the amount itself. In another currency than
        the plan's, the fixed part, minimum and cap (minor units of the plan's currency)
        cannot apply: the percentage alone is charged."""
        if amount <= 0:
            return 0
        if not same_currency:
            return min(fee_for(amount, self.bps), amount)
        return min(
            fee_for(amount, self.bps, self.fixed, minimum=self.minimum, cap=self.cap), amount
        )

    def to_data(self) -> dict[str, Any]:
        return {"bps": self.bps, "fixed": self.fixed, "minimum": self.minimum, "cap": self.cap}


def _int(data: Mapping[str, Any], key: str, param: str, *, default: int | None) -> int | None:
    value = data.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"{param}.{key}", "an integer")
    if value < 0:
        raise _bad(f"{param}.{key}", "must not be negative")
    if value > MAX_MINOR:
        raise _bad(f"{param}.{key}", "must fit in 64 bits")
    return value


def parse_price(data: Any, param: str) -> Price:
    if not isinstance(data, Mapping):
        raise _bad(param, "an object with bps, fixed, minimum, cap")
    unknown = set(data) - {"bps", "fixed", "minimum", "cap"}
    if unknown:
        raise _bad(param, f"unknown field {sorted(unknown)[0]!r}")
    if "bps" not in data:
        raise _bad(f"{param}.bps", "required")
    bps = _int(data, "bps", param, default=None)
    assert bps is not None
    if bps > MAX_BPS:
        raise _bad(f"{param}.bps", f"at most {MAX_BPS} (100%)")
    fixed = _int(data, "fixed", param, default=0) or 0
    minimum = _int(data, "minimum", param, default=0) or 0
    cap = _int(data, "cap", param, default=None)
    if cap is not None and minimum > cap:
        raise _bad(f"{param}.minimum", "the minimum cannot exceed the cap")
    return Price(bps=bps, fixed=fixed, minimum=minimum, cap=cap)


@dataclass(frozen=True, slots=True)
class Rule:
    """A plan's rule: when it applies (None: any) and its price."""

    price: Price
    card_type: str | None = None
    channel_class: str | None = None
    scene: str | None = None

    def matches(self, card_type: str, channel_class: str, scene: str) -> bool:
        return (
            (self.card_type is None or self.card_type == card_type)
            and (self.channel_class is None or self.channel_class == channel_class)
            and (self.scene is None or self.scene == scene)
        )

    @property
    def catch_all(self) -> bool:
        return self.card_type is None and self.channel_class is None and self.scene is None

    def to_data(self) -> dict[str, Any]:
        when = {
            k: v
            for k, v in (
                ("card_type", self.card_type),
                ("channel_class", self.channel_class),
                ("scene", self.scene),
            )
            if v is not None
        }
        return {**when, **self.price.to_data()}


def _choice(data: Mapping[str, Any], key: str, allowed: Sequence[str], param: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if value not in allowed:
        raise _bad(f"{param}.{key}", "one of " + ", ".join(allowed))
    return str(value)


def parse_rules(data: Any, *, scenes: Sequence[str]) -> tuple[Rule, ...]:
    """A plan's rules, in order: the first that matches a payment prices it, and the last
    must match every payment (no conditions), so no payment is left unpriced."""
    if not isinstance(data, list) or not data:
        raise _bad("rules", "a non-empty list of rules")
    if len(data) > MAX_RULES:
        raise _bad("rules", f"at most {MAX_RULES} rules")
    rules = []
    for i, item in enumerate(data):
        param = f"rules[{i}]"
        if not isinstance(item, Mapping):
            raise _bad(param, "an object")
        conditions = {"card_type", "channel_class", "scene"}
        price = parse_price({k: v for k, v in item.items() if k not in conditions}, param)
        rules.append(
            Rule(
                price=price,
                card_type=_choice(item, "card_type", CARD_TYPES, param),
                channel_class=_choice(item, "channel_class", CHANNEL_CLASSES, param),
                scene=_choice(item, "scene", scenes, param),
            )
        )
    if not rules[-1].catch_all:
        raise _bad(f"rules[{len(rules) - 1}]", "the last rule must have no conditions")
    return tuple(rules)


def parse_channel_classes(data: Any, *, channels: Sequence[str]) -> dict[str, str]:
    """A plan's own classing of channels (channel id → class), over the derived one."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise _bad("channel_classes", "an object: channel id → class")
    for channel, cls in data.items():
        if channel not in channels:
            raise _bad("channel_classes", f"unknown channel {str(channel)[:64]!r}")
        if cls not in CHANNEL_CLASSES:
            raise _bad(f"channel_classes.{channel}", "one of " + ", ".join(CHANNEL_CLASSES))
    return {str(k): str(v) for k, v in data.items()}


def derived_channel_class(channel_id: str) -> str:
    """The class of a channel by its id: the partner bank's own channels are in-house,
    UnionPay's are UnionPay, the rest (NetsUnion, direct bank links) other."""
    if channel_id.startswith("partner"):
        return "in_house"
    if "unionpay" in channel_id:
        return "unionpay"
    return "other"


@dataclass(frozen=True, slots=True)
class PlanTerms:
    """One version of a fee plan: what it charges and how refunds treat the fee."""

    currency: str
    rules: tuple[Rule, ...]
    channel_classes: Mapping[str, str]
    refund_policy: str

    def channel_class(self, channel_id: str) -> str:
        return self.channel_classes.get(channel_id) or derived_channel_class(channel_id)

    def rule_for(self, card_type: str, channel_id: str, scene: str) -> Rule:
        cls = self.channel_class(channel_id)
        for rule in self.rules:
            if rule.matches(card_type, cls, scene):
                return rule
        return self.rules[-1]  # validation makes the last rule match everything


def check_refund_policy(value: Any) -> str:
    if value not in REFUND_POLICIES:
        raise _bad("refund_policy", "one of " + ", ".join(REFUND_POLICIES))
    return str(value)


def plan_terms(
    currency: str,
    rules: Any,
    channel_classes: Any,
    refund_policy: Any,
    *,
    scenes: Sequence[str],
    channels: Sequence[str],
) -> PlanTerms:
    check_currency(currency)
    return PlanTerms(
        currency=currency,
        rules=parse_rules(rules, scenes=scenes),
        channel_classes=parse_channel_classes(channel_classes, channels=channels),
        refund_policy=check_refund_policy(refund_policy),
    )


# The platform's plan when a merchant has none and no operator plan is marked default:
# 0.6 % of the amount, the usual small-merchant rate for card and wallet payments in China.
BUILTIN_PLAN = PlanTerms(
    currency="CNY",
    rules=(Rule(Price(bps=60)),),
    channel_classes={},
    refund_policy="proportional",
)


@dataclass(frozen=True, slots=True)
class CostTerms:
    """One version of a channel's cost schedule: a price per card type."""

    currency: str
    debit: Price
    credit: Price
    refund_returns_fee: bool

    def price(self, card_type: str) -> Price:
        return self.credit if card_type == CardType.CREDIT.value else self.debit


def cost_terms(currency: str, debit: Any, credit: Any, refund_returns_fee: Any) -> CostTerms:
    check_currency(currency)
    if not isinstance(refund_returns_fee, bool):
        raise _bad("refund_returns_fee", "true or false")
    return CostTerms(
        currency=currency,
        debit=parse_price(debit, "debit"),
        credit=parse_price(credit, "credit"),
        refund_returns_fee=refund_returns_fee,
    )


def list_price_terms(info: ChannelInfo, currency: str) -> CostTerms:
    """A channel's cost at its own list prices, when no schedule is configured. Channels
    keep the fee of a refunded payment (the common practice of card channels in China)."""
    return CostTerms(
        currency=currency,
        debit=Price(bps=info.fee_bps_debit, fixed=info.fee_fixed_minor),
        credit=Price(bps=info.fee_bps_credit, fixed=info.fee_fixed_minor),
        refund_returns_fee=False,
    )


def half_even_ratio(total: int, part: int, whole: int) -> int:
    """`total × part / whole` rounded half-even; 0 when `whole` is 0."""
    if whole <= 0:
        return 0
    quotient, remainder = divmod(total * part, whole)
    if remainder * 2 > whole or (remainder * 2 == whole and quotient % 2 == 1):
        quotient += 1
    return quotient


@dataclass(frozen=True, slots=True)
class FeeState:
    """What a payment's fees stand at: cumulative amounts captured and refunded, fees
    charged and returned. Every change is worked out from these totals, never from the one
    movement alone, so rounding can never return more than was charged."""

    captured: int = 0
    refunded: int = 0
    merchant_fee: int = 0
    merchant_fee_refunded: int = 0
    channel_cost: int = 0
    channel_cost_refunded: int = 0


@dataclass(frozen=True, slots=True)
class Pinned:
    """The prices a payment was charged by, pinned at its first capture."""

    merchant_price: Price
    merchant_same_currency: bool
    refund_policy: str
    cost_price: Price
    cost_same_currency: bool
    refund_returns_fee: bool


@dataclass(frozen=True, slots=True)
class FeeMove:
    """What one capture or refund books on fees (amounts ≥ 0) and the state after it."""

    merchant_fee: int
    channel_cost: int
    state: FeeState


def on_capture(state: FeeState, pinned: Pinned, amount: int) -> FeeMove:
    """A capture of `amount`: the fee on everything captured so far, less what was charged
    (a minimum or fixed part is charged once per payment, a cap holds for the payment)."""
    captured = state.captured + amount
    merchant_total = pinned.merchant_price.fee(
        captured, same_currency=pinned.merchant_same_currency
    )
    cost_total = pinned.cost_price.fee(captured, same_currency=pinned.cost_same_currency)
    merchant = max(0, merchant_total - state.merchant_fee)
    cost = max(0, cost_total - state.channel_cost)
    after = FeeState(
        captured=captured,
        refunded=state.refunded,
        merchant_fee=state.merchant_fee + merchant,
        merchant_fee_refunded=state.merchant_fee_refunded,
        channel_cost=state.channel_cost + cost,
        channel_cost_refunded=state.channel_cost_refunded,
    )
    return FeeMove(merchant, cost, after)


def on_refund(state: FeeState, pinned: Pinned, amount: int) -> FeeMove:
    """A refund of `amount`: under the proportional policy the merchant gets back the share
    of its fee that everything refunded so far bears, less what it already got back."""
    refunded = state.refunded + amount
    merchant = 0
    if pinned.refund_policy == "proportional":
        target = half_even_ratio(state.merchant_fee, refunded, state.captured)
        merchant = max(0, min(target, state.merchant_fee) - state.merchant_fee_refunded)
    cost = 0
    if pinned.refund_returns_fee:
        target = half_even_ratio(state.channel_cost, refunded, state.captured)
        cost = max(0, min(target, state.channel_cost) - state.channel_cost_refunded)
    after = FeeState(
        captured=state.captured,
        refunded=refunded,
        merchant_fee=state.merchant_fee,
        merchant_fee_refunded=state.merchant_fee_refunded + merchant,
        channel_cost=state.channel_cost,
        channel_cost_refunded=state.channel_cost_refunded + cost,
    )
    return FeeMove(merchant, cost, after)
