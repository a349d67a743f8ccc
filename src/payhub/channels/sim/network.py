"""The simulated bank network: every channel and payout rail of a scenario, with its own
ledger of truth.

The network records every request it acted on, by channel and *our* request id, and every
authorisation, capture, refund, void and payout it approved. What the caller is told may
differ from the truth (a timeout, a lost response); `query` always tells the truth.

Rules (see docs/simulator.md):

- **Idempotency.** A request id the channel has already acted on is answered with the first
  decision (same code, same reference) and never acted on twice. The same request id with
  other content is refused with `error` / `94` and changes nothing.
- **Timeouts.** A response slower than the channel's `timeout_ms` was processed — the
  decision stands and `query` reveals it — but the caller is told `timeout`. A request that
  hangs in an incident (`timeout_rate`) was processed with probability 1/2 (a fixed draw per
  request); if not, the channel has no record of it and `query` answers `not_found`.
- **Lost responses.** The channel acted (the charge exists); the caller is told `lost`.
- **Time.** Incidents and business hours follow `payhub.core.clock`: simulated second
  `(clock.now() - start)`, where `start` is the scenario's `start_at`, else the moment the
  network was made.
- Decisions are visible to `query` as soon as they are taken (no "still processing" state).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from payhub.channels.base import (
    RETURNED,
    AuthorizeRequest,
    CardType,
    ChannelInfo,
    ChannelKind,
    ChannelResult,
    ChannelStatus,
    PayoutRequest,
    StatementKind,
    StatementLine,
    response_code,
)
from payhub.channels.base import (
    luhn_valid as _luhn_valid,
)
from payhub.channels.sim.draws import Delivery, Stream, World
from payhub.channels.sim.scenario import Scenario
from payhub.core import clock
from payhub.core.clock import ensure_utc


class RequestKind(StrEnum):
    AUTHORIZE = "authorize"
    CAPTURE = "capture"
    REFUND = "refund"
    VOID = "void"
    PAYOUT = "payout"


_CARD_KINDS = frozenset(
    {RequestKind.AUTHORIZE, RequestKind.CAPTURE, RequestKind.REFUND, RequestKind.VOID}
)
_PAYOUT_KINDS = frozenset({RequestKind.PAYOUT})


@dataclass(slots=True)
class _Record:
    """A request the channel acted on, and its decision."""

    kind: RequestKind
    channel_id: str
    request_id: str
    fingerprint: tuple[object, ...]
    key: tuple[str | int, ...]  # the draws key of its delivery
    issuer: str
    approved: bool
    raw_code: str
    channel_ref: str
    amount: int | None  # approved amount
    decided_at: datetime
    repeats: int = 0
    # A payout the beneficiary bank sends back later: from this moment `query_payout`
    # answers `RT` (returned) instead of its approval.
    returned_at: datetime | None = None


@dataclass(slots=True)
class _Authorization:
    ref: str
    request_id: str
    channel_id: str
    payment_id: str
    payment_key: str
    merchant_id: str
    issuer: str
    card_type: CardType
    amount: int
    currency: str
    authorized_at: datetime
    key: tuple[str | int, ...]
    captured: int = 0
    refunded: int = 0
    voided: bool = False
    follow_ups: int = 0  # requests about this authorisation, for their draws keys


@dataclass(frozen=True, slots=True)
class AuthorizationView:
    """An approved authorisation as the network knows it."""

    ref: str
    request_id: str
    channel_id: str
    payment_id: str
    merchant_id: str
    issuer: str
    card_type: CardType
    amount: int
    currency: str
    captured: int
    refunded: int
    voided: bool
    authorized_at: datetime

    @property
    def charged(self) -> int:
        return self.captured - self.refunded


@dataclass(frozen=True, slots=True)
class PayoutView:
    ref: str
    request_id: str
    rail_id: str
    payout_id: str
    merchant_id: str
    bank_code: str
    amount: int
    currency: str
    paid_at: datetime


@dataclass(frozen=True, slots=True)
class Totals:
    """Sums over approved authorisations."""

    authorizations: int = 0
    authorized: int = 0
    captured: int = 0
    refunded: int = 0
    voided: int = 0  # amount released by voids

    @property
    def charged(self) -> int:
        """What the cardholders paid in the end: captured minus refunded."""
        return self.captured - self.refunded


def _digest(secret: str) -> str:
    """Card and account numbers are compared by digest, never kept in records."""
    return hashlib.blake2b(secret.encode(), digest_size=16).hexdigest()


class SimulatedNetwork:
    """All channels and payout rails of one scenario. Synchronous and in memory; the adapter
    (`SimulatedChannel`) wraps it in the async interface, a future HTTP server can too."""

    def __init__(self, scenario: Scenario, *, start: datetime | None = None) -> None:
        self.scenario = scenario
        self.world = World(scenario)
        self.start = ensure_utc(start or scenario.start_at or clock.now())
        self._cards = set(scenario.channel_ids)
        self._rails = set(scenario.rail_ids)
        self._records: dict[tuple[str, str], _Record] = {}
        self._auths: dict[str, _Authorization] = {}
        self._payouts: dict[str, PayoutView] = {}
        self._attempts: Counter[tuple[str, str, str]] = Counter()
        self._queries: Counter[str] = Counter()
        self._lines: list[StatementLine] = []

    # -- time and lookups ------------------------------------------------------------------

    def at_s(self, moment: datetime | None = None) -> float:
        """Seconds since the scenario start (simulated time)."""
        return (ensure_utc(moment or clock.now()) - self.start).total_seconds()

    def info(self, channel_id: str) -> ChannelInfo:
        if channel_id not in self._cards and channel_id not in self._rails:
            raise KeyError(f"no channel or payout rail {channel_id!r} in this network")
        return self.world.info(channel_id)

    @property
    def channel_ids(self) -> list[str]:
        """Card channels, then payout rails, in scenario order."""
        return [*self.scenario.channel_ids, *self.scenario.rail_ids]

    # -- card operations -------------------------------------------------------------------

    def authorize(self, channel_id: str, request: AuthorizeRequest) -> ChannelResult:
        if not self._is(channel_id, ChannelKind.CARD):
            return _unsupported("authorize")
        now = clock.now()
        card = request.card
        fingerprint = (
            RequestKind.AUTHORIZE,
            request.payment_id,
            request.merchant_id,
            request.amount,
            request.currency,
            _digest(card.pan),
            card.exp_month,
            card.exp_year,
            request.scene,
            request.capture,
        )
        known = self._known(channel_id, request.request_id, fingerprint, now)
        if known is not None:
            return known
        if not _positive(request.amount):
            return _malformed("the amount must be a positive integer of minor units")
        payment_key = request.reference or request.payment_id
        attempt = self._next_attempt(payment_key, channel_id, RequestKind.AUTHORIZE)
        card_problem = None
        if not _luhn_valid(card.pan):
            card_problem = "14"
        elif card.expired_at(now):
            card_problem = "54"
        outcome = self.world.authorize(
            payment_key,
            channel_id,
            issuer=card.issuer_code,
            card_type=card.card_type,
            amount=request.amount,
            currency=request.currency,
            at_s=self.at_s(now),
            attempt=attempt,
            card_problem=card_problem,
        )
        record = None
        if outcome.processed:
            key = (payment_key, "authorize", attempt)
            record = self._record(
                RequestKind.AUTHORIZE,
                channel_id,
                request.request_id,
                fingerprint,
                key,
                card.issuer_code,
                outcome.raw_code,
                request.amount if outcome.approved else None,
                now,
            )
            if outcome.approved:
                auth = _Authorization(
                    ref=record.channel_ref,
                    request_id=request.request_id,
                    channel_id=channel_id,
                    payment_id=request.payment_id,
                    payment_key=payment_key,
                    merchant_id=request.merchant_id,
                    issuer=card.issuer_code,
                    card_type=card.card_type,
                    amount=request.amount,
                    currency=request.currency,
                    authorized_at=now,
                    key=key,
                )
                self._auths[record.channel_ref] = auth
                if request.capture:
                    # A sale: the whole amount is captured by the same decision.
                    auth.captured = request.amount
                    self._line(StatementKind.CAPTURE, auth, record, request.amount)
        return self._respond(channel_id, record, outcome.delivery, outcome.latency_ms)

    def capture(
        self, channel_id: str, request_id: str, authorization_ref: str, amount: int
    ) -> ChannelResult:
        def decide(auth: _Authorization) -> str:
            if not _positive(amount):
                return "13"
            if auth.voided:
                return "12"
            if auth.captured + amount > auth.amount:
                return "13"
            return "00"

        def apply(auth: _Authorization, record: _Record) -> None:
            auth.captured += amount
            self._line(StatementKind.CAPTURE, auth, record, amount)

        return self._follow_up(
            RequestKind.CAPTURE, channel_id, request_id, authorization_ref, amount, decide, apply
        )

    def refund(
        self, channel_id: str, request_id: str, authorization_ref: str, amount: int
    ) -> ChannelResult:
        def decide(auth: _Authorization) -> str:
            if not _positive(amount):
                return "13"
            if auth.refunded + amount > auth.captured:
                return "13"
            return "00"

        def apply(auth: _Authorization, record: _Record) -> None:
            auth.refunded += amount
            self._line(StatementKind.REFUND, auth, record, amount)

        return self._follow_up(
            RequestKind.REFUND, channel_id, request_id, authorization_ref, amount, decide, apply
        )

    def void(self, channel_id: str, request_id: str, authorization_ref: str) -> ChannelResult:
        """Release an authorisation of which nothing was captured (refund what was captured)."""

        def decide(auth: _Authorization) -> str:
            if auth.voided or auth.captured > 0:
                return "12"
            return "00"

        def apply(auth: _Authorization, record: _Record) -> None:
            auth.voided = True

        return self._follow_up(
            RequestKind.VOID, channel_id, request_id, authorization_ref, None, decide, apply
        )

    def query(self, channel_id: str, request_id: str) -> ChannelResult:
        """The truth about an authorize/capture/refund/void request on this channel."""
        if not self._is(channel_id, ChannelKind.CARD):
            return _unsupported("query")
        return self._query(channel_id, request_id, _CARD_KINDS)

    # -- payouts ---------------------------------------------------------------------------

    def payout(self, rail_id: str, request: PayoutRequest) -> ChannelResult:
        if not self._is(rail_id, ChannelKind.PAYOUT):
            return _unsupported("payout")
        now = clock.now()
        account = request.account
        fingerprint = (
            RequestKind.PAYOUT,
            request.payout_id,
            request.merchant_id,
            request.amount,
            request.currency,
            account.bank_code,
            _digest(account.account_number),
        )
        known = self._known(rail_id, request.request_id, fingerprint, now)
        if known is not None:
            return known
        if not _positive(request.amount):
            return _malformed("the amount must be a positive integer of minor units")
        payout_key = request.reference or request.payout_id
        attempt = self._next_attempt(payout_key, rail_id, RequestKind.PAYOUT)
        number = account.account_number
        account_problem = None if number.isdigit() and 8 <= len(number) <= 32 else "14"
        outcome = self.world.payout(
            payout_key,
            rail_id,
            bank=account.bank_code,
            amount=request.amount,
            currency=request.currency,
            at=now,
            at_s=self.at_s(now),
            attempt=attempt,
            account_problem=account_problem,
        )
        record = None
        if outcome.processed:
            record = self._record(
                RequestKind.PAYOUT,
                rail_id,
                request.request_id,
                fingerprint,
                (payout_key, "payout", attempt),
                account.bank_code,
                outcome.raw_code,
                request.amount if outcome.approved else None,
                now,
            )
            if outcome.approved:
                rail = self.scenario.rail(rail_id)
                if rail.return_rate > 0.0 and (
                    self.world.draws.uniform(Stream.RETURN, payout_key, rail_id) < rail.return_rate
                ):
                    record.returned_at = now + timedelta(seconds=rail.return_after_s)
                view = PayoutView(
                    ref=record.channel_ref,
                    request_id=request.request_id,
                    rail_id=rail_id,
                    payout_id=request.payout_id,
                    merchant_id=request.merchant_id,
                    bank_code=account.bank_code,
                    amount=request.amount,
                    currency=request.currency,
                    paid_at=now,
                )
                self._payouts[view.ref] = view
                self._lines.append(
                    StatementLine(
                        channel_id=rail_id,
                        kind=StatementKind.PAYOUT,
                        request_id=request.request_id,
                        channel_ref=view.ref,
                        authorization_ref=None,
                        payment_id=request.payout_id,
                        amount=request.amount,
                        currency=request.currency,
                        fee=self.world.info(rail_id).fee(request.amount),
                        occurred_at=now,
                    )
                )
        return self._respond(rail_id, record, outcome.delivery, outcome.latency_ms)

    def query_payout(self, rail_id: str, request_id: str) -> ChannelResult:
        if not self._is(rail_id, ChannelKind.PAYOUT):
            return _unsupported("query_payout")
        return self._query(rail_id, request_id, _PAYOUT_KINDS)

    def inject_return(self, rail_id: str, request_id: str, *, at: datetime | None = None) -> bool:
        """Make the beneficiary bank send an approved payout back (at `at`, default now):
        from then on `query_payout` answers `RT`. False when no approved payout has this
        request id on this rail."""
        record = self._records.get((rail_id, request_id))
        if record is None or record.kind is not RequestKind.PAYOUT or not record.approved:
            return False
        record.returned_at = ensure_utc(at or clock.now())
        return True

    # -- reconciliation --------------------------------------------------------------------

    def statement(self, channel_id: str, start: datetime, end: datetime) -> list[StatementLine]:
        """Captures and refunds (card channels) or payouts and their returns (rails) with
        `start <= occurred_at < end`, in the order they happened (a return only once it
        has happened)."""
        self.info(channel_id)
        start, end = ensure_utc(start), ensure_utc(end)
        lines = [
            line
            for line in self._lines
            if line.channel_id == channel_id and start <= line.occurred_at < end
        ]
        returns = self._returns(channel_id, start, min(end, clock.now()))
        if not returns:
            return lines
        return sorted([*lines, *returns], key=lambda line: line.occurred_at)

    def _returns(self, rail_id: str, start: datetime, end: datetime) -> list[StatementLine]:
        """A rail's returns in `[start, end)`: the beneficiary bank sent the payout back, the
        money is in again (a line of its own, kind `return`, our request id kept)."""
        out = []
        for record in self._records.values():
            back = record.returned_at
            if record.channel_id != rail_id or back is None or not start <= back < end:
                continue
            view = self._payouts.get(record.channel_ref)
            if view is None:
                continue
            out.append(
                StatementLine(
                    channel_id=rail_id,
                    kind=StatementKind.RETURN,
                    request_id=record.request_id,
                    channel_ref=f"{view.ref}-RT",
                    authorization_ref=None,
                    payment_id=view.payout_id,
                    amount=view.amount,
                    currency=view.currency,
                    fee=0,
                    occurred_at=back,
                )
            )
        return out

    # -- the truth, for tests and benchmarks -----------------------------------------------

    def lookup(self, channel_id: str, request_id: str) -> ChannelResult | None:
        """What the channel decided for a request (None: never acted on), without a call."""
        record = self._records.get((channel_id, request_id))
        return None if record is None else _decision(record, latency_ms=0)

    def authorizations(
        self, *, payment_id: str | None = None, channel_id: str | None = None
    ) -> list[AuthorizationView]:
        return [
            _view(a)
            for a in self._auths.values()
            if (payment_id is None or a.payment_id == payment_id)
            and (channel_id is None or a.channel_id == channel_id)
        ]

    def authorization(self, ref: str) -> AuthorizationView | None:
        auth = self._auths.get(ref)
        return None if auth is None else _view(auth)

    def totals(
        self,
        *,
        channel_id: str | None = None,
        payment_id: str | None = None,
        currency: str | None = None,
    ) -> Totals:
        n = authorized = captured = refunded = voided = 0
        for a in self._auths.values():
            if (
                (channel_id is not None and a.channel_id != channel_id)
                or (payment_id is not None and a.payment_id != payment_id)
                or (currency is not None and a.currency != currency)
            ):
                continue
            n += 1
            authorized += a.amount
            captured += a.captured
            refunded += a.refunded
            voided += a.amount if a.voided else 0
        return Totals(n, authorized, captured, refunded, voided)

    def charged_by_channel(self, currency: str | None = None) -> dict[str, int]:
        """Captured minus refunded per card channel, in one currency (default the
        scenario's)."""
        currency = currency or self.scenario.currency
        return {
            cid: self.totals(channel_id=cid, currency=currency).charged
            for cid in self.scenario.channel_ids
        }

    def charged_for_payment(self, payment_id: str) -> int:
        """Captured minus refunded for one payment, over every channel."""
        return self.totals(payment_id=payment_id).charged

    def payouts(self, *, rail_id: str | None = None) -> list[PayoutView]:
        return [p for p in self._payouts.values() if rail_id is None or p.rail_id == rail_id]

    def paid_out_by_rail(self, currency: str | None = None) -> dict[str, int]:
        currency = currency or self.scenario.currency
        return {
            rid: sum(
                p.amount
                for p in self._payouts.values()
                if p.rail_id == rid and p.currency == currency
            )
            for rid in self.scenario.rail_ids
        }

    # -- machinery -------------------------------------------------------------------------

    def _is(self, channel_id: str, kind: ChannelKind) -> bool:
        """Whether the id names a channel of this kind; unknown ids are a programming error."""
        if channel_id in self._cards:
            return kind is ChannelKind.CARD
        if channel_id in self._rails:
            return kind is ChannelKind.PAYOUT
        raise KeyError(f"no channel or payout rail {channel_id!r} in this network")

    def _next_attempt(self, key: str, channel_id: str, kind: RequestKind) -> int:
        counter = (key, channel_id, kind.value)
        attempt = self._attempts[counter]
        self._attempts[counter] = attempt + 1
        return attempt

    def _known(
        self, channel_id: str, request_id: str, fingerprint: tuple[object, ...], now: datetime
    ) -> ChannelResult | None:
        """The answer to a request id the channel already acted on, else None."""
        record = self._records.get((channel_id, request_id))
        if record is None:
            return None
        if record.fingerprint != fingerprint:
            return ChannelResult(
                ChannelStatus.ERROR,
                raw_code="94",
                raw_message="this request id was already used for a different request",
            )
        record.repeats += 1
        delivery, _, latency = self.world.deliver(
            channel_id,
            record.issuer,
            self.at_s(now),
            approved=record.approved,
            key=(*record.key, "repeat", record.repeats),
        )
        return self._respond(channel_id, record, delivery, latency)

    def _record(
        self,
        kind: RequestKind,
        channel_id: str,
        request_id: str,
        fingerprint: tuple[object, ...],
        key: tuple[str | int, ...],
        issuer: str,
        raw_code: str,
        amount: int | None,
        now: datetime,
    ) -> _Record:
        ref = kind.value[:3].upper() + self.world.draws.token(channel_id, *key)
        record = _Record(
            kind=kind,
            channel_id=channel_id,
            request_id=request_id,
            fingerprint=fingerprint,
            key=key,
            issuer=issuer,
            approved=raw_code == "00",
            raw_code=raw_code,
            channel_ref=ref,
            amount=amount,
            decided_at=now,
        )
        self._records[(channel_id, request_id)] = record
        return record

    def _follow_up(
        self,
        kind: RequestKind,
        channel_id: str,
        request_id: str,
        authorization_ref: str,
        amount: int | None,
        decide: Callable[[_Authorization], str],
        apply: Callable[[_Authorization, _Record], None],
    ) -> ChannelResult:
        if not self._is(channel_id, ChannelKind.CARD):
            return _unsupported(kind.value)
        now = clock.now()
        fingerprint = (kind, authorization_ref, amount)
        known = self._known(channel_id, request_id, fingerprint, now)
        if known is not None:
            return known
        auth = self._auths.get(authorization_ref)
        if auth is None or auth.channel_id != channel_id:
            code, issuer = "25", ""
            key: tuple[str | int, ...] = ("unknown", authorization_ref, kind.value, request_id)
        else:
            code, issuer = decide(auth), auth.issuer
            key = (*auth.key, kind.value, auth.follow_ups)
            auth.follow_ups += 1
        approved = code == "00"
        delivery, processed, latency = self.world.deliver(
            channel_id, issuer, self.at_s(now), approved=approved, key=key
        )
        record = None
        if processed:
            record = self._record(
                kind,
                channel_id,
                request_id,
                fingerprint,
                key,
                issuer,
                code,
                _approved_amount(kind, auth, amount) if approved else None,
                now,
            )
            if approved and auth is not None:
                apply(auth, record)
        return self._respond(channel_id, record, delivery, latency)

    def _line(
        self, kind: StatementKind, auth: _Authorization, record: _Record, amount: int
    ) -> None:
        fee = self.world.info(auth.channel_id).fee(amount, auth.card_type)
        self._lines.append(
            StatementLine(
                channel_id=auth.channel_id,
                kind=kind,
                request_id=record.request_id,
                channel_ref=record.channel_ref,
                authorization_ref=auth.ref,
                payment_id=auth.payment_id,
                amount=amount,
                currency=auth.currency,
                # The channel's fee is charged on captures and kept on refunds.
                fee=fee if kind is StatementKind.CAPTURE else 0,
                occurred_at=record.decided_at,
            )
        )

    def _query(
        self, channel_id: str, request_id: str, kinds: frozenset[RequestKind]
    ) -> ChannelResult:
        n = self._queries[channel_id]
        self._queries[channel_id] = n + 1
        record = self._records.get((channel_id, request_id))
        if record is not None and record.kind not in kinds:
            record = None
        delivery, _, latency = self.world.deliver(
            channel_id,
            record.issuer if record is not None else "",
            self.at_s(),
            approved=False,
            key=("query", n),
        )
        if delivery is not Delivery.DELIVERED:
            return _undelivered(delivery, latency)
        if record is None:
            return ChannelResult(
                ChannelStatus.NOT_FOUND,
                raw_code="25",
                raw_message="no such request",
                latency_ms=latency,
            )
        return _decision(record, latency_ms=latency)

    def _respond(
        self, channel_id: str, record: _Record | None, delivery: Delivery, latency: int
    ) -> ChannelResult:
        if delivery is not Delivery.DELIVERED:
            return _undelivered(delivery, latency)
        assert record is not None, "a delivered response always has a decision"
        return _decision(record, latency_ms=latency)


def _positive(amount: object) -> bool:
    return isinstance(amount, int) and not isinstance(amount, bool) and amount > 0


def _approved_amount(kind: RequestKind, auth: _Authorization | None, amount: int | None) -> int:
    if kind is RequestKind.VOID:
        return auth.amount - auth.captured if auth is not None else 0
    return amount or 0


def _decision(record: _Record, *, latency_ms: int) -> ChannelResult:
    if record.returned_at is not None and clock.now() >= record.returned_at:
        return ChannelResult(
            ChannelStatus.DECLINED,
            raw_code=RETURNED,
            raw_message=response_code(RETURNED).meaning,
            channel_ref=record.channel_ref,
            latency_ms=latency_ms,
        )
    return ChannelResult(
        ChannelStatus.APPROVED if record.approved else ChannelStatus.DECLINED,
        raw_code=record.raw_code,
        raw_message=response_code(record.raw_code).meaning,
        channel_ref=record.channel_ref,
        latency_ms=latency_ms,
        approved_amount=record.amount,
    )


def _undelivered(delivery: Delivery, latency: int) -> ChannelResult:
    if delivery is Delivery.TIMEOUT:
        return ChannelResult(
            ChannelStatus.TIMEOUT,
            raw_message=f"no response within {latency} ms",
            latency_ms=latency,
        )
    return ChannelResult(
        ChannelStatus.LOST,
        raw_message="the connection closed before the response arrived",
        latency_ms=latency,
    )


def _unsupported(operation: str) -> ChannelResult:
    return ChannelResult(
        ChannelStatus.ERROR,
        raw_code="40",
        raw_message=f"{operation} is not supported on this channel",
    )


def _malformed(message: str) -> ChannelResult:
    return ChannelResult(ChannelStatus.ERROR, raw_code="13", raw_message=message)


def _view(a: _Authorization) -> AuthorizationView:
    return AuthorizationView(
        ref=a.ref,
        request_id=a.request_id,
        channel_id=a.channel_id,
        payment_id=a.payment_id,
        merchant_id=a.merchant_id,
        issuer=a.issuer,
        card_type=a.card_type,
        amount=a.amount,
        currency=a.currency,
        captured=a.captured,
        refunded=a.refunded,
        voided=a.voided,
        authorized_at=a.authorized_at,
    )
