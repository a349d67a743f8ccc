"""The contract between PayHub and a bank channel.

Every bank connector — the simulator's in-process adapter today, an HTTP adapter or a real
bank's connector later — implements `ChannelAdapter`. Requests and results are plain frozen
values; money is integer minor units plus an ISO 4217 currency.

Every call that changes money carries *our* unique `request_id`. A channel that sees the same
request id again must answer with the first outcome and never act twice, so a retry after a
timeout can never charge a card twice. `query(request_id)` asks the channel what really
happened to an earlier request.

Outcome families (`ChannelStatus`):

- `approved` / `declined` — the channel answered; `raw_code` carries the card-network
  response code (`00`, `51`, `05`…), which `RESPONSE_CODES` maps to a catalogue code and to a
  hard or soft decline.
- `timeout` — we waited past the channel's timeout and do not know what happened.
- `lost` — the request went out but its response never came back; the charge may exist.
- `not_found` — only from `query`/`query_payout`: the channel has no record of the request,
  so it never acted on it.
- `error` — the channel did not process the request (not supported, malformed, a request id
  reused with other content, or it could not be sent at all); nothing happened.

After `timeout` or `lost` the outcome is unknown: resolve it with `query` before trying
anything else for the same payment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from enum import StrEnum
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from stdnum import luhn


class CardType(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"


class ChannelKind(StrEnum):
    CARD = "card"  # card acquiring: authorize, capture, refund, void
    PAYOUT = "payout"  # a payout rail: payout, query_payout


class ChannelStatus(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    TIMEOUT = "timeout"
    LOST = "lost"
    NOT_FOUND = "not_found"
    ERROR = "error"


class DeclineClass(StrEnum):
    HARD = "hard"  # no other channel can fix it: do not cascade
    SOFT = "soft"  # another channel (or a later try) may succeed


# ---------------------------------------------------------------------------------------
# Card-network response codes
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResponseCode:
    """What a raw response code means to PayHub."""

    code: str
    meaning: str
    # The catalogue code (payhub.core.errors) a failure with this code is reported as;
    # None for approvals.
    error_code: str | None
    # Hard or soft for declines of an authorisation or payout; None for approvals and for
    # codes that only answer follow-up requests (capture, refund, void).
    decline_class: DeclineClass | None


_H, _S = DeclineClass.HARD, DeclineClass.SOFT

RESPONSE_CODES: Mapping[str, ResponseCode] = MappingProxyType(
    {
        rc.code: rc
        for rc in (
            ResponseCode("00", "Approved", None, None),
            # Hard declines: the issuer's answer for this card, on any channel.
            ResponseCode("51", "Insufficient funds", "insufficient_funds", _H),
            ResponseCode("54", "Expired card", "card_expired", _H),
            ResponseCode("14", "Invalid card number", "card_number_invalid", _H),
            ResponseCode("41", "Lost card, pick up", "card_lost_or_stolen", _H),
            ResponseCode("43", "Stolen card, pick up", "card_lost_or_stolen", _H),
            ResponseCode("57", "Transaction not permitted to cardholder", "card_not_permitted", _H),
            # Soft declines: worth another channel.
            ResponseCode("05", "Do not honour", "card_declined", _S),
            ResponseCode("91", "Issuer or switch inoperative", "issuer_unavailable", _S),
            ResponseCode("96", "System malfunction", "channel_error", _S),
            # Channel-side refusals: this channel will not take the request, another may.
            ResponseCode("58", "Transaction not permitted to terminal", "channel_error", _S),
            ResponseCode("61", "Exceeds amount limit", "channel_error", _S),
            ResponseCode("90", "Cutoff is in process", "channel_error", _S),
            # Answers to follow-up requests and protocol problems.
            ResponseCode("12", "Invalid transaction", "channel_error", None),
            ResponseCode("13", "Invalid amount", "channel_error", _S),
            ResponseCode("25", "Unable to locate record", "channel_error", None),
            ResponseCode("40", "Requested function not supported", "channel_error", None),
            ResponseCode("94", "Duplicate transmission", "channel_error", None),
            # A payout approved earlier and later sent back by the beneficiary bank.
            ResponseCode("RT", "Returned by the beneficiary bank", "payout_returned", None),
            # A bank's ISO 20022 status report (pain.002) rejecting a payout: the status,
            # or its external status reason code when one is given.
            *(
                ResponseCode(iso, meaning, "payout_rejected", None)
                for iso, meaning in (
                    ("RJCT", "Rejected by the bank"),
                    ("CANC", "Cancelled by the bank"),
                    ("AC01", "Incorrect account number"),
                    ("AC04", "Closed account number"),
                    ("AC06", "Blocked account"),
                    ("AG01", "Transaction forbidden on this account"),
                    ("AM04", "Insufficient funds"),
                    ("AM05", "Duplication"),
                    ("BE01", "Creditor name does not match the account"),
                    ("MS02", "Reason not specified by the customer"),
                    ("MS03", "Reason not specified by the agent"),
                    ("NARR", "See the narrative"),
                )
            ),
        )
    }
)

# What `query_payout` answers for a payout the beneficiary bank sent back.
RETURNED = "RT"

HARD_DECLINE_CODES: frozenset[str] = frozenset(
    code for code, rc in RESPONSE_CODES.items() if rc.decline_class is DeclineClass.HARD
)
SOFT_DECLINE_CODES: frozenset[str] = frozenset(
    code for code, rc in RESPONSE_CODES.items() if rc.decline_class is DeclineClass.SOFT
)


def response_code(raw_code: str) -> ResponseCode:
    """The meaning of a raw code. An unknown code is taken as a soft `card_declined`: a
    hard decline mistaken for a soft one costs one more attempt, the reverse loses a sale."""
    known = RESPONSE_CODES.get(raw_code)
    if known is not None:
        return known
    return ResponseCode(raw_code, "Unknown response code", "card_declined", _S)


# ---------------------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------------------


def mask_number(number: str) -> str:
    """'****4242': never more than the last four digits, never the length."""
    return "****" + number[-4:] if len(number) > 4 else "****"


def luhn_valid(number: str) -> bool:
    """True when a digit string passes the Luhn (mod 10) check."""
    return number.isdigit() and luhn.is_valid(number)


@dataclass(frozen=True, slots=True, repr=False)
class CardData:
    """A card as sent to a channel. Its repr shows the last four digits only and no CVV;
    validation messages never carry any part of the number."""

    pan: str
    exp_month: int
    exp_year: int
    cvv: str | None
    issuer_code: str
    card_type: CardType
    brand: str

    def __post_init__(self) -> None:
        if not (isinstance(self.pan, str) and self.pan.isascii() and self.pan.isdigit()):
            raise ValueError("the card number must be a string of digits")
        if not 12 <= len(self.pan) <= 19:
            raise ValueError("the card number must have 12 to 19 digits")
        if not (isinstance(self.exp_month, int) and 1 <= self.exp_month <= 12):
            raise ValueError("exp_month must be 1 to 12")
        if not (isinstance(self.exp_year, int) and 2000 <= self.exp_year <= 2999):
            raise ValueError("exp_year must have four digits")
        if self.cvv is not None and not (
            isinstance(self.cvv, str)
            and self.cvv.isascii()
            and self.cvv.isdigit()
            and len(self.cvv) in (3, 4)
        ):
            raise ValueError("the CVV must be 3 or 4 digits")
        if not self.issuer_code:
            raise ValueError("issuer_code is required")
        object.__setattr__(self, "card_type", CardType(self.card_type))

    @property
    def last4(self) -> str:
        return self.pan[-4:]

    @property
    def masked_pan(self) -> str:
        return mask_number(self.pan)

    def expired_at(self, moment: datetime) -> bool:
        """A card is good through the last day of its expiry month (UTC)."""
        moment = moment.astimezone(UTC)
        return (moment.year, moment.month) > (self.exp_year, self.exp_month)

    def __repr__(self) -> str:
        return (
            f"CardData(pan={self.masked_pan!r}, exp={self.exp_month:02d}/{self.exp_year}, "
            f"issuer_code={self.issuer_code!r}, card_type={self.card_type.value!r}, "
            f"brand={self.brand!r})"
        )

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class AuthorizeRequest:
    """Ask a channel to authorise a card payment.

    `request_id` is ours and unique per attempt: a channel seeing it twice answers with the
    first outcome. `reference` is the merchant's order reference as passed to the channel; the
    simulator keys its random draws by it when given (else by `payment_id`), so a replay that
    creates fresh payment ids still faces the same world. `capture` makes it a sale: the
    approved amount is captured in the same message (the single-message financial request
    of ISO 8583, 0200, against the authorisation-only 0100), so an automatic-capture
    payment needs one round trip to the network, not two.
    """

    request_id: str
    payment_id: str
    merchant_id: str
    amount: int
    currency: str
    card: CardData
    scene: str = "ecommerce"
    reference: str | None = None
    capture: bool = False


@dataclass(frozen=True, slots=True, repr=False)
class BankAccount:
    """A beneficiary account for a payout. Its repr shows the last four digits only."""

    bank_code: str
    account_number: str
    account_name: str

    @property
    def masked_number(self) -> str:
        return mask_number(self.account_number)

    def __repr__(self) -> str:
        return (
            f"BankAccount(bank_code={self.bank_code!r}, account_number={self.masked_number!r}, "
            f"account_name={self.account_name!r})"
        )

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class PayoutRequest:
    """Ask a payout rail to send money to a bank account."""

    request_id: str
    payout_id: str
    merchant_id: str
    amount: int
    currency: str
    account: BankAccount
    reference: str | None = None


# ---------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelResult:
    """What a channel call gave back."""

    status: ChannelStatus
    raw_code: str | None = None
    raw_message: str | None = None
    # The channel's reference for the request (for an authorisation: what capture, refund
    # and void name as `authorization_ref`).
    channel_ref: str | None = None
    # How long the call took (or, for a timeout, how long we waited).
    latency_ms: int = 0
    approved_amount: int | None = None

    @property
    def outcome_known(self) -> bool:
        """False after a timeout or a lost response: only `query` can tell what happened."""
        return self.status not in (ChannelStatus.TIMEOUT, ChannelStatus.LOST)

    @property
    def response(self) -> ResponseCode | None:
        return response_code(self.raw_code) if self.raw_code is not None else None

    @property
    def decline_class(self) -> DeclineClass | None:
        """Hard or soft for a declined request; None otherwise."""
        if self.status is not ChannelStatus.DECLINED:
            return None
        rc = self.response
        return rc.decline_class if rc is not None and rc.decline_class else DeclineClass.SOFT

    @property
    def error_code(self) -> str | None:
        """The catalogue code to report this result as; None for approvals and not-found."""
        if self.status is ChannelStatus.DECLINED:
            rc = self.response
            return rc.error_code if rc is not None and rc.error_code else "card_declined"
        if self.status in (ChannelStatus.TIMEOUT, ChannelStatus.LOST):
            return "channel_timeout"
        if self.status is ChannelStatus.ERROR:
            return "channel_error"
        return None


class StatementKind(StrEnum):
    CAPTURE = "capture"
    REFUND = "refund"
    PAYOUT = "payout"
    RETURN = "return"  # a payout the beneficiary bank sent back: money in again


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One money movement the channel settled, as its statement reports it."""

    channel_id: str
    kind: StatementKind
    request_id: str  # our request id for the movement
    channel_ref: str  # the channel's reference for the movement
    authorization_ref: str | None  # for captures and refunds
    payment_id: str  # for payouts: the payout id
    amount: int  # always positive; `kind` tells the direction
    currency: str
    fee: int  # what the channel charges us for this line, minor units
    occurred_at: datetime

    @property
    def net(self) -> int:
        """Effect on what the channel owes us: captures and returns in, refunds and payouts
        out, less fees."""
        sign = 1 if self.kind in (StatementKind.CAPTURE, StatementKind.RETURN) else -1
        return sign * self.amount - self.fee


# ---------------------------------------------------------------------------------------
# Eligibility: what a channel takes, for the router
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """Opening hours in a fixed UTC offset (China: +08:00, no daylight saving)."""

    days: frozenset[int]  # ISO weekdays, Monday = 1
    opens: time
    closes: time
    utc_offset_minutes: int = 480
    holidays: frozenset[date] = frozenset()

    def is_open(self, moment: datetime) -> bool:
        local = moment.astimezone(timezone(timedelta(minutes=self.utc_offset_minutes)))
        if local.isoweekday() not in self.days or local.date() in self.holidays:
            return False
        return self.opens <= local.time().replace(tzinfo=None) < self.closes


def fee_for(
    amount: int,
    bps: int,
    fixed_minor: int = 0,
    *,
    minimum: int = 0,
    cap: int | None = None,
) -> int:
    """`amount × bps / 10 000` rounded half-even, plus a fixed part, then raised to `minimum`
    and lowered to `cap` (None: no cap); integers only, exact for any 64-bit amount."""
    quotient, remainder = divmod(amount * bps, 10_000)
    if remainder * 2 > 10_000 or (remainder * 2 == 10_000 and quotient % 2 == 1):
        quotient += 1
    fee = max(quotient + fixed_minor, minimum)
    return fee if cap is None else min(fee, cap)


@dataclass(frozen=True, slots=True)
class SettlementSchedule:
    """When a card channel pays what it owes into the custody account: each day's
    captures and refunds up to `cutoff` (China time, HH:MM) arrive `delay_days` business
    days later (0: the same business day, once the period is over)."""

    delay_days: int = 1
    cutoff: str = "23:00"


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """What a channel accepts and costs: everything the router needs before calling it."""

    channel_id: str
    kind: ChannelKind
    # Card channels: issuer codes served; payout rails: beneficiary bank codes. None = all.
    issuers: frozenset[str] | None
    card_types: frozenset[CardType]
    currencies: frozenset[str]
    min_amount: int | None
    max_amount: int | None
    fee_bps_debit: int
    fee_bps_credit: int
    fee_fixed_minor: int
    timeout_ms: int
    latency_median_ms: float
    latency_p99_ms: float
    business_hours: BusinessHours | None = None
    # Card channels: when they settle into custody (payout rails: None).
    settlement: SettlementSchedule | None = None

    def refusal(
        self,
        *,
        issuer: str,
        amount: int,
        currency: str,
        card_type: CardType | None = None,
        at: datetime | None = None,
    ) -> str | None:
        """The response code this channel would refuse the request with, or None if it takes it.

        `58` issuer, card type or currency not served; `13` below the minimum amount;
        `61` above the maximum; `90` outside business hours (`at` given)."""
        if currency not in self.currencies:
            return "58"
        if self.issuers is not None and issuer not in self.issuers:
            return "58"
        if (
            card_type is not None
            and self.kind is ChannelKind.CARD
            and (card_type not in self.card_types)
        ):
            return "58"
        if self.min_amount is not None and amount < self.min_amount:
            return "13"
        if self.max_amount is not None and amount > self.max_amount:
            return "61"
        if (
            at is not None
            and self.business_hours is not None
            and not (self.business_hours.is_open(at))
        ):
            return "90"
        return None

    def accepts(
        self,
        *,
        issuer: str,
        amount: int,
        currency: str,
        card_type: CardType | None = None,
        at: datetime | None = None,
    ) -> bool:
        return (
            self.refusal(
                issuer=issuer, amount=amount, currency=currency, card_type=card_type, at=at
            )
            is None
        )

    def fee(self, amount: int, card_type: CardType = CardType.DEBIT) -> int:
        bps = self.fee_bps_credit if card_type is CardType.CREDIT else self.fee_bps_debit
        return fee_for(amount, bps, self.fee_fixed_minor)


# ---------------------------------------------------------------------------------------
# The adapter interface
# ---------------------------------------------------------------------------------------


@runtime_checkable
class ChannelAdapter(Protocol):
    """One bank channel (or payout rail) as PayHub sees it.

    Implementations never raise for a bank's answer or a network failure: every outcome is a
    `ChannelResult`. They may raise for programming errors (a wrong channel id).
    """

    @property
    def channel_id(self) -> str: ...

    @property
    def info(self) -> ChannelInfo: ...

    async def authorize(self, request: AuthorizeRequest) -> ChannelResult:
        """Authorise a card payment (funds held, nothing captured yet)."""
        ...

    async def capture(self, request_id: str, authorization_ref: str, amount: int) -> ChannelResult:
        """Capture part or all of an authorisation; several captures may add up to it."""
        ...

    async def refund(self, request_id: str, authorization_ref: str, amount: int) -> ChannelResult:
        """Refund part or all of what was captured on an authorisation."""
        ...

    async def void(self, request_id: str, authorization_ref: str) -> ChannelResult:
        """Release an authorisation of which nothing has been captured."""
        ...

    async def query(self, request_id: str) -> ChannelResult:
        """The truth about an earlier authorize/capture/refund/void request: `approved`,
        `declined` (with the codes first decided) or `not_found` (never acted on)."""
        ...

    async def payout(self, request: PayoutRequest) -> ChannelResult:
        """Send money to a bank account."""
        ...

    async def query_payout(self, request_id: str) -> ChannelResult:
        """The truth about an earlier payout request."""
        ...

    async def statement(
        self, channel_id: str, start: datetime, end: datetime
    ) -> list[StatementLine]:
        """What the channel settled with `start <= occurred_at < end`, for reconciliation."""
        ...
