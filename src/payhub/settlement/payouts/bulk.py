"""Payouts many at a time: a split batch's lines, and the answer of an instant payout.

The same checks, states, holds, journals and events as `service`, written in a few
statements per chunk instead of a few per payout:
- `open_and_start` makes the payouts of many orders and marks them `in_transit` in the
  caller's transaction: their holds in one pass of the ledger, the rows, events and
  screenings' results in one statement each. The caller commits before any rail hears of
  them;
- `record_answers` applies many rails' answers in one transaction: the holds of the paid
  ones posted together with their custody journals in one pass of the ledger, the failed
  ones' holds voided in another, the rows and events in one statement each.
Each payout still goes commit → call with no transaction open → record: nothing here
calls a rail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.channels.base import ChannelResult, ChannelStatus
from payhub.core import clock
from payhub.core.errors import PayHubError
from payhub.core.ids import new_id
from payhub.db.sql import table_of
from payhub.events import service as events
from payhub.ledger import service as ledger
from payhub.ledger.service import AccountSpec, JournalSpec, PostingSpec, Side
from payhub.payments import channels
from payhub.risk.sanctions import screening
from payhub.settlement.payouts import rails
from payhub.settlement.payouts.config import PayoutConfig, get_config
from payhub.settlement.payouts.models import Payee, Payout
from payhub.settlement.payouts.service import (
    BANK_FILE_RAIL,
    PayoutOrder,
    RailCall,
    available_account,
    create_payouts,
    custody_account,
    hot_shards,
    in_transit_account,
    move,
    new_payout,
    payout_object,
    rail_request,
)
from payhub.vault import service as vault

# Rows one IN list names (statements stay short on both databases).
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class BulkOrder:
    """One standard payout to make: `key` is the caller's name for it (a split line)."""

    key: str
    merchant_id: str
    payee_id: str
    amount: int
    currency: str
    split_batch_id: str | None = None


@dataclass(frozen=True, slots=True)
class Opened:
    """What became of an order: a payout to send now (`call`), a payout made but not due
    yet (queued for a closed rail: the dispatcher sends it), or the refusal."""

    payout_id: str | None = None
    call: RailCall | None = None
    error: PayHubError | None = None


async def _payees(session: AsyncSession, ids: Sequence[str]) -> dict[str, Payee]:
    wanted = sorted(set(ids))
    found: dict[str, Payee] = {}
    for start in range(0, len(wanted), _CHUNK):
        query = select(Payee).where(Payee.id.in_(wanted[start : start + _CHUNK]))
        found |= {p.id: p for p in (await session.execute(query)).scalars()}
    return found


_SCREENED = (
    update(table_of(Payee))
    .where(table_of(Payee).c.id == bindparam("b_id"))
    .values(
        screening=bindparam("b_screening"),
        screening_id=bindparam("b_screening_id"),
        screened_at=bindparam("b_at"),
    )
)


async def _screen(session: AsyncSession, payees: list[Payee]) -> set[str]:
    """Screen every beneficiary's name again (each screening recorded, hits raised for
    compliance, as a single payout does); the payee ids blocked by an open or confirmed
    hit. The payees' screening results are written in one statement."""
    blocked: set[str] = set()
    results = []
    for payee in payees:
        view = await screening.screen_name(
            session, payee.holder_name, subject_id=payee.id, subject_type="payee"
        )
        hit = any(h.status in ("open", "confirmed") for h in view.hits)
        if hit:
            blocked.add(payee.id)
        results.append(
            {
                "b_id": payee.id,
                "b_screening": "hit" if hit else "clear",
                "b_screening_id": view.id,
                "b_at": view.screened_at,
            }
        )
    if results:
        await session.execute(_SCREENED, results)
    return blocked


def _hold_spec(
    payout_id: str, merchant_id: str, rail: str, amount: int, currency: str
) -> JournalSpec:
    return JournalSpec(
        id=f"{payout_id}:hold",
        postings=(
            PostingSpec(f"merchant:{merchant_id}:available", Side.DEBIT, amount, currency),
            PostingSpec(f"payout:{rail}:in_transit", Side.CREDIT, amount, currency),
        ),
        description=f"Payout {payout_id}",
        metadata={"payout": payout_id},
    )


async def _holds(
    session: AsyncSession, specs: list[JournalSpec], accounts: list[AccountSpec]
) -> list[PayHubError | None]:
    """Reserve the holds; the first time an account is missing, open them and try again."""
    errors = await ledger.create_holds(session, specs)
    missing = [i for i, e in enumerate(errors) if e is not None and e.code == "account_not_found"]
    if missing:
        await ledger.ensure_accounts(session, accounts)
        again = await ledger.create_holds(session, [specs[i] for i in missing])
        for i, error in zip(missing, again, strict=True):
            errors[i] = error
    return errors


def _check(order: BulkOrder, payee: Payee | None) -> PayHubError | None:
    """`create_payouts`' checks of the payee (a split payout counts against no daily limit)."""
    if payee is None or payee.merchant_id != order.merchant_id:
        return PayHubError("payee_not_found", param="destination", payee=order.payee_id)
    if payee.status != "verified":
        return PayHubError("payee_not_verified", param="destination", payee=payee.id)
    if payee.screening == "hit":
        return PayHubError("payee_sanctions_hit", param="destination", payee=payee.id)
    return None


async def open_and_start(
    session: AsyncSession,
    orders: Sequence[BulkOrder],
    *,
    config: PayoutConfig | None = None,
    by_file: bool = False,
) -> dict[str, Opened]:
    """Make the payouts of `orders` (standard, no fee) and mark them `in_transit`, in the
    caller's transaction; per order key what became of it. A refusal (the payee, the rail,
    a sanctions hit found now, the receiver's balance short) writes nothing for that
    order and leaves the others. The caller commits, then sends the calls.

    `by_file`: the payouts go to the bank in a credit transfer file, not on a rail: they
    take the `bank_file` rail (no plan, no call, no account revealed) and wait, in
    transit, for the bank's status report."""
    config = config or get_config()
    now = clock.now()
    payees = await _payees(session, [o.payee_id for o in orders])
    infos = {cid: adapter.info for cid, adapter in channels.get_channels().items()}
    out: dict[str, Opened] = {}
    ready: list[tuple[BulkOrder, Payee, str]] = []
    for order in orders:
        payee = payees.get(order.payee_id)
        error = _check(order, payee)
        if error is not None or payee is None:
            out[order.key] = Opened(error=error)
            continue
        if by_file:
            ready.append((order, payee, BANK_FILE_RAIL))
            continue
        try:
            plan = rails.plan(
                infos,
                config,
                bank=payee.bank_code,
                amount=order.amount,
                currency=order.currency,
                at=now,
            )
        except PayHubError as refused:
            out[order.key] = Opened(error=refused)
            continue
        if len(plan.parts) == 1 and plan.not_before <= now:
            ready.append((order, payee, plan.rail))
            continue
        # Rare: a rail closed now (the payout waits, pending, for the dispatcher) or an
        # amount over the real-time limit: the one-by-one path, which handles both.
        try:
            queued = await create_payouts(
                session,
                _order_of(order),
                config=config,
            )
        except PayHubError as refused:
            out[order.key] = Opened(error=refused)
            continue
        out[order.key] = Opened(payout_id=queued[0].id)

    blocked = await _screen(session, [p for _, p, _ in ready])
    sending: list[tuple[BulkOrder, Payee, str, str]] = []
    for order, payee, rail in ready:
        if payee.id in blocked:
            out[order.key] = Opened(
                error=PayHubError("payee_sanctions_hit", param="destination", payee=payee.id)
            )
        else:
            sending.append((order, payee, rail, new_id("po")))
    shards = hot_shards(session)
    accounts: dict[tuple[str, str], AccountSpec] = {}
    for order, _, rail, _ in sending:
        accounts[(order.merchant_id, order.currency)] = available_account(
            order.merchant_id, order.currency
        )
        accounts[(rail, order.currency)] = in_transit_account(rail, order.currency, shards)
    errors = await _holds(
        session,
        [_hold_spec(pid, o.merchant_id, r, o.amount, o.currency) for o, _, r, pid in sending],
        list(accounts.values()),
    )
    made: list[tuple[BulkOrder, Payee, Payout]] = []
    for (order, payee, rail, payout_id), error in zip(sending, errors, strict=True):
        if error is not None:
            out[order.key] = Opened(error=error)
        else:
            made.append((order, payee, _new_row(order, payee, rail, payout_id, now)))
    if not made:
        return out
    rows = [row for _, _, row in made]
    created = [("payout.created", r.merchant_id, payout_object(r)) for r in rows]
    for row in rows:
        move(row, "in_transit", at=now)
        row.sent_at = now
    await session.execute(insert(table_of(Payout)), [_columns(r) for r in rows])
    await events.emit_many(
        session, created + [("payout.in_transit", r.merchant_id, payout_object(r)) for r in rows]
    )
    if by_file:
        for order, _, row in made:
            out[order.key] = Opened(row.id)
        return out
    revealed = await vault.reveal_bank_accounts(session, [p.bank_account for _, p, _ in made])
    for order, payee, row in made:
        call = RailCall(row.id, row.rail, rail_request(row, revealed[payee.bank_account]))
        out[order.key] = Opened(row.id, call)
    return out


def _order_of(order: BulkOrder) -> PayoutOrder:
    return PayoutOrder(
        merchant_id=order.merchant_id,
        amount=order.amount,
        currency=order.currency,
        destination=order.payee_id,
        split_batch_id=order.split_batch_id,
    )


def _new_row(order: BulkOrder, payee: Payee, rail: str, payout_id: str, now: datetime) -> Payout:
    return new_payout(
        payout_id=payout_id,
        merchant_id=order.merchant_id,
        payee_id=payee.id,
        amount=order.amount,
        fee=0,
        currency=order.currency,
        rail=rail,
        instant=False,
        group_id=None,
        split_batch_id=order.split_batch_id,
        not_before=now,
        now=now,
    )


_COLUMNS = tuple(c.name for c in table_of(Payout).columns)


def _columns(row: Payout) -> dict[str, Any]:
    return {name: getattr(row, name) for name in _COLUMNS}


# ------------------------------------------------------------------------------ answers


async def _lock_payouts(session: AsyncSession, ids: Sequence[str]) -> dict[str, Payout]:
    """The payouts, locked in id order (recorders queue rather than deadlock), as
    detached rows: their changes are written by `_UPDATE`, not by the session."""
    wanted = sorted(set(ids))
    table = table_of(Payout)
    found: dict[str, Payout] = {}
    for start in range(0, len(wanted), _CHUNK):
        query = (
            select(table)
            .where(table.c.id.in_(wanted[start : start + _CHUNK]))
            .order_by(table.c.id)
            .with_for_update()
        )
        for r in (await session.execute(query)).mappings():
            found[r["id"]] = Payout(**dict(r))
    return found


_CHANGED = (
    "status",
    "raw_code",
    "last_answer",
    "rail_ref",
    "failure_code",
    "failure_message",
    "updated_at",
    "paid_at",
    "failed_at",
    "returned_at",
)
_UPDATE = (
    update(table_of(Payout))
    .where(table_of(Payout).c.id == bindparam("b_id"))
    .values({name: bindparam(f"b_{name}") for name in _CHANGED})
)


@dataclass(slots=True)
class _Answers:
    """What recording a chunk of answers writes."""

    posts: list[tuple[str, str]]
    voids: list[str]
    journals: list[JournalSpec]
    accounts: dict[tuple[str, str], AccountSpec]
    events: list[tuple[str, str | None, dict[str, Any]]]

    def emit(self, type: str, row: Payout) -> None:
        self.events.append((type, row.merchant_id, payout_object(row)))


def _paid(todo: _Answers, row: Payout, result: ChannelResult, now: datetime, shards: int) -> None:
    move(row, "paid", at=now)
    row.paid_at = now
    row.rail_ref = result.channel_ref
    todo.posts.append((row.hold_id, f"{row.id}:paid"))
    # The rail confirmed the transfer: the money left the custody account.
    todo.journals.append(
        JournalSpec(
            id=f"{row.id}:sent",
            postings=(
                PostingSpec(f"payout:{row.rail}:in_transit", Side.DEBIT, row.amount, row.currency),
                PostingSpec("bank:custody", Side.CREDIT, row.amount, row.currency),
            ),
            description=f"Payout {row.id} confirmed by {row.rail}",
            metadata={"payout": row.id},
        )
    )
    todo.accounts[("bank:custody", row.currency)] = custody_account(row.currency, shards)
    todo.emit("payout.paid", row)


def _returned(todo: _Answers, row: Payout, now: datetime, shards: int) -> None:
    move(row, "returned", at=now)
    row.returned_at = now
    row.failure_code, row.failure_message = "payout_returned", "returned by the beneficiary bank"
    available = available_account(row.merchant_id, row.currency)
    todo.journals.append(
        JournalSpec(
            id=f"{row.id}:returned",
            postings=(
                PostingSpec("bank:custody", Side.DEBIT, row.amount, row.currency),
                PostingSpec(available.code, Side.CREDIT, row.amount, row.currency),
            ),
            description=f"Payout {row.id} returned by the beneficiary bank",
            metadata={"payout": row.id},
        )
    )
    todo.accounts[(available.code, row.currency)] = available
    todo.emit("payout.returned", row)


def _failed(todo: _Answers, row: Payout, code: str, message: str | None, now: datetime) -> None:
    move(row, "failed", at=now)
    row.failure_code, row.failure_message = code, (message or "")[:300] or None
    row.failed_at = now
    todo.voids.append(row.hold_id)
    todo.emit("payout.failed", row)


def _first_error(errors: list[PayHubError | None]) -> None:
    for error in errors:
        if error is not None:
            raise error


async def record_answers(
    session: AsyncSession, answers: Sequence[tuple[str, ChannelResult]]
) -> list[Payout]:
    """Apply rails' answers to `in_transit` payouts, as `service.record_answer` does one by
    one: approved → paid (hold posted, custody journal), `RT` → paid then returned,
    `not_found` → failed (`channel_timeout`), declined or error → failed (hold voided), an
    unknown outcome → still in transit for the resolver. A payout no longer in transit
    is left as it is. Returns the payouts, in the order of `answers`."""
    rows = await _lock_payouts(session, [payout_id for payout_id, _ in answers])
    now = clock.now()
    shards = hot_shards(session)
    todo = _Answers([], [], [], {}, [])
    changed: dict[str, Payout] = {}
    for payout_id, result in answers:
        row = rows.get(payout_id)
        if row is None:
            raise PayHubError("payout_not_found", payout=payout_id)
        if row.status != "in_transit":
            continue
        row.raw_code = result.raw_code
        row.last_answer = result.status.value
        row.updated_at = now
        changed[row.id] = row
        if not result.outcome_known:
            continue
        if result.status is ChannelStatus.APPROVED:
            _paid(todo, row, result, now, shards)
        elif result.status is ChannelStatus.NOT_FOUND:
            _failed(todo, row, "channel_timeout", "the rail has no record of the payout", now)
        elif result.raw_code == "RT":
            # Paid, then sent back before we heard of it: both steps, in order.
            _paid(todo, row, result, now, shards)
            _returned(todo, row, now, shards)
        else:
            _failed(todo, row, result.error_code or "channel_error", result.raw_message, now)
    if todo.posts or todo.journals:
        await ledger.ensure_accounts(session, list(todo.accounts.values()))
        held, booked = await ledger.post_holds(session, todo.posts, journals=todo.journals)
        _first_error(held + booked)
    if todo.voids:
        _first_error(await ledger.void_holds(session, todo.voids))
    if changed:
        await session.execute(
            _UPDATE,
            [
                {"b_id": r.id, **{f"b_{name}": getattr(r, name) for name in _CHANGED}}
                for r in changed.values()
            ],
        )
    if todo.events:
        await events.emit_many(session, todo.events)
    return [rows[payout_id] for payout_id, _ in answers]
