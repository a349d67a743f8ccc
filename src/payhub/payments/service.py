"""The payment orchestrator: create, confirm (authorise at a channel), capture, cancel,
refund, and settle payments whose authorisation outcome is unknown.

Every state change writes, in the caller's transaction, its attempt rows, its ledger
journal (captures and refunds) and its event, so they commit together or not at all.
Services flush but never commit.

Known limitation: the channel call happens inside the caller's database transaction. That
is acceptable for the in-process simulator (it answers at once); an HTTP adapter, whose
calls take up to the channel's timeout, needs the call moved between two short
transactions (record the attempt, call, record the answer) before it goes live.

The card security code (CVV) goes from `confirm_payment`'s argument straight into the
`CardData` sent to the channel: it is never stored, logged or put in an event.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.channels.base import (
    AuthorizeRequest,
    CardData,
    CardType,
    ChannelAdapter,
    ChannelResult,
    ChannelStatus,
    DeclineClass,
)
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
from payhub.vault import service as vault

AUTHORIZATION_TTL = timedelta(days=7)
# Daily limits count the merchant's day in China time (UTC+8, no daylight saving).
MERCHANT_DAY = timezone(timedelta(hours=8))
CaptureMethod = Literal["automatic", "manual"]

# Statuses whose amounts count against the daily limit.
_COUNTED = ("requires_confirmation", "processing", "requires_capture", "succeeded")


# ------------------------------------------------------------------------------- public shapes


def _ts(moment: datetime | None) -> str | None:
    return clock.to_rfc3339(moment) if moment is not None else None


def payment_object(row: Payment) -> dict[str, Any]:
    """The payment as the API shows it: the card by token only, never its number."""
    return {
        "id": row.id,
        "object": "payment",
        "merchant": row.merchant_id,
        "customer": row.customer_id,
        "payment_method": row.payment_method,
        "amount": row.amount,
        "currency": row.currency,
        "amount_capturable": row.amount_capturable,
        "amount_captured": row.amount_captured,
        "amount_refunded": row.amount_refunded,
        "capture_method": row.capture_method,
        "status": row.status,
        "scene": row.scene,
        "description": row.description,
        "metadata": dict(row.metadata_),
        "channel": row.channel_id,
        "failure_code": row.failure_code,
        "failure_message": row.failure_message,
        "authorized_at": _ts(row.authorized_at),
        "expires_at": _ts(row.expires_at),
        "created_at": _ts(row.created_at),
        "updated_at": _ts(row.updated_at),
    }


def refund_object(row: Refund) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "refund",
        "payment": row.payment_id,
        "amount": row.amount,
        "currency": row.currency,
        "status": row.status,
        "reason": row.reason,
        "failure_code": row.failure_code,
        "created_at": _ts(row.created_at),
        "updated_at": _ts(row.updated_at),
    }


def attempt_object(row: PaymentAttempt) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "payment_attempt",
        "payment": row.payment_id,
        "kind": row.kind,
        "channel": row.channel_id,
        "request_id": row.request_id,
        "status": row.status,
        "raw_code": row.raw_code,
        "raw_message": row.raw_message,
        "catalogue_code": row.catalogue_code,
        "latency_ms": row.latency_ms,
        "amount": row.amount,
        "refund": row.refund_id,
        "created_at": _ts(row.created_at),
    }


# ------------------------------------------------------------------------------------ helpers


def capture_journal_id(attempt_id: str) -> str:
    return f"cap_{attempt_id}"


def refund_journal_id(refund_id: str) -> str:
    return f"ref_{refund_id}"


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


async def _check_limits(
    session: AsyncSession, merchant: MerchantView, amount: int, *, exclude: str | None = None
) -> None:
    """The merchant's per-payment and daily limits (the risk decision point's first rule)."""
    if merchant.per_payment_limit is not None and amount > merchant.per_payment_limit:
        raise PayHubError("amount_over_limit", param="amount", limit="per_payment_limit")
    if merchant.daily_limit is None:
        return
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


async def _emit(session: AsyncSession, type: str, row: Payment, **extra: Any) -> None:
    await events.emit(
        session,
        type=type,
        merchant_id=row.merchant_id,
        data={"object": payment_object(row), **extra},
    )


def _touch(row: Payment) -> None:
    row.updated_at = clock.now()


async def _attempt(
    session: AsyncSession,
    row: Payment,
    *,
    kind: str,
    channel_id: str,
    request_id: str,
    attempt_id: str,
    result: ChannelResult,
    amount: int | None,
    refund_id: str | None = None,
) -> PaymentAttempt:
    attempt = PaymentAttempt(
        id=attempt_id,
        payment_id=row.id,
        kind=kind,
        channel_id=channel_id,
        request_id=request_id,
        status=result.status.value,
        raw_code=result.raw_code,
        raw_message=(result.raw_message or "")[:300] or None,
        catalogue_code=result.error_code,
        latency_ms=result.latency_ms,
        amount=amount,
        refund_id=refund_id,
        created_at=clock.now(),
    )
    session.add(attempt)
    await session.flush()
    return attempt


def _settle_attempt(attempt: PaymentAttempt, truth: ChannelResult) -> None:
    """An attempt whose answer was lost or late, updated to what the channel says happened."""
    was = attempt.status
    attempt.status = truth.status.value
    attempt.raw_code = truth.raw_code
    attempt.raw_message = f"{truth.raw_message or ''} (resolved by query after {was})"[:300]
    attempt.catalogue_code = truth.error_code


async def _follow_up(
    adapter: ChannelAdapter, request_id: str, call: ChannelResult
) -> ChannelResult:
    """A capture, void or refund whose answer did not arrive: ask the channel for the truth
    once (the request id makes the question safe). Still unknown → the unknown result."""
    if call.outcome_known:
        return call
    truth = await adapter.query(request_id)
    return truth if truth.outcome_known else call


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


# ------------------------------------------------------------------------------------ confirm


async def _fail(session: AsyncSession, row: Payment, code: str, message: str | None) -> None:
    row.status = "failed"
    row.failure_code = code
    row.failure_message = (message or "")[:300] or None
    _touch(row)
    await session.flush()
    await _emit(session, "payment.failed", row)


async def _authorized(
    session: AsyncSession, row: Payment, channel_id: str, result: ChannelResult
) -> None:
    """The channel approved the authorisation: hold it for capture, or capture it now."""
    now = clock.now()
    row.channel_id = channel_id
    row.authorization_ref = result.channel_ref
    row.amount_capturable = row.amount
    row.authorized_at = now
    row.expires_at = now + AUTHORIZATION_TTL
    row.status = "requires_capture"
    row.failure_code = row.failure_message = None
    _touch(row)
    await session.flush()
    if row.capture_method == "manual":
        await _emit(session, "payment.requires_capture", row)
    else:
        await _capture(session, row, row.amount)


async def confirm_payment(
    session: AsyncSession, payment_id: str, merchant_id: str | None, cvv: str | None = None
) -> Payment:
    """Authorise the payment at its routed channel(s).

    Approved → `requires_capture` (manual capture) or captured at once → `succeeded`.
    Declined → `failed` with the catalogue code (a soft decline first tries the next eligible
    channel; a hard decline never does). A timeout or a lost answer leaves the payment in
    `processing`, and no other channel is tried while the outcome is unknown:
    `resolve_processing` settles it."""
    row = await _payment_row(session, payment_id, merchant_id, lock=True)
    if row.status != "requires_confirmation":
        raise _unexpected(row, "confirmed")
    merchant = await merchants.require_active_merchant(session, row.merchant_id)
    # The decision point: the limits are checked again, against today's payments.
    await _check_limits(session, merchant, row.amount, exclude=row.id)
    revealed = await vault.reveal_card(session, row.payment_method)
    try:
        card = CardData(
            pan=revealed.pan,
            exp_month=revealed.exp_month,
            exp_year=revealed.exp_year,
            cvv=cvv,
            issuer_code=revealed.issuer_code,
            card_type=CardType(revealed.card_type),
            brand=revealed.brand,
        )
    except ValueError:
        raise PayHubError("validation_error", param="cvv", detail="3 or 4 digits") from None
    row.status = "processing"
    _touch(row)
    await session.flush()
    await _emit(session, "payment.processing", row)

    order = channels.route(
        issuer=revealed.issuer_code,
        card_type=revealed.card_type,
        amount=row.amount,
        currency=row.currency,
    )
    if not order:
        await _fail(session, row, "card_not_permitted", "no channel takes this card")
        return row
    last: ChannelResult | None = None
    for channel_id in order:
        adapter = channels.get_channel(channel_id)
        request_id = new_id("req")
        result = await adapter.authorize(
            AuthorizeRequest(
                request_id=request_id,
                payment_id=row.id,
                merchant_id=row.merchant_id,
                amount=row.amount,
                currency=row.currency,
                card=card,
                scene=row.scene,
            )
        )
        await _attempt(
            session,
            row,
            kind="authorize",
            channel_id=channel_id,
            request_id=request_id,
            attempt_id=new_id("att"),
            result=result,
            amount=row.amount,
        )
        if result.status is ChannelStatus.APPROVED:
            await _authorized(session, row, channel_id, result)
            return row
        if not result.outcome_known:
            # The charge may exist: stay in processing until a query tells the truth.
            row.channel_id = channel_id
            _touch(row)
            await session.flush()
            return row
        last = result
        if result.decline_class is DeclineClass.HARD:
            break
    assert last is not None
    await _fail(session, row, last.error_code or "card_declined", last.raw_message)
    return row


async def resolve_processing(session: AsyncSession, *, limit: int = 100) -> int:
    """Settle payments left in `processing` by a timeout or a lost answer: ask the channel
    what became of the last authorisation request. Approved → continue as approved (hold or
    capture); declined or never received (`not_found`) → `failed`. A query that is itself
    unanswered leaves the payment for the next run. Returns how many were settled."""
    rows = (
        (
            await session.execute(
                select(Payment)
                .where(Payment.status == "processing")
                .order_by(Payment.id)
                .limit(limit)
                # Skip payments another transaction holds (a confirm still in flight, or
                # another worker's run): several workers may run this job at once.
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )
    settled = 0
    for row in rows:
        attempt = (
            await session.execute(
                select(PaymentAttempt)
                .where(PaymentAttempt.payment_id == row.id, PaymentAttempt.kind == "authorize")
                .order_by(PaymentAttempt.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        if attempt is None or attempt.status not in ("timeout", "lost"):
            continue
        adapter = channels.get_channel(attempt.channel_id)
        truth = await adapter.query(attempt.request_id)
        if not truth.outcome_known:
            continue
        _settle_attempt(attempt, truth)
        await session.flush()
        if truth.status is ChannelStatus.APPROVED:
            await _authorized(session, row, attempt.channel_id, truth)
        elif truth.status is ChannelStatus.NOT_FOUND:
            await _fail(session, row, "channel_timeout", "the channel never received the request")
        else:
            await _fail(session, row, truth.error_code or "card_declined", truth.raw_message)
        settled += 1
    return settled


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


async def _capture(session: AsyncSession, row: Payment, amount: int) -> None:
    assert row.channel_id is not None and row.authorization_ref is not None
    adapter = channels.get_channel(row.channel_id)
    request_id = new_id("req")
    result = await _follow_up(
        adapter, request_id, await adapter.capture(request_id, row.authorization_ref, amount)
    )
    attempt = await _attempt(
        session,
        row,
        kind="capture",
        channel_id=row.channel_id,
        request_id=request_id,
        attempt_id=new_id("att"),
        result=result,
        amount=amount,
    )
    if result.status is not ChannelStatus.APPROVED:
        # Nothing was captured (or, after an unanswered query, we cannot tell yet): refuse,
        # and the transaction rolls back so the payment stays capturable.
        raise PayHubError(result.error_code or "channel_error")
    row.amount_capturable -= amount
    row.amount_captured += amount
    first = row.status != "succeeded"
    row.status = "succeeded"
    _touch(row)
    await session.flush()
    await _post(session, row, capture_journal_id(attempt.id), amount, refund=False)
    if first:
        await _emit(session, "payment.succeeded", row)


async def capture_payment(
    session: AsyncSession, payment_id: str, merchant_id: str | None, amount: int | None = None
) -> Payment:
    """Capture all or part of what is still capturable; several captures may follow one
    another while the authorisation lasts."""
    row = await _payment_row(session, payment_id, merchant_id, lock=True)
    if row.status not in ("requires_capture", "succeeded") or row.amount_capturable == 0:
        raise _unexpected(row, "captured")
    if row.expires_at is not None and clock.now() >= row.expires_at:
        raise _unexpected(row, "captured after its authorisation expired")
    amount = row.amount_capturable if amount is None else check_amount(amount)
    if amount > row.amount_capturable:
        raise PayHubError(
            "capture_exceeds_authorized", param="amount", capturable=row.amount_capturable
        )
    await _capture(session, row, amount)
    return row


# ------------------------------------------------------------------------------------- cancel


async def cancel_payment(
    session: AsyncSession, payment_id: str, merchant_id: str | None
) -> Payment:
    """Cancel a payment before anything was captured; an authorisation is voided at its
    channel."""
    row = await _payment_row(session, payment_id, merchant_id, lock=True)
    if row.status == "requires_capture" and row.amount_captured == 0:
        assert row.channel_id is not None and row.authorization_ref is not None
        adapter = channels.get_channel(row.channel_id)
        request_id = new_id("req")
        result = await _follow_up(
            adapter, request_id, await adapter.void(request_id, row.authorization_ref)
        )
        await _attempt(
            session,
            row,
            kind="void",
            channel_id=row.channel_id,
            request_id=request_id,
            attempt_id=new_id("att"),
            result=result,
            amount=row.amount_capturable,
        )
        if result.status is not ChannelStatus.APPROVED:
            raise PayHubError(result.error_code or "channel_error")
    elif row.status != "requires_confirmation":
        raise _unexpected(row, "canceled")
    row.status = "canceled"
    row.amount_capturable = 0
    _touch(row)
    await session.flush()
    await _emit(session, "payment.canceled", row)
    return row


async def expire_authorizations(session: AsyncSession, *, limit: int = 100) -> int:
    """Release authorisations past `expires_at` (7 days by default): one never captured is
    voided at its channel and the payment canceled; the uncaptured rest of a partly
    captured one simply lapses (`amount_capturable` 0). Each payment is handled in a
    savepoint, so a channel that refuses the void leaves that one for the next run without
    undoing the others. Several workers may run it at once (SKIP LOCKED)."""
    rows = (
        (
            await session.execute(
                select(Payment)
                .where(
                    Payment.amount_capturable > 0,
                    Payment.expires_at.is_not(None),
                    Payment.expires_at <= clock.now(),
                    Payment.status.in_(("requires_capture", "succeeded")),
                )
                .order_by(Payment.expires_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )
    released = 0
    for row in rows:
        try:
            async with session.begin_nested():
                if row.status == "requires_capture" and row.amount_captured == 0:
                    await cancel_payment(session, row.id, None)
                else:
                    row.amount_capturable = 0
                    _touch(row)
                    await session.flush()
                    await _emit(session, "payment.authorization_expired", row)
            released += 1
        except PayHubError:
            continue
    return released


# ------------------------------------------------------------------------------------ refunds


async def create_refund(
    session: AsyncSession,
    *,
    payment_id: str,
    merchant_id: str | None,
    amount: int | None = None,
    reason: str | None = None,
) -> tuple[Refund, Payment]:
    """Refund all or part of what was captured and not yet refunded. A refund the channel
    declines is kept as `failed`."""
    row = await _payment_row(session, payment_id, merchant_id, lock=True)
    refundable = row.amount_captured - row.amount_refunded
    if row.amount_captured == 0:
        raise _unexpected(row, "refunded")
    amount = refundable if amount is None else check_amount(amount)
    if amount > refundable or amount == 0:
        raise PayHubError("refund_exceeds_captured", param="amount", refundable=refundable)
    assert row.channel_id is not None and row.authorization_ref is not None
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
    adapter = channels.get_channel(row.channel_id)
    request_id = new_id("req")
    result = await _follow_up(
        adapter, request_id, await adapter.refund(request_id, row.authorization_ref, amount)
    )
    await _attempt(
        session,
        row,
        kind="refund",
        channel_id=row.channel_id,
        request_id=request_id,
        attempt_id=new_id("att"),
        result=result,
        amount=amount,
        refund_id=refund.id,
    )
    if result.status is ChannelStatus.DECLINED:
        refund.status = "failed"
        refund.failure_code = result.error_code
        refund.updated_at = clock.now()
        await session.flush()
        return refund, row
    if result.status is not ChannelStatus.APPROVED:
        raise PayHubError(result.error_code or "channel_error")
    refund.status = "succeeded"
    refund.updated_at = clock.now()
    row.amount_refunded += amount
    _touch(row)
    await session.flush()
    await _post(session, row, refund_journal_id(refund.id), amount, refund=True)
    await _emit(session, "refund.succeeded", row, refund=refund_object(refund))
    return refund, row


async def get_refund(session: AsyncSession, refund_id: str, *, merchant_id: str | None) -> Refund:
    row = await session.get(Refund, refund_id) if is_id(refund_id, "re") else None
    if row is None or (merchant_id is not None and row.merchant_id != merchant_id):
        raise PayHubError("refund_not_found", refund=str(refund_id)[:40])
    return row


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
