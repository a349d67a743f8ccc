"""Payees and the payout state machine, one database transaction at a time.

A payout is two transactions with the rail's call between them, never inside one (as
`payhub.payments.service` does for card channels):
- `create_payouts` checks the request, reserves the money (a ledger hold on the merchant's
  available balance, which may not be overdrawn) and commits the payout `pending`;
- `start_send` screens the beneficiary, marks it `in_transit` with our request id and
  commits, before the rail hears of it;
- `record_answer` applies the rail's answer: `paid` (the hold posted to
  `payout:<rail>:in_transit`, then on to `bank:custody`), `failed` (the hold voided), or,
  for a timeout or a lost answer, still `in_transit` until the resolver's query tells.
A paid payout the bank sends back later becomes `returned`: its amount is credited back to
the merchant's available balance. States only move forward.

A payout on the `bank_file` rail (`BANK_FILE_RAIL`) is delivered in the partner bank's
credit transfer file instead of a rail call: no adapter hears of it, so the dispatcher, the
resolver and the return checks leave it alone; only the bank's status report answers it.

Steps never commit; callers run them in `Database.run_in_transaction`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.channels.base import BankAccount, ChannelResult, ChannelStatus, PayoutRequest
from payhub.core import clock
from payhub.core.clock import to_rfc3339
from payhub.core.errors import PayHubError
from payhub.core.ids import is_id, new_id
from payhub.core.money import check_amount, check_currency
from payhub.events import service as events
from payhub.ledger import service as ledger
from payhub.ledger.service import AccountSpec, JournalSpec, PostingSpec, Side
from payhub.merchants import service as merchants
from payhub.payments import channels
from payhub.risk.sanctions import screening
from payhub.settlement.payouts import rails
from payhub.settlement.payouts.config import PayoutConfig, get_config
from payhub.settlement.payouts.models import PAYEE_ROLES, Payee, Payout
from payhub.vault import service as vault
from payhub.vault.service import BANK_ACCOUNT_PREFIX

# Daily limits count the payee's day in China time (UTC+8, no daylight saving).
PAYOUT_DAY = timezone(timedelta(hours=8))
# Payouts whose amounts count against a daily limit.
_COUNTED = ("pending", "in_transit", "paid")
# The marker rail of payouts delivered in a bank file: no adapter, answered by a status report.
BANK_FILE_RAIL = "bank_file"
# The states a payout may move to from each state (forward only).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "pending": ("in_transit", "failed"),
    "in_transit": ("paid", "failed"),
    "paid": ("returned",),
    "failed": (),
    "returned": (),
}


# ------------------------------------------------------------------------------ accounts


def available_account(merchant_id: str, currency: str) -> AccountSpec:
    """What a merchant may withdraw: never overdrawn."""
    return AccountSpec(
        code=f"merchant:{merchant_id}:available",
        currency=currency,
        normal_side=Side.CREDIT,
        name=f"Available funds of {merchant_id}",
        owner=merchant_id,
        debits_must_not_exceed_credits=True,
    )


# Every payout touches its rail's in-transit account and the custody account (and every
# instant one the platform's fees): spread over shards on PostgreSQL, concurrent payouts
# do not queue on one balance row. (SQLite has one writer: shards would only add work.)
HOT_SHARDS = 64


def hot_shards(session: AsyncSession) -> int:
    return HOT_SHARDS if session.get_bind().dialect.name == "postgresql" else 1


def in_transit_account(rail: str, currency: str, shards: int = 1) -> AccountSpec:
    return AccountSpec(
        code=f"payout:{rail}:in_transit",
        currency=currency,
        normal_side=Side.CREDIT,
        name=f"Payouts sent on {rail}, not yet confirmed",
        shards=shards,
    )


def fees_account(currency: str, shards: int = 1) -> AccountSpec:
    return AccountSpec(
        code="platform:fees",
        currency=currency,
        normal_side=Side.CREDIT,
        name="Platform fees",
        shards=shards,
    )


def custody_account(currency: str, shards: int = 1) -> AccountSpec:
    return AccountSpec(
        code="bank:custody",
        currency=currency,
        normal_side=Side.DEBIT,
        name="Custody account at the partner bank",
        shards=shards,
    )


async def record(session: AsyncSession, spec: JournalSpec, accounts: list[AccountSpec]) -> None:
    """Post a journal, opening its accounts the first time one is missing."""
    try:
        await ledger.record_journal(session, spec)
    except PayHubError as error:
        if error.code != "account_not_found":
            raise
        await ledger.ensure_accounts(session, accounts)
        await ledger.record_journal(session, spec)


async def _hold(session: AsyncSession, spec: JournalSpec, accounts: list[AccountSpec]) -> None:
    """Reserve a payout's money (the hold is not read back), opening its accounts the first
    time one is missing."""
    (error,) = await ledger.create_holds(session, [spec])
    if error is not None and error.code == "account_not_found":
        await ledger.ensure_accounts(session, accounts)
        (error,) = await ledger.create_holds(session, [spec])
    if error is not None:
        raise error


# -------------------------------------------------------------------------------- objects


def _ts(moment: datetime | None) -> str | None:
    return to_rfc3339(moment) if moment is not None else None


def payee_object(row: Payee) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "payee",
        "merchant": row.merchant_id,
        "role": row.role,
        "bank_account": row.bank_account,
        "bank_code": row.bank_code,
        "holder_name": row.holder_name,
        "last4": row.last4,
        "status": row.status,
        "verified_by": row.verified_by,
        "verified_at": _ts(row.verified_at),
        "screening": row.screening,
        "screened_at": _ts(row.screened_at),
        "daily_limit": row.daily_limit,
        "split_cap": row.split_cap,
        "created_at": _ts(row.created_at),
        "updated_at": _ts(row.updated_at),
    }


def payout_object(row: Payout) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "payout",
        "merchant": row.merchant_id,
        "payee": row.payee_id,
        "amount": row.amount,
        "fee": row.fee,
        "currency": row.currency,
        "rail": row.rail,
        "instant": row.instant,
        "status": row.status,
        "request_id": row.request_id,
        "rail_ref": row.rail_ref,
        "failure_code": row.failure_code,
        "failure_message": row.failure_message,
        "group": row.group_id,
        "split_batch": row.split_batch_id,
        "not_before": _ts(row.not_before),
        "created_at": _ts(row.created_at),
        "updated_at": _ts(row.updated_at),
        "sent_at": _ts(row.sent_at),
        "paid_at": _ts(row.paid_at),
        "failed_at": _ts(row.failed_at),
        "returned_at": _ts(row.returned_at),
    }


async def _emit_payout(session: AsyncSession, type: str, row: Payout) -> None:
    await events.emit(session, type=type, merchant_id=row.merchant_id, data=payout_object(row))


def move(row: Payout, status: str, *, at: datetime | None = None) -> None:
    """The one place a payout changes state: forward only."""
    if status not in TRANSITIONS[row.status]:
        raise PayHubError(
            "payout_unexpected_state", payout=row.id, status=row.status, action=f"made {status}"
        )
    row.status = status
    row.updated_at = at or clock.now()


# --------------------------------------------------------------------------------- payees


async def _blocked(session: AsyncSession, payee: Payee, *, reason: str) -> bool:
    """Screen the beneficiary's name now; True while a hit is open or confirmed (a hit
    compliance cleared no longer blocks)."""
    view = await screening.screen_name(
        session,
        payee.holder_name,
        subject_id=payee.id,
        subject_type="payee",
        reason="payout" if reason == "payout" else "onboarding",
    )
    hit = any(h.status in ("open", "confirmed") for h in view.hits)
    payee.screening = "hit" if hit else "clear"
    payee.screening_id = view.id
    payee.screened_at = view.screened_at
    return hit


async def register_payee(
    session: AsyncSession,
    *,
    merchant_id: str,
    bank_account: str,
    role: str = "merchant",
    daily_limit: int | None = None,
    split_cap: int | None = None,
) -> Payee:
    """Bind one of the merchant's vault bank accounts as a payout destination, `unverified`.
    Its holder is screened against the sanctions lists at once; a hit is recorded on the
    payee (and raised for compliance) and blocks every payout until cleared."""
    if role not in PAYEE_ROLES:
        raise PayHubError("validation_error", param="role", detail=" or ".join(PAYEE_ROLES))
    for name, value in (("daily_limit", daily_limit), ("split_cap", split_cap)):
        if value is not None:
            check_amount(value, param=name)
    await merchants.require_active_merchant(session, merchant_id)
    account = await vault.get_bank_account(session, bank_account, merchant_id=merchant_id)
    existing = (
        await session.execute(
            select(Payee.id).where(
                Payee.merchant_id == merchant_id, Payee.bank_account == account.token
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        raise PayHubError("payee_exists", param="bank_account", payee=existing)
    now = clock.now()
    row = Payee(
        id=new_id("pye"),
        merchant_id=merchant_id,
        role=role,
        bank_account=account.token,
        bank_code=account.bank_code,
        holder_name=account.holder_name,
        last4=account.last4,
        status="unverified",
        verified_by=None,
        verified_at=None,
        screening="clear",
        screening_id=None,
        screened_at=None,
        daily_limit=daily_limit,
        split_cap=split_cap,
        created_at=now,
        updated_at=now,
    )
    await _blocked(session, row, reason="onboarding")
    session.add(row)
    await session.flush()
    await events.emit(
        session, type="payee.created", merchant_id=merchant_id, data=payee_object(row)
    )
    return row


async def get_payee(
    session: AsyncSession, payee_id: str, *, merchant_id: str | None, lock: bool = False
) -> Payee:
    """A payee the caller may see (`merchant_id` None: the operator)."""
    if not is_id(payee_id, "pye"):
        raise PayHubError("payee_not_found", payee=str(payee_id)[:40])
    query = select(Payee).where(Payee.id == payee_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    row = (await session.execute(query)).scalar_one_or_none()
    if row is None or (merchant_id is not None and row.merchant_id != merchant_id):
        raise PayHubError("payee_not_found", payee=payee_id)
    return row


def new_payout(
    *,
    payout_id: str,
    merchant_id: str,
    payee_id: str,
    amount: int,
    fee: int,
    currency: str,
    rail: str,
    instant: bool,
    group_id: str | None,
    split_batch_id: str | None,
    not_before: datetime,
    now: datetime,
) -> Payout:
    """A payout row as made, `pending` with our request id and its hold's id."""
    return Payout(
        id=payout_id,
        merchant_id=merchant_id,
        payee_id=payee_id,
        amount=amount,
        fee=fee,
        currency=currency,
        rail=rail,
        instant=instant,
        status="pending",
        request_id=new_id("req"),
        hold_id=f"{payout_id}:hold",
        rail_ref=None,
        last_answer=None,
        raw_code=None,
        failure_code=None,
        failure_message=None,
        group_id=group_id,
        split_batch_id=split_batch_id,
        not_before=not_before,
        created_at=now,
        updated_at=now,
        sent_at=None,
        paid_at=None,
        failed_at=None,
        returned_at=None,
        return_checked_at=None,
    )


async def payees_bound_at(session: AsyncSession, payee_ids: list[str]) -> dict[str, datetime]:
    """When each of these payees was bound, in one read (a split batch's receivers)."""
    bound: dict[str, datetime] = {}
    unique = sorted(set(payee_ids))
    for start in range(0, len(unique), 1000):  # under every server's bound-parameter cap
        query = select(Payee.id, Payee.created_at).where(Payee.id.in_(unique[start : start + 1000]))
        bound.update({row.id: row.created_at for row in await session.execute(query)})
    return bound


async def list_payees(
    session: AsyncSession,
    *,
    merchant_id: str | None,
    limit: int,
    starting_after: str | None = None,
) -> tuple[list[Payee], bool]:
    query = select(Payee).order_by(Payee.created_at.desc(), Payee.id.desc()).limit(limit + 1)
    if merchant_id is not None:
        query = query.where(Payee.merchant_id == merchant_id)
    if starting_after is not None:
        anchor = await get_payee(session, starting_after, merchant_id=merchant_id)
        query = query.where(
            tuple_(Payee.created_at, Payee.id) < tuple_(anchor.created_at, anchor.id)
        )
    rows = list((await session.execute(query)).scalars().all())
    return rows[:limit], len(rows) > limit


async def mark_verified(session: AsyncSession, payee_id: str, *, by: str) -> Payee:
    """`unverified` → `verified` (an operator's check, or a penny drop that arrived)."""
    row = await get_payee(session, payee_id, merchant_id=None, lock=True)
    if row.screening == "hit" and await _blocked(session, row, reason="onboarding"):
        raise PayHubError("payee_sanctions_hit", payee=row.id)
    if row.status == "verified":
        return row
    row.status, row.verified_by = "verified", by
    row.verified_at = row.updated_at = clock.now()
    await session.flush()
    await events.emit(
        session, type="payee.verified", merchant_id=row.merchant_id, data=payee_object(row)
    )
    return row


async def payee_by_destination(
    session: AsyncSession, destination: str, merchant_id: str, *, lock: bool = False
) -> Payee:
    """The merchant's payee named by its id or by its bank account's vault token."""
    if isinstance(destination, str) and destination.startswith(BANK_ACCOUNT_PREFIX + "_"):
        await vault.get_bank_account(session, destination, merchant_id=merchant_id)
        query = select(Payee).where(
            Payee.merchant_id == merchant_id, Payee.bank_account == destination
        )
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        row = (await session.execute(query)).scalar_one_or_none()
        if row is None:
            raise PayHubError("payee_not_found", param="destination", payee=destination)
        return row
    try:
        return await get_payee(session, destination, merchant_id=merchant_id, lock=lock)
    except PayHubError as error:
        error.param = "destination"
        raise


# -------------------------------------------------------------------------------- payouts


def instant_fee(amount: int, config: PayoutConfig) -> int:
    """The instant fee: basis points of the amount (rounded half-even) plus the fixed part."""
    quotient, remainder = divmod(amount * config.instant_fee_bps, 10_000)
    if remainder * 2 > 10_000 or (remainder * 2 == 10_000 and quotient % 2 == 1):
        quotient += 1
    return quotient + config.instant_fee_fixed


async def _check_daily_limit(
    session: AsyncSession, payee: Payee, amount: int, config: PayoutConfig
) -> None:
    limit = payee.daily_limit if payee.daily_limit is not None else config.daily_limit
    if limit is None:
        return
    local = clock.now().astimezone(PAYOUT_DAY)
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    used = int(
        (
            await session.execute(
                select(func.coalesce(func.sum(Payout.amount), 0)).where(
                    Payout.payee_id == payee.id,
                    Payout.created_at >= day_start,
                    Payout.status.in_(_COUNTED),
                    Payout.split_batch_id.is_(None),
                )
            )
        ).scalar_one()
    )
    if used + amount > limit:
        raise PayHubError("payout_daily_limit_exceeded", param="amount", limit=limit, used=used)


@dataclass(frozen=True, slots=True)
class PayoutOrder:
    """What a withdrawal asks for."""

    merchant_id: str
    amount: int
    currency: str
    destination: str  # a payee id, or the vault token of the payee's bank account
    rail: str | None = None
    instant: bool = False
    split_batch_id: str | None = None


async def create_payouts(
    session: AsyncSession, order: PayoutOrder, *, config: PayoutConfig | None = None
) -> list[Payout]:
    """Check and reserve a withdrawal; commit it as one or more `pending` payouts (several
    when a large amount is split over the real-time rail). Nothing is written when a check
    or the reservation fails (`insufficient_funds`: the available balance is short)."""
    _, made = await _create(session, order, config or get_config())
    return made


async def create_and_start(
    session: AsyncSession, order: PayoutOrder, *, config: PayoutConfig | None = None
) -> tuple[list[Payout], list[RailCall]]:
    """An instant withdrawal's first transaction: `create_payouts`, then each payout due now
    screened and marked `in_transit` as `start_send` would, in the same transaction (the
    caller commits before any rail hears of it). The payouts and what to send."""
    payee, made = await _create(session, order, config or get_config())
    calls = []
    for row in made:
        if row.not_before <= clock.now():
            call = await _start(session, row, payee)
            if call is not None:
                calls.append(call)
    return made, calls


async def _create(
    session: AsyncSession, order: PayoutOrder, config: PayoutConfig
) -> tuple[Payee, list[Payout]]:
    amount = check_amount(order.amount)
    currency = check_currency(order.currency)
    if order.split_batch_id is None:
        await merchants.require_active_merchant(session, order.merchant_id)
    # The payee's lock orders concurrent withdrawals to it (daily limits count them all).
    payee = await payee_by_destination(session, order.destination, order.merchant_id, lock=True)
    if payee.status != "verified":
        raise PayHubError("payee_not_verified", param="destination", payee=payee.id)
    if payee.screening == "hit":
        raise PayHubError("payee_sanctions_hit", param="destination", payee=payee.id)
    if order.split_batch_id is None:
        await _check_daily_limit(session, payee, amount, config)
    now = clock.now()
    infos = {cid: adapter.info for cid, adapter in channels.get_channels().items()}
    plan = rails.plan(
        infos,
        config,
        bank=payee.bank_code,
        amount=amount,
        currency=currency,
        at=now,
        rail=order.rail,
        instant=order.instant,
    )
    group = new_id("pog") if len(plan.parts) > 1 else None
    made = []
    for rail, part in plan.parts:
        fee = instant_fee(part, config) if order.instant else 0
        payout_id = new_id("po")
        row = new_payout(
            payout_id=payout_id,
            merchant_id=order.merchant_id,
            payee_id=payee.id,
            amount=part,
            fee=fee,
            currency=currency,
            rail=rail,
            instant=order.instant,
            group_id=group,
            split_batch_id=order.split_batch_id,
            not_before=plan.not_before,
            now=now,
        )
        available = available_account(order.merchant_id, currency)
        in_transit = in_transit_account(rail, currency, hot_shards(session))
        postings = [
            PostingSpec(available.code, Side.DEBIT, part + fee, currency),
            PostingSpec(in_transit.code, Side.CREDIT, part, currency),
        ]
        if fee:
            postings.append(PostingSpec("platform:fees", Side.CREDIT, fee, currency))
        spec = JournalSpec(
            id=row.hold_id,
            postings=tuple(postings),
            description=f"Payout {payout_id}",
            metadata={"payout": payout_id},
        )
        fees = fees_account(currency, hot_shards(session))
        await _hold(session, spec, [available, in_transit, fees])
        session.add(row)
        made.append(row)
    await session.flush()
    for row in made:
        await _emit_payout(session, "payout.created", row)
    return payee, made


async def get_payout(
    session: AsyncSession, payout_id: str, *, merchant_id: str | None, lock: bool = False
) -> Payout:
    if not is_id(payout_id, "po"):
        raise PayHubError("payout_not_found", payout=str(payout_id)[:40])
    query = select(Payout).where(Payout.id == payout_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    row = (await session.execute(query)).scalar_one_or_none()
    if row is None or (merchant_id is not None and row.merchant_id != merchant_id):
        raise PayHubError("payout_not_found", payout=payout_id)
    return row


@dataclass(frozen=True, slots=True)
class PayoutFilter:
    merchant_id: str | None = None
    status: str | None = None
    payee_id: str | None = None
    group_id: str | None = None
    split_batch_id: str | None = None


async def list_payouts(
    session: AsyncSession, filters: PayoutFilter, *, limit: int, starting_after: str | None = None
) -> tuple[list[Payout], bool]:
    """Newest first."""
    query = select(Payout).order_by(Payout.created_at.desc(), Payout.id.desc()).limit(limit + 1)
    for column, value in (
        (Payout.merchant_id, filters.merchant_id),
        (Payout.status, filters.status),
        (Payout.payee_id, filters.payee_id),
        (Payout.group_id, filters.group_id),
        (Payout.split_batch_id, filters.split_batch_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if starting_after is not None:
        anchor = await get_payout(session, starting_after, merchant_id=filters.merchant_id)
        query = query.where(
            tuple_(Payout.created_at, Payout.id) < tuple_(anchor.created_at, anchor.id)
        )
    rows = list((await session.execute(query)).scalars().all())
    return rows[:limit], len(rows) > limit


# ------------------------------------------------------------------------ sending, answers


@dataclass(frozen=True, slots=True)
class RailCall:
    """A payout committed `in_transit`: what to send to its rail."""

    payout_id: str
    rail: str
    request: PayoutRequest


def rail_request(row: Payout, account: vault.RevealedBankAccount) -> PayoutRequest:
    return PayoutRequest(
        request_id=row.request_id,
        payout_id=row.id,
        merchant_id=row.merchant_id,
        amount=row.amount,
        currency=row.currency,
        account=BankAccount(
            bank_code=account.bank_code,
            account_number=account.account_number,
            account_name=account.holder_name,
        ),
    )


async def _fail(session: AsyncSession, row: Payout, code: str, message: str | None) -> None:
    move(row, "failed")
    row.failure_code, row.failure_message = code, (message or "")[:300] or None
    row.failed_at = row.updated_at
    await ledger.void_hold(session, row.hold_id)
    await session.flush()
    await _emit_payout(session, "payout.failed", row)


async def start_send(session: AsyncSession, payout_id: str) -> RailCall | None:
    """Commit-before-call: screen the beneficiary again, then mark the payout `in_transit`.
    None when there is nothing to send (not pending, not due yet, or blocked by a hit, in
    which case the payout fails with `payee_sanctions_hit` and its hold is released)."""
    row = await get_payout(session, payout_id, merchant_id=None, lock=True)
    if row.status != "pending" or row.not_before > clock.now():
        return None
    payee = await get_payee(session, row.payee_id, merchant_id=None)
    return await _start(session, row, payee)


async def _start(session: AsyncSession, row: Payout, payee: Payee) -> RailCall | None:
    if await _blocked(session, payee, reason="payout"):
        await _fail(session, row, "payee_sanctions_hit", "the beneficiary matches a watch list")
        return None
    account = await vault.reveal_bank_account(session, payee.bank_account)
    move(row, "in_transit")
    row.sent_at = row.updated_at
    await session.flush()
    await _emit_payout(session, "payout.in_transit", row)
    return RailCall(row.id, row.rail, rail_request(row, account))


async def _paid(session: AsyncSession, row: Payout, result: ChannelResult) -> None:
    move(row, "paid")
    row.paid_at = row.updated_at
    row.rail_ref = result.channel_ref
    await ledger.post_hold(session, row.hold_id, journal_id=f"{row.id}:paid")
    # The rail confirmed the transfer: the money left the custody account.
    await record(
        session,
        JournalSpec(
            id=f"{row.id}:sent",
            postings=(
                PostingSpec(f"payout:{row.rail}:in_transit", Side.DEBIT, row.amount, row.currency),
                PostingSpec("bank:custody", Side.CREDIT, row.amount, row.currency),
            ),
            description=f"Payout {row.id} confirmed by {row.rail}",
            metadata={"payout": row.id},
        ),
        [custody_account(row.currency, hot_shards(session))],
    )
    await session.flush()
    await _emit_payout(session, "payout.paid", row)


async def record_answer(
    session: AsyncSession, payout_id: str, result: ChannelResult, *, by_query: bool = False
) -> Payout:
    """Apply the rail's answer to an `in_transit` payout. An answer for a payout that is no
    longer in transit (another process settled it) changes nothing; an unknown outcome
    keeps it in transit for the resolver. `not_found` (only a query says it) means the
    rail never acted: the payout fails."""
    row = await get_payout(session, payout_id, merchant_id=None, lock=True)
    if row.status != "in_transit":
        return row
    row.raw_code = result.raw_code
    if not result.outcome_known:
        row.last_answer = result.status.value
        row.updated_at = clock.now()
        await session.flush()
        return row
    row.last_answer = result.status.value
    if result.status is ChannelStatus.APPROVED:
        await _paid(session, row, result)
    elif result.status is ChannelStatus.NOT_FOUND:
        await _fail(session, row, "channel_timeout", "the rail has no record of the payout")
    elif result.raw_code == "RT":
        # Paid, then sent back before we heard of it: both steps, in order.
        await _paid(session, row, result)
        await _returned(session, row)
    else:
        await _fail(session, row, result.error_code or "channel_error", result.raw_message)
    return row


async def _returned(session: AsyncSession, row: Payout) -> None:
    move(row, "returned")
    row.returned_at = row.updated_at
    row.failure_code, row.failure_message = "payout_returned", "returned by the beneficiary bank"
    await record(
        session,
        JournalSpec(
            id=f"{row.id}:returned",
            postings=(
                PostingSpec("bank:custody", Side.DEBIT, row.amount, row.currency),
                PostingSpec(
                    f"merchant:{row.merchant_id}:available", Side.CREDIT, row.amount, row.currency
                ),
            ),
            description=f"Payout {row.id} returned by the beneficiary bank",
            metadata={"payout": row.id},
        ),
        [
            custody_account(row.currency, hot_shards(session)),
            available_account(row.merchant_id, row.currency),
        ],
    )
    await session.flush()
    await _emit_payout(session, "payout.returned", row)


async def record_return_check(
    session: AsyncSession, payout_id: str, result: ChannelResult
) -> Payout:
    """A later query about a `paid` payout: `RT` makes it `returned` (the amount credited
    back to the merchant's available balance; the instant fee is kept)."""
    row = await get_payout(session, payout_id, merchant_id=None, lock=True)
    if row.status != "paid":
        return row
    row.return_checked_at = clock.now()
    if result.status is ChannelStatus.DECLINED and result.raw_code == "RT":
        await _returned(session, row)
    await session.flush()
    return row


# ------------------------------------------------------------------------------- the jobs


async def due_payouts(session: AsyncSession, *, limit: int) -> list[str]:
    """Pending payouts whose time has come, oldest first."""
    query = (
        select(Payout.id)
        .where(
            Payout.status == "pending",
            Payout.not_before <= clock.now(),
            Payout.rail != BANK_FILE_RAIL,
        )
        .order_by(Payout.not_before, Payout.id)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars().all())


async def unresolved_payouts(
    session: AsyncSession, *, grace: timedelta, limit: int
) -> list[tuple[str, str, str]]:
    """(payout, rail, request id) of payouts in transit whose answer was lost, timed out, or
    never recorded (sent longer ago than any rail takes). A bank-file payout is no rail's
    to answer: its status report does (`overdue_file_payouts` lists the late ones)."""
    query = (
        select(Payout.id, Payout.rail, Payout.request_id)
        .where(
            Payout.status == "in_transit",
            Payout.rail != BANK_FILE_RAIL,
            or_(
                Payout.last_answer.in_(("timeout", "lost")),
                Payout.sent_at <= clock.now() - grace,
            ),
        )
        .order_by(Payout.sent_at, Payout.id)
        .limit(limit)
    )
    return [(r[0], r[1], r[2]) for r in (await session.execute(query)).all()]


async def return_candidates(
    session: AsyncSession, *, window: timedelta, every: timedelta, limit: int
) -> list[tuple[str, str, str]]:
    """Paid payouts still inside the return window, not asked about for `every`."""
    now = clock.now()
    query = (
        select(Payout.id, Payout.rail, Payout.request_id)
        .where(
            Payout.status == "paid",
            Payout.rail != BANK_FILE_RAIL,
            Payout.paid_at >= now - window,
            or_(Payout.return_checked_at.is_(None), Payout.return_checked_at <= now - every),
        )
        .order_by(Payout.paid_at, Payout.id)
        .limit(limit)
    )
    return [(r[0], r[1], r[2]) for r in (await session.execute(query)).all()]


async def overdue_file_payouts(
    session: AsyncSession, *, sent_before: datetime, limit: int
) -> list[Payout]:
    """Bank-file payouts still in transit that were put in a file before `sent_before`:
    the bank owes their status report. Listed for an operator to chase, never failed here
    (the bank may still have paid them)."""
    query = (
        select(Payout)
        .where(
            Payout.status == "in_transit",
            Payout.rail == BANK_FILE_RAIL,
            Payout.sent_at < sent_before,
        )
        .order_by(Payout.sent_at, Payout.id)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars().all())
