"""Split batches: a group leader's one instruction for a round, checked, booked at once.

A batch covers captured payments of the leader's own merchant (listed, or tagged with the
round in their metadata). Their net collected — captured, less refunded, less the fees
booked on them — bounds what the batch may give away: every receiver's line (an amount or
a share of the net in basis points), the platform's commission and the leader's.

Every check runs before anything is written; on any failure nothing is. Then one atomic
booking moves the money: the leader's available balance is debited, every receiver's
available balance and `platform:fees` credited (the leader's commission simply stays with
the leader). The ledger takes at most `MAX_POSTINGS` lines per journal, so a large batch
is a chain of linked journals posted in the same transaction: all of them or none.
Payouts to the receivers' bank accounts follow (`payhub.splits.runner`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.channels.base import ChannelResult
from payhub.core import clock
from payhub.core.clock import to_rfc3339
from payhub.core.errors import PayHubError
from payhub.core.ids import is_id, new_id
from payhub.core.money import check_currency
from payhub.db.sql import Sql, as_sql, table_of
from payhub.events import service as events
from payhub.ledger import service as ledger
from payhub.ledger.service import MAX_POSTINGS, JournalSpec, PostingSpec, Side
from payhub.merchants import service as merchants
from payhub.payments import service as payments
from payhub.settlement.payouts import bulk
from payhub.settlement.payouts import service as payouts
from payhub.settlement.payouts.models import Payee, Payout
from payhub.splits.models import CLAWBACK_MODES, DELIVERIES, SplitBatch, SplitCover, SplitLine

# The most receivers and payments one batch may name.
MAX_LINES = 20_000
MAX_PAYMENTS = 10_000
BPS = 10_000
# Receivers per journal of the chain: the rest of its lines are the leader's debit and the
# platform's commission.
_PER_JOURNAL = MAX_POSTINGS - 2


@dataclass(frozen=True, slots=True)
class LineIn:
    receiver: str  # a payee id
    amount: int | None = None
    share_bps: int | None = None


@dataclass(frozen=True, slots=True)
class Cut:
    """A commission: a fixed amount, or a share of the net collected."""

    amount: int | None = None
    bps: int | None = None


@dataclass(frozen=True, slots=True)
class BatchOrder:
    merchant_id: str
    currency: str
    lines: Sequence[LineIn]
    payments: Sequence[str] = ()
    round: str | None = None
    platform_commission: Cut = Cut()
    leader_commission: Cut = Cut()
    clawback: str = "proportional"
    delivery: str = "rails"


def _share(net: int, bps: int) -> int:
    """A share of the net, rounded down: rounding never gives away more than was collected."""
    return net * bps // BPS


def _cut(cut: Cut, net: int, param: str) -> int:
    if cut.amount is not None and cut.bps is not None:
        raise PayHubError("validation_error", param=param, detail="an amount or bps, not both")
    if cut.amount is not None:
        if isinstance(cut.amount, bool) or not isinstance(cut.amount, int) or cut.amount < 0:
            raise PayHubError("validation_error", param=param, detail="a non-negative amount")
        return cut.amount
    if cut.bps is not None:
        if isinstance(cut.bps, bool) or not isinstance(cut.bps, int) or not 0 <= cut.bps <= BPS:
            raise PayHubError("validation_error", param=param, detail="bps from 0 to 10000")
        return _share(net, cut.bps)
    return 0


async def _fees_booked(session: AsyncSession, payment_id: str, merchant_id: str) -> int:
    """What the payment's journals credited to the platform's fees (net of refunds)."""
    total = 0
    for journal in await payments.list_journals(session, payment_id, merchant_id=merchant_id):
        for entry in journal.postings:
            if entry.account_code == "platform:fees":
                total += entry.amount if entry.side is Side.CREDIT else -entry.amount
    return total


async def _covered_payments(
    session: AsyncSession, order: BatchOrder, currency: str
) -> list[tuple[str, int]]:
    """(payment, net) of every payment the batch covers, checked."""
    if bool(order.payments) == (order.round is not None):
        raise PayHubError("validation_error", param="payments", detail="payments or a round")
    if len(order.payments) > MAX_PAYMENTS:
        raise PayHubError("validation_error", param="payments", detail=f"at most {MAX_PAYMENTS}")
    if order.round is not None:
        rows = []
        after: str | None = None
        filters = payments.PaymentFilter(merchant_id=order.merchant_id, status="succeeded")
        while True:
            page, more = await payments.list_payments(
                session, filters, limit=500, starting_after=after
            )
            rows += [r for r in page if r.metadata.get("round") == order.round]
            if not more or not page:
                break
            after = page[-1].id
        if not rows:
            raise PayHubError(
                "split_payment_invalid", param="round", payment=order.round, detail="none"
            )
    else:
        if len(set(order.payments)) != len(order.payments):
            raise PayHubError(
                "split_payment_invalid", param="payments", payment="", detail="listed twice"
            )
        rows = []
        for payment_id in order.payments:
            # Another merchant's payment is `payment_not_found`, exactly like a missing one.
            try:
                found = await payments.get_payment(
                    session, payment_id, merchant_id=order.merchant_id
                )
            except PayHubError as error:
                error.param = "payments"
                raise
            rows.append(found)
    ids = [r.id for r in rows]
    taken = set()
    for start in range(0, len(ids), 500):
        taken |= set(
            (
                await session.execute(
                    select(SplitCover.payment_id).where(
                        SplitCover.payment_id.in_(ids[start : start + 500])
                    )
                )
            ).scalars()
        )
    covered = []
    for row in rows:
        if row.id in taken:
            raise PayHubError(
                "split_payment_invalid", param="payments", payment=row.id, detail="already split"
            )
        if row.currency != currency:
            raise PayHubError(
                "split_payment_invalid", param="currency", payment=row.id, detail="other currency"
            )
        if row.amount_captured == 0:
            raise PayHubError(
                "split_payment_invalid", param="payments", payment=row.id, detail="not captured"
            )
        fees = await _fees_booked(session, row.id, order.merchant_id)
        covered.append((row.id, row.amount_captured - row.amount_refunded - fees))
    return covered


async def _receivers(session: AsyncSession, ids: list[str]) -> dict[str, Payee]:
    found: dict[str, Payee] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = (await session.execute(select(Payee).where(Payee.id.in_(chunk)))).scalars()
        found |= {r.id: r for r in rows}
    return found


async def _is_leader(session: AsyncSession, merchant_id: str) -> bool:
    query = select(Payee.id).where(Payee.merchant_id == merchant_id, Payee.role == "group_leader")
    return (await session.execute(query.limit(1))).scalar_one_or_none() is not None


@dataclass(frozen=True, slots=True)
class Priced:
    """A checked line and what it gives."""

    payee: Payee
    amount: int
    share_bps: int | None


def price_lines(
    lines: Sequence[LineIn], receivers: dict[str, Payee], *, net: int, leader: str
) -> list[Priced]:
    """Check every line against its payee and price it; raises on the first bad one."""
    if not lines:
        raise PayHubError("validation_error", param="lines", detail="at least one receiver")
    if len(lines) > MAX_LINES:
        raise PayHubError("validation_error", param="lines", detail=f"at most {MAX_LINES}")
    seen: set[str] = set()
    priced = []
    for i, line in enumerate(lines):
        param = f"lines[{i}]"
        receiver = str(line.receiver)[:40]
        if line.receiver in seen:
            raise PayHubError(
                "split_receiver_invalid", param=param, receiver=receiver, detail="listed twice"
            )
        seen.add(line.receiver)
        payee = receivers.get(line.receiver)
        if payee is None:
            raise PayHubError(
                "split_receiver_invalid", param=param, receiver=receiver, detail="no such payee"
            )
        if payee.merchant_id == leader:
            raise PayHubError(
                "split_receiver_invalid",
                param=param,
                receiver=receiver,
                detail="the leader's own share is its commission",
            )
        if payee.status != "verified" or payee.screening == "hit":
            raise PayHubError(
                "split_receiver_invalid", param=param, receiver=receiver, detail="not verified"
            )
        if (line.amount is None) == (line.share_bps is None):
            raise PayHubError(
                "validation_error", param=param, detail="an amount or a share_bps, not both"
            )
        if line.share_bps is not None:
            if not 0 < line.share_bps <= BPS:
                raise PayHubError("validation_error", param=param, detail="share_bps 1 to 10000")
            amount = _share(net, line.share_bps)
        else:
            assert line.amount is not None
            amount = line.amount
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise PayHubError(
                "split_receiver_invalid", param=param, receiver=receiver, detail="nothing to give"
            )
        if payee.split_cap is not None and amount > payee.split_cap:
            raise PayHubError(
                "split_receiver_cap_exceeded",
                param=param,
                receiver=receiver,
                amount=amount,
                cap=payee.split_cap,
            )
        priced.append(Priced(payee, amount, line.share_bps))
    return priced


def plan_batch(
    order: BatchOrder, receivers: dict[str, Payee], net: int
) -> tuple[list[Priced], int, int]:
    """The priced lines and the two commissions, never more in all than `net`."""
    priced = price_lines(order.lines, receivers, net=net, leader=order.merchant_id)
    platform = _cut(order.platform_commission, net, "platform_commission")
    leader_cut = _cut(order.leader_commission, net, "leader_commission")
    total = sum(p.amount for p in priced) + platform + leader_cut
    if total > net:
        raise PayHubError("split_over_distribution", param="lines", distributed=total, net=net)
    return priced, platform, leader_cut


def booking(
    batch_id: str,
    leader: str,
    currency: str,
    priced: list[Priced],
    platform: int,
) -> list[JournalSpec]:
    """The batch's linked chain of journals: each debits the leader for what it credits."""
    specs = []
    chunks = [priced[i : i + _PER_JOURNAL] for i in range(0, len(priced), _PER_JOURNAL)]
    for n, chunk in enumerate(chunks):
        fee = platform if n == 0 else 0
        postings = [
            PostingSpec(
                f"merchant:{leader}:available",
                Side.DEBIT,
                sum(p.amount for p in chunk) + fee,
                currency,
            )
        ]
        postings += [
            PostingSpec(
                f"merchant:{p.payee.merchant_id}:available", Side.CREDIT, p.amount, currency
            )
            for p in chunk
        ]
        if fee:
            postings.append(PostingSpec("platform:fees", Side.CREDIT, fee, currency))
        specs.append(
            JournalSpec(
                id=f"{batch_id}:{n}",
                postings=tuple(postings),
                description=f"Split batch {batch_id} ({n + 1} of {len(chunks)})",
                metadata={"split_batch": batch_id},
                linked=n < len(chunks) - 1,
            )
        )
    return specs


async def _post_chain(session: AsyncSession, specs: list[JournalSpec]) -> None:
    """Post the chain; a refusal (the leader's balance is short) refuses all of it."""
    errors = [o.error for o in await ledger.post_journals(session, specs) if o.error]
    if errors:
        raise next((e for e in errors if e.code != "linked_journal_failed"), errors[0])


async def create_batch(session: AsyncSession, order: BatchOrder) -> SplitBatch:
    """Check the whole instruction, then book it at once. Nothing is written on a failure:
    not a payment it covers, a receiver it names, or a single ledger line."""
    currency = check_currency(order.currency)
    if order.clawback not in CLAWBACK_MODES:
        raise PayHubError("validation_error", param="clawback", detail=" or ".join(CLAWBACK_MODES))
    if order.delivery not in DELIVERIES:
        raise PayHubError("validation_error", param="delivery", detail=" or ".join(DELIVERIES))
    if order.round is not None and not 1 <= len(order.round) <= 64:
        raise PayHubError("validation_error", param="round", detail="1 to 64 characters")
    await merchants.require_active_merchant(session, order.merchant_id)
    if not await _is_leader(session, order.merchant_id):
        raise PayHubError("split_not_group_leader", merchant=order.merchant_id)
    covered = await _covered_payments(session, order, currency)
    net = sum(n for _, n in covered)
    receivers = await _receivers(session, [str(line.receiver) for line in order.lines])
    priced, platform, leader_cut = plan_batch(order, receivers, net)
    distributed = sum(p.amount for p in priced)

    now = clock.now()
    batch_id = new_id("spb")
    batch = SplitBatch(
        id=batch_id,
        merchant_id=order.merchant_id,
        currency=currency,
        round=order.round,
        net_collected=net,
        distributed=distributed,
        platform_commission=platform,
        leader_commission=leader_cut,
        clawback=order.clawback,
        clawed_back=0,
        delivery=order.delivery,
        journal_id=f"{batch_id}:0",
        created_at=now,
        updated_at=now,
    )
    specs = booking(batch.id, order.merchant_id, currency, priced, platform)
    accounts = [payouts.available_account(order.merchant_id, currency)]
    accounts += [
        payouts.available_account(m, currency)
        for m in dict.fromkeys(p.payee.merchant_id for p in priced)
    ]
    if platform:
        accounts.append(payouts.fees_account(currency, payouts.hot_shards(session)))
    await ledger.ensure_accounts(session, accounts)
    await _post_chain(session, specs)
    session.add(batch)
    await session.flush()
    # Thousands of lines: Core inserts, without an ORM object each.
    await session.execute(
        insert(_LINES),
        [
            {
                "id": new_id("spl"),
                "batch_id": batch.id,
                "position": i,
                "payee_id": p.payee.id,
                "receiver_merchant_id": p.payee.merchant_id,
                "amount": p.amount,
                "share_bps": p.share_bps,
                "status": "pending",
                "payout_id": None,
                "failure_code": None,
                "attempts": 0,
                "clawed_back": 0,
                "clawback_outstanding": 0,
                "updated_at": now,
            }
            for i, p in enumerate(priced)
        ],
    )
    await session.execute(
        insert(table_of(SplitCover)),
        [{"payment_id": p, "batch_id": batch.id, "net": n} for p, n in covered],
    )
    await events.emit(
        session,
        type="split_batch.created",
        merchant_id=order.merchant_id,
        data=batch_object(batch, summarize([])),
    )
    return batch


# ------------------------------------------------------------------------------ reading


def _ts(moment: Any) -> str | None:
    return to_rfc3339(moment) if moment is not None else None


def summarize(lines: Sequence[SplitLine]) -> dict[str, int]:
    counts = {"pending": 0, "paid": 0, "failed": 0}
    for line in lines:
        counts[line.status] += 1
    return counts


def batch_status(counts: dict[str, int]) -> str:
    """`processing` while any line is pending; then `paid`, or `partially_failed`."""
    if counts["pending"]:
        return "processing"
    return "partially_failed" if counts["failed"] else "paid"


def batch_object(batch: SplitBatch, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "id": batch.id,
        "object": "split_batch",
        "merchant": batch.merchant_id,
        "currency": batch.currency,
        "round": batch.round,
        "status": batch_status(counts),
        "net_collected": batch.net_collected,
        "distributed": batch.distributed,
        "platform_commission": batch.platform_commission,
        "leader_commission": batch.leader_commission,
        "clawback": batch.clawback,
        "clawed_back": batch.clawed_back,
        "delivery": batch.delivery,
        "lines_total": sum(counts.values()),
        "lines_pending": counts["pending"],
        "lines_paid": counts["paid"],
        "lines_failed": counts["failed"],
        "created_at": _ts(batch.created_at),
        "updated_at": _ts(batch.updated_at),
    }


def line_object(line: SplitLine) -> dict[str, Any]:
    return {
        "id": line.id,
        "object": "split_line",
        "receiver": line.payee_id,
        "receiver_merchant": line.receiver_merchant_id,
        "amount": line.amount,
        "share_bps": line.share_bps,
        "status": line.status,
        "payout": line.payout_id,
        "failure_code": line.failure_code,
        "attempts": line.attempts,
        "clawed_back": line.clawed_back,
        "clawback_outstanding": line.clawback_outstanding,
    }


async def get_batch(
    session: AsyncSession, batch_id: str, *, merchant_id: str | None, lock: bool = False
) -> SplitBatch:
    if not is_id(batch_id, "spb"):
        raise PayHubError("split_batch_not_found", batch=str(batch_id)[:40])
    query = select(SplitBatch).where(SplitBatch.id == batch_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    row = (await session.execute(query)).scalar_one_or_none()
    if row is None or (merchant_id is not None and row.merchant_id != merchant_id):
        raise PayHubError("split_batch_not_found", batch=batch_id)
    return row


async def get_lines(session: AsyncSession, batch_id: str) -> list[SplitLine]:
    query = select(SplitLine).where(SplitLine.batch_id == batch_id).order_by(SplitLine.position)
    return list((await session.execute(query)).scalars().all())


async def list_batches(
    session: AsyncSession, *, merchant_id: str | None, limit: int, starting_after: str | None
) -> tuple[list[SplitBatch], bool]:
    query = select(SplitBatch).order_by(SplitBatch.id.desc()).limit(limit + 1)
    if merchant_id is not None:
        query = query.where(SplitBatch.merchant_id == merchant_id)
    if starting_after is not None:
        query = query.where(SplitBatch.id < starting_after)
    rows = list((await session.execute(query)).scalars().all())
    return rows[:limit], len(rows) > limit


async def line_counts(session: AsyncSession, batch_ids: list[str]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {
        b: {"pending": 0, "paid": 0, "failed": 0} for b in batch_ids
    }
    if not batch_ids:
        return counts
    query = (
        select(SplitLine.batch_id, SplitLine.status, func.count())
        .where(SplitLine.batch_id.in_(batch_ids))
        .group_by(SplitLine.batch_id, SplitLine.status)
    )
    for batch_id, status, n in (await session.execute(query)).all():
        counts[batch_id][status] = int(n)
    return counts


# --------------------------------------------------------------------- payouts of lines


_LINE_OF_PAYOUT = {"paid": "paid", "failed": "failed", "returned": "failed"}


async def sync_lines(session: AsyncSession, batch_id: str) -> list[SplitLine]:
    """Bring each line's status up to its payout's (paid; failed or returned → failed),
    then every line of the batch."""
    await sync_pending(session, batch_id)
    return await get_lines(session, batch_id)


async def sync_pending(session: AsyncSession, batch_id: str) -> None:
    """Settle the pending lines whose payouts were settled elsewhere (the resolver, the
    dispatcher, a return): one read, one write, however large the batch."""
    query = (
        select(SplitLine.payout_id, Payout.status, Payout.failure_code)
        .join(Payout, Payout.id == SplitLine.payout_id)
        .where(
            SplitLine.batch_id == batch_id,
            SplitLine.status == "pending",
            Payout.status.in_(tuple(_LINE_OF_PAYOUT)),
        )
    )
    now = clock.now()
    settled = [
        {"b_payout": r[0], "b_status": _LINE_OF_PAYOUT[r[1]], "b_code": r[2], "b_at": now}
        for r in (await session.execute(query)).all()
    ]
    if settled:
        await session.execute(_SETTLED, settled)


_CLAIM = (
    select(SplitLine.id, SplitLine.payee_id, SplitLine.receiver_merchant_id, SplitLine.amount)
    .where(
        SplitLine.batch_id == bindparam("batch"),
        SplitLine.status == "pending",
        SplitLine.payout_id.is_(None),
    )
    .order_by(SplitLine.position)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_LINES = table_of(SplitLine)
_OPENED = (
    update(_LINES)
    .where(_LINES.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        payout_id=bindparam("b_payout"),
        failure_code=bindparam("b_code"),
        attempts=_LINES.c.attempts + 1,
        updated_at=bindparam("b_at"),
    )
)


@dataclass(frozen=True, slots=True)
class Claimed:
    """Lines an opener claimed, and the payouts of theirs to send now."""

    lines: int
    calls: list[payouts.RailCall]


async def open_and_start(session: AsyncSession, batch_id: str, *, limit: int) -> Claimed:
    """Claim up to `limit` pending lines without a payout (under their locks: other runners
    skip them), make their payouts (standard, from each receiver's available balance to
    its bank account) and mark them `in_transit`, all in this transaction, which the
    caller commits before any rail hears of them (a `bank_file` batch's payouts are for
    its credit transfer file: no call at all). A line whose payout is refused fails
    with the refusal's code (its money stays in the receiver's available balance; it may
    be retried)."""
    lines = (await session.execute(_CLAIM, {"batch": batch_id, "limit": limit})).all()
    if not lines:
        return Claimed(0, [])
    batch = await get_batch(session, batch_id, merchant_id=None)
    opened = await bulk.open_and_start(
        session,
        [
            bulk.BulkOrder(
                key=line.id,
                merchant_id=line.receiver_merchant_id,
                payee_id=line.payee_id,
                amount=line.amount,
                currency=batch.currency,
                split_batch_id=batch_id,
            )
            for line in lines
        ],
        by_file=batch.delivery == "bank_file",
    )
    now = clock.now()
    await session.execute(
        _OPENED,
        [
            {
                "b_id": line.id,
                "b_status": "pending" if opened[line.id].error is None else "failed",
                "b_payout": opened[line.id].payout_id,
                "b_code": (error := opened[line.id].error) and error.code,
                "b_at": now,
            }
            for line in lines
        ],
    )
    return Claimed(len(lines), [o.call for o in opened.values() if o.call is not None])


_SETTLED = (
    update(_LINES)
    .where(_LINES.c.payout_id == bindparam("b_payout"), _LINES.c.status == "pending")
    .values(
        status=bindparam("b_status"),
        failure_code=bindparam("b_code"),
        updated_at=bindparam("b_at"),
    )
)


async def record_answers(
    session: AsyncSession, answers: list[tuple[str, ChannelResult]]
) -> list[Payout]:
    """The rails' answers for several payouts, recorded in one transaction; the lines of
    the payouts settled now follow them in the same statement."""
    rows = await bulk.record_answers(session, answers)
    now = clock.now()
    settled = [
        {
            "b_payout": row.id,
            "b_status": _LINE_OF_PAYOUT[row.status],
            "b_code": row.failure_code,
            "b_at": now,
        }
        for row in {r.id: r for r in rows}.values()
        if row.status in _LINE_OF_PAYOUT
    ]
    if settled:
        await session.execute(_SETTLED, settled)
    return rows


async def retry_failed(session: AsyncSession, batch_id: str, *, merchant_id: str | None) -> int:
    """Failed lines go back to pending without a payout: the runner sends them again (the
    money of a failed or returned payout is back in the receiver's available balance)."""
    await get_batch(session, batch_id, merchant_id=merchant_id, lock=True)
    await sync_pending(session, batch_id)
    result = await session.execute(
        update(SplitLine)
        .where(SplitLine.batch_id == batch_id, SplitLine.status == "failed")
        .values(status="pending", payout_id=None, failure_code=None, updated_at=clock.now())
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def batches_with_work(session: AsyncSession, *, limit: int) -> list[str]:
    """Batches with pending lines: lines without a payout, or payouts not yet settled."""
    query = (
        select(SplitLine.batch_id)
        .where(SplitLine.status == "pending")
        .group_by(SplitLine.batch_id)
        .order_by(SplitLine.batch_id)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars().all())


# --------------------------------------------------------------------- the bank file


@dataclass(frozen=True, slots=True)
class Transfer:
    """One credit transfer of a batch, as a bank file lists it."""

    end_to_end_id: str  # the payout id
    receiver_name: str
    bank_code: str
    account_token: str  # the vault token: the number is revealed only for the file itself
    amount: int
    currency: str
    status: str


async def batch_transfers(sql: AsyncSession | Sql, batch_id: str) -> list[Transfer]:
    """Every line of the batch that has a payout, in line order."""
    handle = await as_sql(sql)
    query = (
        select(
            Payout.id,
            Payee.holder_name,
            Payee.bank_code,
            Payee.bank_account,
            Payout.amount,
            Payout.currency,
            Payout.status,
        )
        .join(SplitLine, SplitLine.payout_id == Payout.id)
        .join(Payee, Payee.id == Payout.payee_id)
        .where(SplitLine.batch_id == batch_id)
        .order_by(SplitLine.position)
    )
    rows = await handle.all_once(query)
    return [
        Transfer(
            end_to_end_id=r["id"],
            receiver_name=r["holder_name"],
            bank_code=r["bank_code"],
            account_token=r["bank_account"],
            amount=int(r["amount"]),
            currency=r["currency"],
            status=r["status"],
        )
        for r in rows
    ]
