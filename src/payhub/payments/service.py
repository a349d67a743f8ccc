"""The payment state machine, one database transaction at a time.

A change that needs a bank channel is two transactions with the call between them, never
inside one (a call may take up to the channel's timeout, and a crash mid-call must leave a
trace): a `start_*` step checks the request, commits an attempt in status `pending` with our
request id and marks it as the payment's attempt in flight; the orchestrator sends the call;
`record_answer` then applies the channel's answer — state, ledger journal and event together.
An answer that never comes (timeout, lost, or a crash before it was recorded) leaves the
attempt in flight until `payhub.payments.orchestrator.resolve_in_flight` asks the channel.

While an attempt is in flight the payment takes no other change (`payment_operation_in_
progress`), so amounts never move under an outstanding request.

Steps never commit; callers run them in `Database.transact`. They speak SQLAlchemy Core
through `payhub.db.sql.Sql` (on PostgreSQL straight to asyncpg: a payment takes some twenty
statements, and the ORM's per-statement cost was most of its time) and hold rows as the
records of `payhub.payments.rows`. The card security code (CVV) never reaches this module:
it goes from the confirm request straight into the `CardData` the orchestrator sends.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, cast

from sqlalchemy import Select, bindparam, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.audit import service as audit
from payhub.channels.base import CardData, CardType, ChannelResult, ChannelStatus
from payhub.core import clock
from payhub.core.errors import PayHubError
from payhub.core.ids import is_id, new_id
from payhub.core.metadata import validate_metadata
from payhub.core.money import check_amount, check_currency
from payhub.db.sql import Sql, as_sql, table_of
from payhub.events import service as events
from payhub.ledger import service as ledger
from payhub.ledger.service import AccountSpec, JournalSpec, JournalView, PostingSpec, Side
from payhub.merchants import service as merchants
from payhub.merchants.service import MerchantView
from payhub.payments import channels
from payhub.payments.models import SCENES, Payment, PaymentAttempt, Refund
from payhub.payments.objects import (
    capture_journal_id,
    payment_object,
    refund_journal_id,
    refund_object,
)
from payhub.payments.rows import AttemptRow, PaymentRow, RefundRow
from payhub.risk.decisions import service as risk
from payhub.risk.decisions.features import Signals, Subject
from payhub.routing import service as routing
from payhub.routing.base import Context, Ranking, Result
from payhub.routing.engine import Decision
from payhub.settlement.balances import hooks as settlement_hooks
from payhub.settlement.fees import booking as fee_booking
from payhub.splits import clawback as split_clawback
from payhub.vault import service as vault

AUTHORIZATION_TTL = timedelta(days=7)
# Daily limits count the merchant's day in China time (UTC+8, no daylight saving).
MERCHANT_DAY = timezone(timedelta(hours=8))
CaptureMethod = Literal["automatic", "manual"]
CallKind = Literal["authorize", "sale", "capture", "void", "refund"]
# The calls that ask for the card's money (an authorisation, or a sale: an authorisation
# captured in the same message): they are routed, cascaded and learned from.
AUTHORIZING: tuple[CallKind, ...] = ("authorize", "sale")

# Statuses whose amounts count against the daily limit.
_COUNTED = ("requires_confirmation", "processing", "requires_capture", "succeeded")
# Attempt statuses that do not yet say what the channel did.
UNRESOLVED = ("pending", "timeout", "lost")


@dataclass(frozen=True, slots=True)
class ChannelCall:
    """A channel request whose attempt is committed as `pending`: what to send."""

    attempt_id: str
    payment_id: str
    kind: CallKind
    channel_id: str
    request_id: str
    amount: int | None
    currency: str
    merchant_id: str
    scene: str
    authorization_ref: str | None
    refund_id: str | None = None


@dataclass(slots=True)
class Step:
    """Where a payment stands after a transaction: the call to send next (if any), the
    refund concerned (if any), and the refusal to answer with once committed (a decline of
    a capture, void or refund is recorded first, then reported)."""

    payment: PaymentRow
    call: ChannelCall | None = None
    refund: RefundRow | None = None
    error: PayHubError | None = None
    # The card for authorisations, held in memory only between transactions.
    card: CardData | None = field(default=None, repr=False)

    @property
    def settled(self) -> bool:
        """False while the payment waits for a channel's answer."""
        return self.payment.in_flight_attempt_id is None


# ------------------------------------------------------------------------------------ helpers
# ------------------------------------------------------------------------------ statements

_PAYMENTS = table_of(Payment)
_ATTEMPTS = table_of(PaymentAttempt)
_REFUNDS = table_of(Refund)
# What never changes after create: everything else is written back by `_save`.
_FIXED = {"id", "merchant_id", "customer_id", "payment_method", "amount", "currency",
          "capture_method", "scene", "created_at"}  # fmt: skip

_PAYMENT = select(_PAYMENTS).where(_PAYMENTS.c.id == bindparam("id"))
_PAYMENT_FOR_UPDATE = _PAYMENT.with_for_update()
_INSERT_PAYMENT = insert(_PAYMENTS)
_SAVE_PAYMENT = (
    update(_PAYMENTS)
    .where(_PAYMENTS.c.id == bindparam("payment_key"))
    .values({c.name: bindparam(c.name) for c in _PAYMENTS.c if c.name not in _FIXED})
)
_ATTEMPT_KIND = select(_ATTEMPTS.c.kind).where(_ATTEMPTS.c.id == bindparam("id"))
# A payment (locked) with one of its attempts: every change to an attempt is made under its
# payment's lock, so the attempt needs no lock of its own.
_PAYMENT_AND_ATTEMPT = (
    select(_PAYMENTS, *(c.label(f"attempt_{c.name}") for c in _ATTEMPTS.c))
    .join(
        _ATTEMPTS,
        (_ATTEMPTS.c.id == bindparam("attempt_id")) & (_ATTEMPTS.c.payment_id == _PAYMENTS.c.id),
    )
    .where(_PAYMENTS.c.id == bindparam("id"))
    .with_for_update(of=_PAYMENTS)
)
_INSERT_ATTEMPT = insert(_ATTEMPTS)
_SAVE_ATTEMPT = (
    update(_ATTEMPTS)
    .where(_ATTEMPTS.c.id == bindparam("attempt_key"))
    .values(
        {
            c.name: bindparam(c.name)
            for c in _ATTEMPTS.c
            if c.name in ("status", "raw_code", "raw_message", "catalogue_code", "latency_ms")
        }
    )
)
_AUTHORIZE_TRIES = select(_ATTEMPTS.c.channel_id, _ATTEMPTS.c.latency_ms).where(
    _ATTEMPTS.c.payment_id == bindparam("payment_id"),
    or_(*(_ATTEMPTS.c.kind == kind for kind in AUTHORIZING)),
)
_ATTEMPTS_OF = (
    select(_ATTEMPTS)
    .where(_ATTEMPTS.c.payment_id == bindparam("payment_id"))
    .order_by(_ATTEMPTS.c.id)
)
_REFUND = select(_REFUNDS).where(_REFUNDS.c.id == bindparam("id"))
_REFUND_FOR_UPDATE = _REFUND.with_for_update()
_INSERT_REFUND = insert(_REFUNDS)
_SAVE_REFUND = (
    update(_REFUNDS)
    .where(_REFUNDS.c.id == bindparam("refund_key"))
    .values(
        {
            c.name: bindparam(c.name)
            for c in _REFUNDS.c
            if c.name in ("status", "failure_code", "updated_at")
        }
    )
)
# Today's amount of a merchant's payments that count against its daily limit.
_USED_TODAY = select(func.coalesce(func.sum(_PAYMENTS.c.amount), 0)).where(
    _PAYMENTS.c.merchant_id == bindparam("merchant_id"),
    _PAYMENTS.c.created_at >= bindparam("day_start"),
    _PAYMENTS.c.id != bindparam("exclude"),
    or_(*(_PAYMENTS.c.status == s for s in _COUNTED)),
)


# ------------------------------------------------------------------------------------ helpers


async def _payment_row(
    tx: AsyncSession | Sql, payment_id: str, merchant_id: str | None, *, lock: bool = False
) -> PaymentRow:
    """A payment the caller may see (`merchant_id` None: the operator); another merchant's
    payment is `payment_not_found`, exactly like a missing one."""
    if not is_id(payment_id, "pay"):
        raise PayHubError("payment_not_found", payment=str(payment_id)[:40])
    sql = await as_sql(tx)
    found = await sql.one(_PAYMENT_FOR_UPDATE if lock else _PAYMENT, id=payment_id)
    if found is None or (merchant_id is not None and found["merchant_id"] != merchant_id):
        raise PayHubError("payment_not_found", payment=payment_id)
    return PaymentRow.of(found)


def _touch(row: PaymentRow) -> None:
    row.updated_at = clock.now()


async def _save(sql: Sql, row: PaymentRow) -> None:
    """Write back what a step changed: every mutable column (one statement shape), once per
    step, after its changes and events."""
    values = row.values()
    for name in _FIXED:
        del values[name]
    await sql.defer(_SAVE_PAYMENT, payment_key=row.id, **values)


def _unexpected(row: PaymentRow, action: str) -> PayHubError:
    return PayHubError("payment_unexpected_state", status=row.status, action=action)


async def _require_idle(sql: Sql, row: PaymentRow) -> None:
    if row.in_flight_attempt_id is not None:
        kind = await sql.value(_ATTEMPT_KIND, id=row.in_flight_attempt_id)
        raise PayHubError("payment_operation_in_progress", operation=kind or "request")


async def _check_limits(
    sql: Sql, merchant: MerchantView, amount: int, *, exclude: str | None = None
) -> list[dict[str, Any]]:
    """The merchant's per-payment and daily limits (the risk decision point's first rules);
    returns what each check saw, for the payment's recorded decision."""
    checks: list[dict[str, Any]] = []
    if merchant.per_payment_limit is not None:
        if amount > merchant.per_payment_limit:
            raise PayHubError("amount_over_limit", param="amount", limit="per_payment_limit")
        checks.append({"rule": "per_payment_limit", "limit": merchant.per_payment_limit})
    if merchant.daily_limit is None:
        return checks
    local = clock.now().astimezone(MERCHANT_DAY)
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    today = int(
        await sql.value(
            _USED_TODAY, merchant_id=merchant.id, day_start=day_start, exclude=exclude or ""
        )
    )
    if today + amount > merchant.daily_limit:
        raise PayHubError("amount_over_limit", param="amount", limit="daily_limit")
    checks.append({"rule": "daily_limit", "limit": merchant.daily_limit, "used_today": today})
    return checks


async def _emit(sql: Sql, type: str, row: PaymentRow, **extra: Any) -> None:
    await events.emit(
        sql,
        type=type,
        merchant_id=row.merchant_id,
        data={"object": payment_object(row), **extra},
    )


async def _open_attempt(
    sql: Sql,
    row: PaymentRow,
    kind: CallKind,
    channel_id: str,
    amount: int | None,
    *,
    refund_id: str | None = None,
) -> ChannelCall:
    """Commit-before-call: the attempt exists, with our request id, before the channel hears
    of it, so no answer can ever arrive for a request we have no record of. (The caller
    saves the payment, which now names the attempt as its attempt in flight.)"""
    attempt = AttemptRow(
        id=new_id("att"),
        payment_id=row.id,
        kind=kind,
        channel_id=channel_id,
        request_id=new_id("req"),
        status="pending",
        raw_code=None,
        raw_message=None,
        catalogue_code=None,
        latency_ms=0,
        amount=amount,
        refund_id=refund_id,
        created_at=clock.now(),
    )
    await sql.defer(_INSERT_ATTEMPT, **attempt.values())
    row.in_flight_attempt_id = attempt.id
    return ChannelCall(
        attempt_id=attempt.id,
        payment_id=row.id,
        kind=kind,
        channel_id=channel_id,
        request_id=attempt.request_id,
        amount=amount,
        currency=row.currency,
        merchant_id=row.merchant_id,
        scene=row.scene,
        authorization_ref=row.authorization_ref,
        refund_id=refund_id,
    )


# ------------------------------------------------------------------------------------- create


async def create_payment(
    tx: AsyncSession | Sql,
    *,
    merchant_id: str,
    amount: int,
    currency: str,
    payment_method: str,
    customer_id: str | None = None,
    capture_method: str = "automatic",
    scene: str = "local_services",
    description: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> PaymentRow:
    """A payment in `requires_confirmation`. Refused (nothing written) with `amount_invalid`,
    `amount_too_large`, `currency_invalid`, `currency_mismatch`, `merchant_suspended`,
    `amount_over_limit`, `customer_not_found`, `payment_method_not_found`,
    `validation_error`."""
    check_amount(amount)
    check_currency(currency)
    if capture_method not in ("automatic", "manual"):
        raise PayHubError("validation_error", param="capture_method", detail="automatic or manual")
    if scene not in SCENES:
        raise PayHubError("validation_error", param="scene", detail=", ".join(SCENES))
    if description is not None and len(description) > 500:
        raise PayHubError("validation_error", param="description", detail="at most 500 characters")
    metadata = dict(metadata or {})
    validate_metadata(metadata)
    sql = await as_sql(tx)
    merchant = await merchants.require_active_merchant(sql, merchant_id)
    if currency != merchant.currency:
        raise PayHubError(
            "currency_mismatch",
            param="currency",
            detail=f"the merchant takes payments in {merchant.currency}, not {currency}",
        )
    await _check_limits(sql, merchant, amount)
    card = await vault.get_card(sql, payment_method, merchant_id=merchant_id)
    if customer_id is not None and card.customer_id != customer_id:
        # Tell a customer that does not exist (or is another merchant's) from a card that
        # is not this customer's.
        await merchants.get_customer(sql, customer_id, merchant_id=merchant_id)
        raise PayHubError("payment_method_not_found", param="payment_method")
    now = clock.now()
    row = PaymentRow(
        id=new_id("pay"),
        merchant_id=merchant_id,
        customer_id=customer_id if customer_id is not None else card.customer_id,
        payment_method=card.token,
        amount=amount,
        currency=currency,
        amount_capturable=0,
        amount_captured=0,
        amount_refunded=0,
        capture_method=capture_method,
        status="requires_confirmation",
        scene=scene,
        description=description,
        metadata=metadata,
        channel_id=None,
        authorization_ref=None,
        failure_code=None,
        failure_message=None,
        authorized_at=None,
        expires_at=None,
        in_flight_attempt_id=None,
        decision=None,
        created_at=now,
        updated_at=now,
    )
    await sql.defer(_INSERT_PAYMENT, **row.values())
    return row


def confirmed_payment_ids(
    created_from: datetime | None, created_to: datetime | None
) -> Select[Any]:
    """The ids of payments past confirmation created in a period (what risk coverage counts
    its decisions against)."""
    query = select(_PAYMENTS.c.id).where(_PAYMENTS.c.status != "requires_confirmation")
    if created_from is not None:
        query = query.where(_PAYMENTS.c.created_at >= created_from)
    if created_to is not None:
        query = query.where(_PAYMENTS.c.created_at < created_to)
    return query


async def get_payment(
    tx: AsyncSession | Sql, payment_id: str, *, merchant_id: str | None
) -> PaymentRow:
    return await _payment_row(tx, payment_id, merchant_id)


@dataclass(frozen=True, slots=True)
class PaymentFilter:
    """What `GET /v1/payments` narrows by; None: any."""

    merchant_id: str | None = None
    status: str | None = None
    customer_id: str | None = None
    scene: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


async def list_payments(
    tx: AsyncSession | Sql, filters: PaymentFilter, *, limit: int, starting_after: str | None
) -> tuple[list[PaymentRow], bool]:
    """Newest first, a page of `limit` after the cursor; and whether more follow."""
    query = select(_PAYMENTS).order_by(_PAYMENTS.c.id.desc()).limit(limit + 1)
    if filters.merchant_id is not None:
        query = query.where(_PAYMENTS.c.merchant_id == filters.merchant_id)
    if filters.status is not None:
        query = query.where(_PAYMENTS.c.status == filters.status)
    if filters.customer_id is not None:
        query = query.where(_PAYMENTS.c.customer_id == filters.customer_id)
    if filters.scene is not None:
        query = query.where(_PAYMENTS.c.scene == filters.scene)
    if filters.created_from is not None:
        query = query.where(_PAYMENTS.c.created_at >= filters.created_from)
    if filters.created_to is not None:
        query = query.where(_PAYMENTS.c.created_at < filters.created_to)
    if starting_after is not None:
        query = query.where(_PAYMENTS.c.id < starting_after)
    rows = [PaymentRow.of(r) for r in await (await as_sql(tx)).all_once(query)]
    return rows[:limit], len(rows) > limit


# ------------------------------------------------------------------------------------ confirm


def _card_for_channel(revealed: vault.RevealedCard, cvv: str | None) -> CardData:
    try:
        return CardData(
            pan=revealed.pan,
            exp_month=revealed.exp_month,
            exp_year=revealed.exp_year,
            cvv=cvv,
            issuer_code=revealed.issuer_code,
            card_type=CardType(revealed.card_type),
            brand=revealed.brand,
        )
    except ValueError:
        # The message says what is wrong with the CVV, never what it was.
        raise PayHubError("validation_error", param="cvv", detail="3 or 4 digits") from None


async def start_confirm(
    tx: AsyncSession | Sql,
    payment_id: str,
    merchant_id: str | None,
    cvv: str | None,
    *,
    signals: Signals | None = None,
) -> Step:
    """Check limits again (today's payments may have grown since create), score the risk
    (a decline fails the payment before any channel sees it), route, and commit the payment
    as `processing` with its first authorisation attempt and its decision."""
    sql = await as_sql(tx)
    row = await _payment_row(sql, payment_id, merchant_id, lock=True)
    if row.status != "requires_confirmation":
        raise _unexpected(row, "confirmed")
    merchant = await merchants.require_active_merchant(sql, row.merchant_id)
    checks = await _check_limits(sql, merchant, row.amount, exclude=row.id)
    revealed = await vault.reveal_card(sql, row.payment_method)
    card = _card_for_channel(revealed, cvv)
    verdict = await risk.decide(
        sql,
        row.id,
        Subject(
            merchant_id=row.merchant_id,
            customer_id=row.customer_id,
            card_fingerprint=revealed.fingerprint or None,
            amount=row.amount,
            currency=row.currency,
            scene=row.scene,
            signals=signals or Signals(),
        ),
    )
    if verdict.outcome == "decline":
        row.decision = {
            "risk": {"outcome": "decline", "checks": checks, **verdict.summary()},
            "decided_at": clock.to_rfc3339(clock.now()),
        }
        await _fail(sql, row, "risk_declined", None)
        await _save(sql, row)
        return Step(row)
    adapters = channels.get_channels()
    router = await routing.current_router(sql, list(adapters))
    facts = {"issuer": revealed.issuer_code, "card_type": revealed.card_type}
    ctx = _routing_context(row, facts)
    decision = router.decide(ctx, routing.card_channels(adapters))
    row.decision = {
        "risk": {"checks": checks, **verdict.summary()},
        "route": {
            "strategy": router.name,
            "rules_version": router.rules.version,
            "budget_ms": router.budget_ms,
            **decision.explain(),
        },
        "context": facts,
        "decided_at": clock.to_rfc3339(ctx.at),
    }
    row.status = "processing"
    _touch(row)
    await _emit(sql, "payment.processing", row)
    if not decision.order:
        await _record_card_use(sql, row, None)
        await _fail(sql, row, "card_not_permitted", "no channel takes this card")
        await _save(sql, row)
        return Step(row)
    # Automatic capture asks for the money in the authorisation's own message.
    kind: CallKind = "sale" if row.capture_method == "automatic" else "authorize"
    call = await _open_attempt(sql, row, kind, decision.order[0], row.amount)
    await _record_card_use(sql, row, call)
    await _save(sql, row)
    return Step(row, call, card=card)


async def _record_card_use(sql: Sql, row: PaymentRow, call: ChannelCall | None) -> None:
    """The card number was decrypted for a channel adapter (`call`: the attempt that sends
    it; None: no channel took the card): written to the audit log with the payment's own
    change, in its transaction — by whom (the channel), which token, which payment, never
    the number."""
    actor = audit.Actor(f"channel:{call.channel_id}", "channel") if call else audit.SYSTEM
    await audit.record(
        sql,
        vault.DETOKENIZED,
        target_type="payment_method",
        target_id=row.payment_method,
        details={
            "purpose": call.kind if call else "routing",
            "payment": row.id,
            "merchant": row.merchant_id,
            "channel": call.channel_id if call else None,
            "attempt": call.attempt_id if call else None,
            "requested_by": audit.current_actor().name,
        },
        actor=actor,
        incidental=True,
    )


async def _fail(sql: Sql, row: PaymentRow, code: str, message: str | None) -> None:
    row.status = "failed"
    row.failure_code = code
    row.failure_message = (message or "")[:300] or None
    await _emit(sql, "payment.failed", row)


def _routing_context(row: PaymentRow, facts: dict[str, Any]) -> Context:
    """What the router sees of a payment: never the card number."""
    return Context(
        payment_key=row.id,
        issuer=str(facts["issuer"]),
        card_type=CardType(str(facts["card_type"])),
        amount=row.amount,
        currency=row.currency,
        at=clock.now(),
        scene=row.scene,
        merchant_id=row.merchant_id,
    )


def routing_context(row: PaymentRow) -> Context | None:
    """The routing context recorded at confirm (None before)."""
    decision = row.decision or {}
    facts = decision.get("context")
    return _routing_context(row, facts) if isinstance(facts, dict) else None


async def _next_channel(sql: Sql, row: PaymentRow, last: ChannelResult) -> str | None:
    """After a refusal, the next channel the router allows: worked out from the stored order
    and the attempts so far (so a retried transaction picks the same one), within the time
    budget the attempts have left."""
    attempts = await sql.all(_AUTHORIZE_TRIES, payment_id=row.id)
    order = list(((row.decision or {}).get("route") or {}).get("order") or [])
    adapters = channels.get_channels()
    return routing.get_router().next_channel(
        Decision(order, Ranking(order), [], {}),
        tried=[a["channel_id"] for a in attempts],
        last=Result.of(last),
        elapsed_ms=float(sum(a["latency_ms"] for a in attempts)),
        channels={cid: a.info for cid, a in adapters.items()},
    )


async def _on_authorization(
    sql: Sql,
    row: PaymentRow,
    call: ChannelCall,
    result: ChannelResult,
    cascade: bool,
) -> ChannelCall | None:
    if result.status is ChannelStatus.APPROVED:
        now = clock.now()
        row.channel_id = call.channel_id
        row.authorization_ref = result.channel_ref
        row.amount_capturable = row.amount
        row.authorized_at = now
        row.expires_at = now + AUTHORIZATION_TTL
        row.failure_code = row.failure_message = None
        if call.kind == "sale":
            # Captured by the same message: the money moves now.
            await _captured(sql, row, call.attempt_id, row.amount)
            return None
        if row.capture_method == "automatic":
            # (An authorisation from before sales: stays `processing` until its capture's
            # answer is in.)
            return await _open_attempt(sql, row, "capture", call.channel_id, row.amount)
        row.status = "requires_capture"
        await _emit(sql, "payment.requires_capture", row)
        return None
    # Declined, refused or never received: a soft refusal may try the next channel (only
    # while the customer waits — a background resolution has no CVV to send again).
    if cascade:
        following = await _next_channel(sql, row, result)
        if following is not None:
            # The card held in memory goes to another adapter: recorded like the first.
            retry = await _open_attempt(sql, row, call.kind, following, row.amount)
            await _record_card_use(sql, row, retry)
            return retry
    if result.status is ChannelStatus.NOT_FOUND:
        await _fail(sql, row, "channel_timeout", "the channel never received the request")
    else:
        await _fail(sql, row, result.error_code or "card_declined", result.raw_message)
    return None


# ------------------------------------------------------------------------------------ capture


# Every capture and refund of a channel, and every one of a merchant, posts to the same
# two accounts: spread over shards, concurrent payments do not queue on one balance row.
# (SQLite has one writer at a time: there shards would only add work.)
PAYMENT_ACCOUNT_SHARDS = 16


def _accounts(row: PaymentRow, *, shards: int) -> tuple[AccountSpec, AccountSpec]:
    assert row.channel_id is not None
    return (
        AccountSpec(
            code=f"channel:{row.channel_id}:clearing",
            currency=row.currency,
            normal_side=Side.DEBIT,
            name=f"Clearing at {row.channel_id}",
            shards=shards,
        ),
        AccountSpec(
            code=f"merchant:{row.merchant_id}:pending",
            currency=row.currency,
            normal_side=Side.CREDIT,
            name=f"Pending funds of {row.merchant_id}",
            owner=row.merchant_id,
            shards=shards,
        ),
    )


async def _post(sql: Sql, row: PaymentRow, journal_id: str, amount: int, *, refund: bool) -> None:
    shards = PAYMENT_ACCOUNT_SHARDS if sql.is_postgres else 1
    clearing, pending = _accounts(row, shards=shards)
    debit, credit = (pending, clearing) if refund else (clearing, pending)
    # The merchant's fee and the channel's cost, in the same journal (payhub.settlement.fees).
    fees = await fee_booking.book(sql, row, amount, refund=refund, shards=shards)
    spec = JournalSpec(
        postings=(
            PostingSpec(debit.code, Side.DEBIT, amount, row.currency),
            PostingSpec(credit.code, Side.CREDIT, amount, row.currency),
            *fees.postings,
        ),
        id=journal_id,
        description=f"{'Refund' if refund else 'Capture'} of {row.id}",
        metadata={"payment": row.id},
    )
    try:
        await ledger.record_journal(sql, spec)
    except PayHubError as error:
        if error.code != "account_not_found":
            raise
        # The first money of this merchant or channel in this currency: open its accounts
        # (once, ever), then post.
        await ledger.ensure_accounts(sql, [clearing, pending, *fees.accounts])
        await ledger.record_journal(sql, spec)
    await settlement_hooks.after_money_moved(sql, merchant_id=row.merchant_id, journal=spec)


async def start_capture(
    tx: AsyncSession | Sql, payment_id: str, merchant_id: str | None, amount: int | None
) -> Step:
    """Capture all or part of what is still capturable; several captures may follow one
    another while the authorisation lasts."""
    sql = await as_sql(tx)
    row = await _payment_row(sql, payment_id, merchant_id, lock=True)
    await _require_idle(sql, row)
    if row.status not in ("requires_capture", "succeeded") or row.amount_capturable == 0:
        raise _unexpected(row, "captured")
    if row.expires_at is not None and clock.now() >= row.expires_at:
        raise _unexpected(row, "captured after its authorisation expired")
    amount = row.amount_capturable if amount is None else check_amount(amount)
    if amount > row.amount_capturable:
        raise PayHubError(
            "capture_exceeds_authorized", param="amount", capturable=row.amount_capturable
        )
    assert row.channel_id is not None
    call = await _open_attempt(sql, row, "capture", row.channel_id, amount)
    _touch(row)
    await _save(sql, row)
    return Step(row, call)


async def _on_capture(
    sql: Sql, row: PaymentRow, call: ChannelCall, result: ChannelResult
) -> PayHubError | None:
    assert call.amount is not None
    if result.status is ChannelStatus.APPROVED:
        await _captured(sql, row, call.attempt_id, call.amount)
        return None
    error = PayHubError(result.error_code or "channel_error")
    if row.status == "processing":
        # An automatic capture that did not go through: the authorisation still holds, so
        # the merchant may capture again (or cancel) before it lapses.
        row.status = "requires_capture"
        row.failure_code = error.spec.code
        row.failure_message = (result.raw_message or "")[:300] or None
        await _emit(sql, "payment.requires_capture", row)
        return None
    return error


async def _captured(sql: Sql, row: PaymentRow, attempt_id: str, amount: int) -> None:
    """`amount` was captured by the attempt: the payment's amounts, its journal, its event."""
    row.amount_capturable -= amount
    row.amount_captured += amount
    first = row.status != "succeeded"
    row.status = "succeeded"
    await _post(sql, row, capture_journal_id(attempt_id), amount, refund=False)
    await _emit(sql, "payment.succeeded" if first else "payment.captured", row)


# ------------------------------------------------------------------------------------- cancel


async def start_cancel(tx: AsyncSession | Sql, payment_id: str, merchant_id: str | None) -> Step:
    """Cancel a payment before anything was captured; an authorisation is voided at its
    channel first."""
    sql = await as_sql(tx)
    row = await _payment_row(sql, payment_id, merchant_id, lock=True)
    await _require_idle(sql, row)
    if row.status == "requires_confirmation":
        _touch(row)
        await _canceled(sql, row)
        await _save(sql, row)
        return Step(row)
    if row.status == "requires_capture" and row.amount_captured == 0:
        assert row.channel_id is not None
        call = await _open_attempt(sql, row, "void", row.channel_id, row.amount_capturable)
        _touch(row)
        await _save(sql, row)
        return Step(row, call)
    raise _unexpected(row, "canceled")


async def _canceled(sql: Sql, row: PaymentRow) -> None:
    row.status = "canceled"
    row.amount_capturable = 0
    await _emit(sql, "payment.canceled", row)


async def _on_void(sql: Sql, row: PaymentRow, result: ChannelResult) -> PayHubError | None:
    if result.status is ChannelStatus.APPROVED:
        await _canceled(sql, row)
        return None
    return PayHubError(result.error_code or "channel_error")


async def start_expiry(tx: AsyncSession | Sql, payment_id: str) -> Step | None:
    """Release an authorisation past `expires_at`: one never captured is voided at its
    channel (the void's answer cancels the payment); the uncaptured rest of a partly
    captured one simply lapses. None if the payment no longer qualifies."""
    sql = await as_sql(tx)
    row = await _payment_row(sql, payment_id, None, lock=True)
    expired = row.expires_at is not None and row.expires_at <= clock.now()
    if not expired or row.amount_capturable == 0 or row.in_flight_attempt_id is not None:
        return None
    if row.status == "requires_capture" and row.amount_captured == 0:
        return await start_cancel(sql, row.id, None)
    if row.status not in ("requires_capture", "succeeded"):
        return None
    row.amount_capturable = 0
    _touch(row)
    await _emit(sql, "payment.authorization_expired", row)
    await _save(sql, row)
    return Step(row)


_EXPIRED = (
    select(_PAYMENTS.c.id)
    .where(
        _PAYMENTS.c.amount_capturable > 0,
        _PAYMENTS.c.expires_at.is_not(None),
        _PAYMENTS.c.expires_at <= bindparam("now"),
        or_(_PAYMENTS.c.status == "requires_capture", _PAYMENTS.c.status == "succeeded"),
        _PAYMENTS.c.in_flight_attempt_id.is_(None),
    )
    .order_by(_PAYMENTS.c.expires_at)
    .limit(bindparam("limit"))
)


async def expired_authorizations(tx: AsyncSession | Sql, *, limit: int) -> list[str]:
    """Payments whose authorisation has lapsed with something still capturable."""
    rows = await (await as_sql(tx)).all(_EXPIRED, now=clock.now(), limit=limit)
    return [r["id"] for r in rows]


# ------------------------------------------------------------------------------------ refunds


async def start_refund(
    tx: AsyncSession | Sql,
    *,
    payment_id: str,
    merchant_id: str | None,
    amount: int | None = None,
    reason: str | None = None,
) -> Step:
    """A `pending` refund of all or part of what was captured and not yet refunded, and its
    attempt at the payment's channel."""
    sql = await as_sql(tx)
    row = await _payment_row(sql, payment_id, merchant_id, lock=True)
    if reason is not None and len(reason) > 200:
        raise PayHubError("validation_error", param="reason", detail="at most 200 characters")
    await _require_idle(sql, row)
    if row.amount_captured == 0:
        raise _unexpected(row, "refunded")
    refundable = row.amount_captured - row.amount_refunded
    amount = refundable if amount is None else check_amount(amount)
    if amount > refundable or amount == 0:
        raise PayHubError("refund_exceeds_captured", param="amount", refundable=refundable)
    assert row.channel_id is not None
    now = clock.now()
    refund = RefundRow(
        id=new_id("re"),
        payment_id=row.id,
        merchant_id=row.merchant_id,
        amount=amount,
        currency=row.currency,
        status="pending",
        reason=reason,
        failure_code=None,
        created_at=now,
        updated_at=now,
    )
    await sql.defer(_INSERT_REFUND, **refund.values())
    call = await _open_attempt(sql, row, "refund", row.channel_id, amount, refund_id=refund.id)
    _touch(row)
    await _save(sql, row)
    return Step(row, call, refund=refund)


async def _on_refund(
    sql: Sql, row: PaymentRow, call: ChannelCall, result: ChannelResult
) -> RefundRow:
    assert call.refund_id is not None and call.amount is not None
    found = await sql.one(_REFUND_FOR_UPDATE, id=call.refund_id)
    assert found is not None
    refund = RefundRow.of(found)
    refund.updated_at = clock.now()
    if result.status is ChannelStatus.APPROVED:
        refund.status = "succeeded"
        row.amount_refunded += call.amount
        await _save_refund(sql, refund)
        await _post(sql, row, refund_journal_id(refund.id), call.amount, refund=True)
        # A payment a group leader's batch split: the receivers give their shares back.
        await split_clawback.after_refund(
            sql, payment_id=row.id, refund_id=refund.id, amount=call.amount
        )
        await _emit(sql, "refund.succeeded", row, refund=refund_object(refund))
    else:
        # Declined, refused or never received: nothing was returned to the card.
        refund.status = "failed"
        refund.failure_code = result.error_code or "channel_timeout"
        await _save_refund(sql, refund)
        await _emit(sql, "refund.failed", row, refund=refund_object(refund))
    return refund


async def _save_refund(sql: Sql, refund: RefundRow) -> None:
    await sql.defer(
        _SAVE_REFUND,
        refund_key=refund.id,
        status=refund.status,
        failure_code=refund.failure_code,
        updated_at=refund.updated_at,
    )


async def get_refund(
    tx: AsyncSession | Sql, refund_id: str, *, merchant_id: str | None
) -> RefundRow:
    found = await (await as_sql(tx)).one(_REFUND, id=refund_id) if is_id(refund_id, "re") else None
    if found is None or (merchant_id is not None and found["merchant_id"] != merchant_id):
        raise PayHubError("refund_not_found", refund=str(refund_id)[:40])
    return RefundRow.of(found)


async def list_refunds(
    tx: AsyncSession | Sql,
    *,
    merchant_id: str | None,
    payment_id: str | None,
    limit: int,
    starting_after: str | None,
) -> tuple[list[RefundRow], bool]:
    """Newest first; a payment the caller cannot see is `payment_not_found`."""
    sql = await as_sql(tx)
    query = select(_REFUNDS).order_by(_REFUNDS.c.id.desc()).limit(limit + 1)
    if merchant_id is not None:
        query = query.where(_REFUNDS.c.merchant_id == merchant_id)
    if payment_id is not None:
        await _payment_row(sql, payment_id, merchant_id)
        query = query.where(_REFUNDS.c.payment_id == payment_id)
    if starting_after is not None:
        query = query.where(_REFUNDS.c.id < starting_after)
    rows = [RefundRow.of(r) for r in await sql.all_once(query)]
    return rows[:limit], len(rows) > limit


# ------------------------------------------------------------------------- recording answers


async def record_answer(
    tx: AsyncSession | Sql,
    call: ChannelCall,
    result: ChannelResult,
    *,
    cascade: bool = False,
    by_query: bool = False,
) -> Step:
    """Apply a channel's answer to `call`: the attempt, the payment's state, its journal and
    its event, in this one transaction. An answer for an attempt that is no longer in flight
    (another process settled it first) changes nothing. Timeout and lost answers keep the
    attempt in flight for the resolver."""
    sql = await as_sql(tx)
    both = await sql.one(_PAYMENT_AND_ATTEMPT, id=call.payment_id, attempt_id=call.attempt_id)
    if both is None:
        return Step(await _payment_row(sql, call.payment_id, None, lock=True))
    row = PaymentRow.of(both)
    attempt = AttemptRow.of({f.name: both[f"attempt_{f.name}"] for f in fields(AttemptRow)})
    if attempt.status not in UNRESOLVED or row.in_flight_attempt_id != attempt.id:
        return Step(row)
    was = attempt.status
    attempt.status = result.status.value
    attempt.raw_code = result.raw_code
    message = result.raw_message or ""
    if by_query:
        message = f"{message} (resolved by query after {was})"
    attempt.raw_message = message[:300] or None
    attempt.catalogue_code = result.error_code
    if not by_query:
        attempt.latency_ms = result.latency_ms
    await sql.defer(
        _SAVE_ATTEMPT,
        attempt_key=attempt.id,
        status=attempt.status,
        raw_code=attempt.raw_code,
        raw_message=attempt.raw_message,
        catalogue_code=attempt.catalogue_code,
        latency_ms=attempt.latency_ms,
    )
    _touch(row)
    if not result.outcome_known:
        if call.kind in AUTHORIZING:
            row.channel_id = call.channel_id
        await _save(sql, row)
        return Step(row)
    row.in_flight_attempt_id = None
    step = Step(row)
    if call.kind in AUTHORIZING:
        step.call = await _on_authorization(sql, row, call, result, cascade)
    elif call.kind == "capture":
        step.error = await _on_capture(sql, row, call, result)
    elif call.kind == "void":
        step.error = await _on_void(sql, row, result)
    else:
        step.refund = await _on_refund(sql, row, call, result)
    await _save(sql, row)
    return step


_UNRESOLVED = (
    select(
        _ATTEMPTS,
        _PAYMENTS.c.currency,
        _PAYMENTS.c.merchant_id,
        _PAYMENTS.c.scene,
        _PAYMENTS.c.authorization_ref,
    )
    .join(_PAYMENTS, _PAYMENTS.c.in_flight_attempt_id == _ATTEMPTS.c.id)
    .where(
        or_(
            _ATTEMPTS.c.status == "timeout",
            _ATTEMPTS.c.status == "lost",
            (_ATTEMPTS.c.status == "pending") & (_ATTEMPTS.c.created_at <= bindparam("cutoff")),
        )
    )
    .order_by(_ATTEMPTS.c.id)
    .limit(bindparam("limit"))
)


async def unresolved_calls(
    tx: AsyncSession | Sql, *, grace: timedelta, limit: int
) -> list[ChannelCall]:
    """Attempts in flight whose answer is unknown: timed out, lost, or `pending` for longer
    than any channel takes (the process that sent it is gone)."""
    rows = await (await as_sql(tx)).all(_UNRESOLVED, cutoff=clock.now() - grace, limit=limit)
    return [
        ChannelCall(
            attempt_id=r["id"],
            payment_id=r["payment_id"],
            kind=cast(CallKind, r["kind"]),
            channel_id=r["channel_id"],
            request_id=r["request_id"],
            amount=r["amount"],
            currency=r["currency"],
            merchant_id=r["merchant_id"],
            scene=r["scene"],
            authorization_ref=r["authorization_ref"],
            refund_id=r["refund_id"],
        )
        for r in rows
    ]


# ----------------------------------------------------------------------------- money trail


async def list_attempts(
    tx: AsyncSession | Sql, payment_id: str, *, merchant_id: str | None
) -> list[AttemptRow]:
    sql = await as_sql(tx)
    row = await _payment_row(sql, payment_id, merchant_id)
    return [AttemptRow.of(r) for r in await sql.all(_ATTEMPTS_OF, payment_id=row.id)]


async def list_journals(
    session: AsyncSession, payment_id: str, *, merchant_id: str | None
) -> list[JournalView]:
    """The ledger journals of a payment (its captures and refunds), oldest first."""
    attempts = await list_attempts(session, payment_id, merchant_id=merchant_id)
    ids = [
        refund_journal_id(a.refund_id or "") if a.kind == "refund" else capture_journal_id(a.id)
        for a in attempts
        if a.status == "approved" and a.kind in ("sale", "capture", "refund")
    ]
    return [await ledger.get_journal(session, journal_id) for journal_id in ids]
