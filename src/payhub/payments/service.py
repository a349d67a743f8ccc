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

Steps flush but never commit; callers run them in `Database.run_in_transaction`. The card
security code (CVV) never reaches this module: it goes from the confirm request straight
into the `CardData` the orchestrator sends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, cast

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.channels.base import CardData, CardType, ChannelResult, ChannelStatus
from payhub.core import clock
from payhub.core.errors import PayHubError
from payhub.core.ids import is_id, new_id
from payhub.core.metadata import validate_metadata
from payhub.core.money import check_amount, check_currency
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
from payhub.routing import service as routing
from payhub.routing.base import Context, Ranking, Result
from payhub.routing.engine import Decision
from payhub.vault import service as vault

AUTHORIZATION_TTL = timedelta(days=7)
# Daily limits count the merchant's day in China time (UTC+8, no daylight saving).
MERCHANT_DAY = timezone(timedelta(hours=8))
CaptureMethod = Literal["automatic", "manual"]
CallKind = Literal["authorize", "capture", "void", "refund"]

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

    payment: Payment
    call: ChannelCall | None = None
    refund: Refund | None = None
    error: PayHubError | None = None
    # The card for authorisations, held in memory only between transactions.
    card: CardData | None = field(default=None, repr=False)

    @property
    def settled(self) -> bool:
        """False while the payment waits for a channel's answer."""
        return self.payment.in_flight_attempt_id is None


# ------------------------------------------------------------------------------------ helpers


async def _payment_row(
    session: AsyncSession, payment_id: str, merchant_id: str | None, *, lock: bool = False
) -> Payment:
    """A payment the caller may see (`merchant_id` None: the operator); another merchant's
    payment is `payment_not_found`, exactly like a missing one."""
    if not is_id(payment_id, "pay"):
        raise PayHubError("payment_not_found", payment=str(payment_id)[:40])
    query = select(Payment).where(Payment.id == payment_id)
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).scalar_one_or_none()
    if row is None or (merchant_id is not None and row.merchant_id != merchant_id):
        raise PayHubError("payment_not_found", payment=payment_id)
    return row


def _unexpected(row: Payment, action: str) -> PayHubError:
    return PayHubError("payment_unexpected_state", status=row.status, action=action)


async def _require_idle(session: AsyncSession, row: Payment) -> None:
    if row.in_flight_attempt_id is not None:
        attempt = await session.get(PaymentAttempt, row.in_flight_attempt_id)
        kind = attempt.kind if attempt is not None else "request"
        raise PayHubError("payment_operation_in_progress", operation=kind)


async def _check_limits(
    session: AsyncSession, merchant: MerchantView, amount: int, *, exclude: str | None = None
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
    query = select(func.coalesce(func.sum(Payment.amount), 0)).where(
        Payment.merchant_id == merchant.id,
        Payment.created_at >= day_start,
        Payment.status.in_(_COUNTED),
    )
    if exclude is not None:
        query = query.where(Payment.id != exclude)
    today = int((await session.execute(query)).scalar_one())
    if today + amount > merchant.daily_limit:
        raise PayHubError("amount_over_limit", param="amount", limit="daily_limit")
    checks.append({"rule": "daily_limit", "limit": merchant.daily_limit, "used_today": today})
    return checks


async def _emit(session: AsyncSession, type: str, row: Payment, **extra: Any) -> None:
    await events.emit(
        session,
        type=type,
        merchant_id=row.merchant_id,
        data={"object": payment_object(row), **extra},
    )


def _touch(row: Payment) -> None:
    row.updated_at = clock.now()


async def _open_attempt(
    session: AsyncSession,
    row: Payment,
    kind: CallKind,
    channel_id: str,
    amount: int | None,
    *,
    refund_id: str | None = None,
) -> ChannelCall:
    """Commit-before-call: the attempt exists, with our request id, before the channel hears
    of it, so no answer can ever arrive for a request we have no record of."""
    attempt = PaymentAttempt(
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
    session.add(attempt)
    row.in_flight_attempt_id = attempt.id
    _touch(row)
    await session.flush()
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
    session: AsyncSession,
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
) -> Payment:
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
    merchant = await merchants.require_active_merchant(session, merchant_id)
    if currency != merchant.currency:
        raise PayHubError(
            "currency_mismatch",
            param="currency",
            detail=f"the merchant takes payments in {merchant.currency}, not {currency}",
        )
    await _check_limits(session, merchant, amount)
    if customer_id is not None:
        await merchants.get_customer(session, customer_id, merchant_id=merchant_id)
    card = await vault.get_card(session, payment_method, merchant_id=merchant_id)
    if customer_id is not None and card.customer_id != customer_id:
        raise PayHubError("payment_method_not_found", param="payment_method")
    now = clock.now()
    row = Payment(
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
        metadata_=metadata,
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
    session.add(row)
    await session.flush()
    return row


async def get_payment(
    session: AsyncSession, payment_id: str, *, merchant_id: str | None
) -> Payment:
    return await _payment_row(session, payment_id, merchant_id)


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
    session: AsyncSession, filters: PaymentFilter, *, limit: int, starting_after: str | None
) -> tuple[list[Payment], bool]:
    """Newest first, a page of `limit` after the cursor; and whether more follow."""
    query = select(Payment).order_by(Payment.id.desc()).limit(limit + 1)
    if filters.merchant_id is not None:
        query = query.where(Payment.merchant_id == filters.merchant_id)
    if filters.status is not None:
        query = query.where(Payment.status == filters.status)
    if filters.customer_id is not None:
        query = query.where(Payment.customer_id == filters.customer_id)
    if filters.scene is not None:
        query = query.where(Payment.scene == filters.scene)
    if filters.created_from is not None:
        query = query.where(Payment.created_at >= filters.created_from)
    if filters.created_to is not None:
        query = query.where(Payment.created_at < filters.created_to)
    if starting_after is not None:
        query = query.where(Payment.id < starting_after)
    rows = list((await session.execute(query)).scalars().all())
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
    session: AsyncSession, payment_id: str, merchant_id: str | None, cvv: str | None
) -> Step:
    """Check limits again (today's payments may have grown since create), route, and commit
    the payment as `processing` with its first authorisation attempt and its decision."""
    row = await _payment_row(session, payment_id, merchant_id, lock=True)
    if row.status != "requires_confirmation":
        raise _unexpected(row, "confirmed")
    merchant = await merchants.require_active_merchant(session, row.merchant_id)
    checks = await _check_limits(session, merchant, row.amount, exclude=row.id)
    revealed = await vault.reveal_card(session, row.payment_method)
    card = _card_for_channel(revealed, cvv)
    adapters = channels.get_channels()
    router = await routing.current_router(session, list(adapters))
    facts = {"issuer": revealed.issuer_code, "card_type": revealed.card_type}
    ctx = _routing_context(row, facts)
    decision = router.decide(ctx, routing.card_channels(adapters))
    row.decision = {
        "risk": {"outcome": "approve", "checks": checks},
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
    await session.flush()
    await _emit(session, "payment.processing", row)
    if not decision.order:
        await _fail(session, row, "card_not_permitted", "no channel takes this card")
        return Step(row)
    call = await _open_attempt(session, row, "authorize", decision.order[0], row.amount)
    return Step(row, call, card=card)


async def _fail(session: AsyncSession, row: Payment, code: str, message: str | None) -> None:
    row.status = "failed"
    row.failure_code = code
    row.failure_message = (message or "")[:300] or None
    _touch(row)
    await session.flush()
    await _emit(session, "payment.failed", row)


def _routing_context(row: Payment, facts: dict[str, Any]) -> Context:
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


def routing_context(row: Payment) -> Context | None:
    """The routing context recorded at confirm (None before)."""
    decision = row.decision or {}
    facts = decision.get("context")
    return _routing_context(row, facts) if isinstance(facts, dict) else None


async def _next_channel(session: AsyncSession, row: Payment, last: ChannelResult) -> str | None:
    """After a refusal, the next channel the router allows: worked out from the stored order
    and the attempts so far (so a retried transaction picks the same one), within the time
    budget the attempts have left."""
    attempts = (
        await session.execute(
            select(PaymentAttempt.channel_id, PaymentAttempt.latency_ms).where(
                PaymentAttempt.payment_id == row.id, PaymentAttempt.kind == "authorize"
            )
        )
    ).all()
    order = list(((row.decision or {}).get("route") or {}).get("order") or [])
    adapters = channels.get_channels()
    return routing.get_router().next_channel(
        Decision(order, Ranking(order), [], {}),
        tried=[a.channel_id for a in attempts],
        last=Result.of(last),
        elapsed_ms=float(sum(a.latency_ms for a in attempts)),
        channels={cid: a.info for cid, a in adapters.items()},
    )


async def _on_authorization(
    session: AsyncSession,
    row: Payment,
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
        if row.capture_method == "automatic":
            # Stays `processing` until the capture's answer is in.
            return await _open_attempt(session, row, "capture", call.channel_id, row.amount)
        row.status = "requires_capture"
        _touch(row)
        await session.flush()
        await _emit(session, "payment.requires_capture", row)
        return None
    # Declined, refused or never received: a soft refusal may try the next channel (only
    # while the customer waits — a background resolution has no CVV to send again).
    if cascade:
        following = await _next_channel(session, row, result)
        if following is not None:
            return await _open_attempt(session, row, "authorize", following, row.amount)
    if result.status is ChannelStatus.NOT_FOUND:
        await _fail(session, row, "channel_timeout", "the channel never received the request")
    else:
        await _fail(session, row, result.error_code or "card_declined", result.raw_message)
    return None


# ------------------------------------------------------------------------------------ capture


def _accounts(row: Payment) -> tuple[AccountSpec, AccountSpec]:
    assert row.channel_id is not None
    return (
        AccountSpec(
            code=f"channel:{row.channel_id}:clearing",
            currency=row.currency,
            normal_side=Side.DEBIT,
            name=f"Clearing at {row.channel_id}",
        ),
        AccountSpec(
            code=f"merchant:{row.merchant_id}:pending",
            currency=row.currency,
            normal_side=Side.CREDIT,
            name=f"Pending funds of {row.merchant_id}",
            owner=row.merchant_id,
        ),
    )


async def _post(
    session: AsyncSession, row: Payment, journal_id: str, amount: int, *, refund: bool
) -> None:
    clearing, pending = _accounts(row)
    await ledger.ensure_account(session, clearing)
    await ledger.ensure_account(session, pending)
    debit, credit = (pending, clearing) if refund else (clearing, pending)
    await ledger.post_journal(
        session,
        JournalSpec(
            postings=(
                PostingSpec(debit.code, Side.DEBIT, amount, row.currency),
                PostingSpec(credit.code, Side.CREDIT, amount, row.currency),
            ),
            id=journal_id,
            description=f"{'Refund' if refund else 'Capture'} of {row.id}",
            metadata={"payment": row.id},
        ),
    )


async def start_capture(
    session: AsyncSession, payment_id: str, merchant_id: str | None, amount: int | None
) -> Step:
    """Capture all or part of what is still capturable; several captures may follow one
    another while the authorisation lasts."""
    row = await _payment_row(session, payment_id, merchant_id, lock=True)
    await _require_idle(session, row)
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
    return Step(row, await _open_attempt(session, row, "capture", row.channel_id, amount))


async def _on_capture(
    session: AsyncSession, row: Payment, call: ChannelCall, result: ChannelResult
) -> PayHubError | None:
    assert call.amount is not None
    if result.status is ChannelStatus.APPROVED:
        row.amount_capturable -= call.amount
        row.amount_captured += call.amount
        first = row.status != "succeeded"
        row.status = "succeeded"
        _touch(row)
        await session.flush()
        await _post(session, row, capture_journal_id(call.attempt_id), call.amount, refund=False)
        await _emit(session, "payment.succeeded" if first else "payment.captured", row)
        return None
    error = PayHubError(result.error_code or "channel_error")
    if row.status == "processing":
        # An automatic capture that did not go through: the authorisation still holds, so
        # the merchant may capture again (or cancel) before it lapses.
        row.status = "requires_capture"
        row.failure_code = error.spec.code
        row.failure_message = (result.raw_message or "")[:300] or None
        _touch(row)
        await session.flush()
        await _emit(session, "payment.requires_capture", row)
        return None
    return error


# ------------------------------------------------------------------------------------- cancel


async def start_cancel(session: AsyncSession, payment_id: str, merchant_id: str | None) -> Step:
    """Cancel a payment before anything was captured; an authorisation is voided at its
    channel first."""
    row = await _payment_row(session, payment_id, merchant_id, lock=True)
    await _require_idle(session, row)
    if row.status == "requires_confirmation":
        await _canceled(session, row)
        return Step(row)
    if row.status == "requires_capture" and row.amount_captured == 0:
        assert row.channel_id is not None
        call = await _open_attempt(session, row, "void", row.channel_id, row.amount_capturable)
        return Step(row, call)
    raise _unexpected(row, "canceled")


async def _canceled(session: AsyncSession, row: Payment) -> None:
    row.status = "canceled"
    row.amount_capturable = 0
    _touch(row)
    await session.flush()
    await _emit(session, "payment.canceled", row)


async def _on_void(
    session: AsyncSession, row: Payment, result: ChannelResult
) -> PayHubError | None:
    if result.status is ChannelStatus.APPROVED:
        await _canceled(session, row)
        return None
    return PayHubError(result.error_code or "channel_error")


async def start_expiry(session: AsyncSession, payment_id: str) -> Step | None:
    """Release an authorisation past `expires_at`: one never captured is voided at its
    channel (the void's answer cancels the payment); the uncaptured rest of a partly
    captured one simply lapses. None if the payment no longer qualifies."""
    row = await _payment_row(session, payment_id, None, lock=True)
    expired = row.expires_at is not None and row.expires_at <= clock.now()
    if not expired or row.amount_capturable == 0 or row.in_flight_attempt_id is not None:
        return None
    if row.status == "requires_capture" and row.amount_captured == 0:
        return await start_cancel(session, row.id, None)
    if row.status not in ("requires_capture", "succeeded"):
        return None
    row.amount_capturable = 0
    _touch(row)
    await session.flush()
    await _emit(session, "payment.authorization_expired", row)
    return Step(row)


async def expired_authorizations(session: AsyncSession, *, limit: int) -> list[str]:
    """Payments whose authorisation has lapsed with something still capturable."""
    query = (
        select(Payment.id)
        .where(
            Payment.amount_capturable > 0,
            Payment.expires_at.is_not(None),
            Payment.expires_at <= clock.now(),
            Payment.status.in_(("requires_capture", "succeeded")),
            Payment.in_flight_attempt_id.is_(None),
        )
        .order_by(Payment.expires_at)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars().all())


# ------------------------------------------------------------------------------------ refunds


async def start_refund(
    session: AsyncSession,
    *,
    payment_id: str,
    merchant_id: str | None,
    amount: int | None = None,
    reason: str | None = None,
) -> Step:
    """A `pending` refund of all or part of what was captured and not yet refunded, and its
    attempt at the payment's channel."""
    row = await _payment_row(session, payment_id, merchant_id, lock=True)
    if reason is not None and len(reason) > 200:
        raise PayHubError("validation_error", param="reason", detail="at most 200 characters")
    await _require_idle(session, row)
    if row.amount_captured == 0:
        raise _unexpected(row, "refunded")
    refundable = row.amount_captured - row.amount_refunded
    amount = refundable if amount is None else check_amount(amount)
    if amount > refundable or amount == 0:
        raise PayHubError("refund_exceeds_captured", param="amount", refundable=refundable)
    assert row.channel_id is not None
    now = clock.now()
    refund = Refund(
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
    session.add(refund)
    await session.flush()
    call = await _open_attempt(session, row, "refund", row.channel_id, amount, refund_id=refund.id)
    return Step(row, call, refund=refund)


async def _on_refund(
    session: AsyncSession, row: Payment, call: ChannelCall, result: ChannelResult
) -> Refund:
    assert call.refund_id is not None and call.amount is not None
    refund = await session.get(Refund, call.refund_id, with_for_update=True)
    assert refund is not None
    refund.updated_at = clock.now()
    if result.status is ChannelStatus.APPROVED:
        refund.status = "succeeded"
        row.amount_refunded += call.amount
        _touch(row)
        await session.flush()
        await _post(session, row, refund_journal_id(refund.id), call.amount, refund=True)
        await _emit(session, "refund.succeeded", row, refund=refund_object(refund))
    else:
        # Declined, refused or never received: nothing was returned to the card.
        refund.status = "failed"
        refund.failure_code = result.error_code or "channel_timeout"
        _touch(row)
        await session.flush()
        await _emit(session, "refund.failed", row, refund=refund_object(refund))
    return refund


async def get_refund(session: AsyncSession, refund_id: str, *, merchant_id: str | None) -> Refund:
    row = await session.get(Refund, refund_id) if is_id(refund_id, "re") else None
    if row is None or (merchant_id is not None and row.merchant_id != merchant_id):
        raise PayHubError("refund_not_found", refund=str(refund_id)[:40])
    return row


async def list_refunds(
    session: AsyncSession,
    *,
    merchant_id: str | None,
    payment_id: str | None,
    limit: int,
    starting_after: str | None,
) -> tuple[list[Refund], bool]:
    """Newest first; a payment the caller cannot see is `payment_not_found`."""
    query = select(Refund).order_by(Refund.id.desc()).limit(limit + 1)
    if merchant_id is not None:
        query = query.where(Refund.merchant_id == merchant_id)
    if payment_id is not None:
        await _payment_row(session, payment_id, merchant_id)
        query = query.where(Refund.payment_id == payment_id)
    if starting_after is not None:
        query = query.where(Refund.id < starting_after)
    rows = list((await session.execute(query)).scalars().all())
    return rows[:limit], len(rows) > limit


# ------------------------------------------------------------------------- recording answers


async def record_answer(
    session: AsyncSession,
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
    row = await _payment_row(session, call.payment_id, None, lock=True)
    attempt = await session.get(PaymentAttempt, call.attempt_id, with_for_update=True)
    if attempt is None or attempt.status not in UNRESOLVED:
        return Step(row)
    if row.in_flight_attempt_id != attempt.id:
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
    if not result.outcome_known:
        if call.kind == "authorize":
            row.channel_id = call.channel_id
        _touch(row)
        await session.flush()
        return Step(row)
    row.in_flight_attempt_id = None
    step = Step(row)
    if call.kind == "authorize":
        step.call = await _on_authorization(session, row, call, result, cascade)
    elif call.kind == "capture":
        step.error = await _on_capture(session, row, call, result)
    elif call.kind == "void":
        step.error = await _on_void(session, row, result)
    else:
        step.refund = await _on_refund(session, row, call, result)
    if step.call is None:
        _touch(row)
        await session.flush()
    return step


async def unresolved_calls(
    session: AsyncSession, *, grace: timedelta, limit: int
) -> list[ChannelCall]:
    """Attempts in flight whose answer is unknown: timed out, lost, or `pending` for longer
    than any channel takes (the process that sent it is gone)."""
    cutoff = clock.now() - grace
    query = (
        select(PaymentAttempt, Payment)
        .join(Payment, Payment.in_flight_attempt_id == PaymentAttempt.id)
        .where(
            (PaymentAttempt.status.in_(("timeout", "lost")))
            | ((PaymentAttempt.status == "pending") & (PaymentAttempt.created_at <= cutoff))
        )
        .order_by(PaymentAttempt.id)
        .limit(limit)
    )
    calls = []
    for attempt, payment in (await session.execute(query)).all():
        kind = cast(CallKind, attempt.kind)
        calls.append(
            ChannelCall(
                attempt_id=attempt.id,
                payment_id=payment.id,
                kind=kind,
                channel_id=attempt.channel_id,
                request_id=attempt.request_id,
                amount=attempt.amount,
                currency=payment.currency,
                merchant_id=payment.merchant_id,
                scene=payment.scene,
                authorization_ref=payment.authorization_ref,
                refund_id=attempt.refund_id,
            )
        )
    return calls


# ----------------------------------------------------------------------------- money trail


async def list_attempts(
    session: AsyncSession, payment_id: str, *, merchant_id: str | None
) -> list[PaymentAttempt]:
    row = await _payment_row(session, payment_id, merchant_id)
    query = (
        select(PaymentAttempt)
        .where(PaymentAttempt.payment_id == row.id)
        .order_by(PaymentAttempt.id)
    )
    return list((await session.execute(query)).scalars().all())


async def list_journals(
    session: AsyncSession, payment_id: str, *, merchant_id: str | None
) -> list[JournalView]:
    """The ledger journals of a payment (its captures and refunds), oldest first."""
    attempts = await list_attempts(session, payment_id, merchant_id=merchant_id)
    ids = [
        capture_journal_id(a.id) if a.kind == "capture" else refund_journal_id(a.refund_id or "")
        for a in attempts
        if a.status == "approved" and a.kind in ("capture", "refund")
    ]
    return [await ledger.get_journal(session, journal_id) for journal_id in ids]
