"""Payouts across transactions: commit `in_transit`, call the rail with no transaction
open, record the answer in a new transaction. And the jobs that finish what requests could
not: `dispatch` (queued payouts whose time came), `resolve` (answers that never came) and
`check_returns` (paid payouts the bank sent back).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from payhub.channels.base import BankAccount, ChannelResult, ChannelStatus, PayoutRequest
from payhub.core import clock
from payhub.core.errors import PayHubError
from payhub.core.ids import new_id
from payhub.db.session import Database
from payhub.ledger.service import JournalSpec, PostingSpec, Side
from payhub.payments import channels
from payhub.settlement.payouts import bulk, rails, service
from payhub.settlement.payouts.config import PayoutConfig, get_config
from payhub.settlement.payouts.models import Payee, Payout
from payhub.vault import service as vault

log = logging.getLogger(__name__)

Progress = Callable[[Payout], None]
# Verification transfers are domestic.
CNY = "CNY"


async def call_rail(call: service.RailCall) -> ChannelResult:
    """Send one payout. An adapter that raises is taken as an answer lost on the way back
    (the request may have gone out): the resolver's query settles it."""
    try:
        adapter = channels.get_channel(call.rail)
        result = await adapter.payout(call.request)
        if not result.outcome_known:
            # Our request id makes the question safe: ask once at once rather than leave
            # the payee waiting for the resolver.
            truth = await adapter.query_payout(call.request.request_id)
            if truth.outcome_known and truth.status is not ChannelStatus.NOT_FOUND:
                return truth
        return result
    except Exception:
        log.exception("payout rail call raised; left for resolution", extra={"rail": call.rail})
        return ChannelResult(ChannelStatus.LOST, raw_message="the adapter raised")


async def send_payout(db: Database, payout_id: str) -> Payout:
    """Send one pending payout and record the rail's answer."""
    call = await db.run_in_transaction(lambda s: service.start_send(s, payout_id))
    if call is not None:
        result = await call_rail(call)
        return await db.run_in_transaction(lambda s: service.record_answer(s, payout_id, result))
    return await db.run_in_transaction(lambda s: service.get_payout(s, payout_id, merchant_id=None))


async def create_and_send(
    db: Database, order: service.PayoutOrder, *, config: PayoutConfig | None = None
) -> list[Payout]:
    """A withdrawal: reserve and commit it; an instant one is sent at once (a standard one
    waits for the dispatcher, as does any payout queued for a closed rail)."""
    config = config or get_config()
    if not order.instant:
        return await db.run_in_transaction(
            lambda s: service.create_payouts(s, order, config=config)
        )
    # Two transactions around the rail's call: reserve and commit `in_transit`; record.
    made, calls = await db.run_in_transaction(
        lambda s: service.create_and_start(s, order, config=config)
    )
    if not calls:
        return made
    results = await asyncio.gather(*(call_rail(call) for call in calls))
    answers = [(call.payout_id, result) for call, result in zip(calls, results, strict=True)]
    recorded = await db.run_in_transaction(lambda s: bulk.record_answers(s, answers))
    by_id = {row.id: row for row in recorded}
    return [by_id.get(row.id, row) for row in made]


async def send_many(
    db: Database,
    payout_ids: list[str],
    *,
    concurrency: int,
    progress: Progress | None = None,
) -> list[Payout]:
    """Send payouts in parallel, at most `concurrency` at a time (the rails' throughput)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(payout_id: str) -> Payout:
        async with gate:
            row = await send_payout(db, payout_id)
        if progress is not None:
            progress(row)
        return row

    return list(await asyncio.gather(*(one(p) for p in payout_ids)))


async def dispatch(db: Database, *, limit: int = 1000, config: PayoutConfig | None = None) -> int:
    """Send pending payouts whose time has come; how many left `pending`. Safe in several
    workers at once: a payout is sent only by the transaction that moves it out of
    `pending` under its lock."""
    config = config or get_config()
    due = await db.run_in_transaction(lambda s: service.due_payouts(s, limit=limit))
    rows = await send_many(db, due, concurrency=config.concurrency)
    # Sent (whatever the answer), or failed before sending (a sanctions hit).
    return sum(1 for r in rows if r.status != "pending")


async def resolve(db: Database, *, limit: int = 100, config: PayoutConfig | None = None) -> int:
    """Ask the rails about payouts in transit whose answer is unknown, and apply the truth.
    A query that is itself unanswered leaves the payout for the next run."""
    config = config or get_config()
    grace = timedelta(seconds=config.resolve_after_s)
    found = await db.run_in_transaction(
        lambda s: service.unresolved_payouts(s, grace=grace, limit=limit)
    )
    settled = 0
    for payout_id, rail, request_id in found:
        try:
            truth = await channels.get_channel(rail).query_payout(request_id)
        except Exception:
            log.exception("payout query raised", extra={"payout": payout_id})
            continue
        if not truth.outcome_known:
            continue
        row = await db.run_in_transaction(
            partial(service.record_answer, payout_id=payout_id, result=truth, by_query=True)
        )
        settled += row.status != "in_transit"
    return settled


async def check_returns(
    db: Database, *, limit: int = 200, config: PayoutConfig | None = None
) -> int:
    """Ask the rails whether paid payouts inside the return window were sent back; credit
    the returned ones back. Returns how many were returned."""
    config = config or get_config()
    found = await db.run_in_transaction(
        lambda s: service.return_candidates(
            s,
            window=timedelta(seconds=config.return_window_s),
            every=timedelta(seconds=config.return_check_every_s),
            limit=limit,
        )
    )
    returned = 0
    for payout_id, rail, request_id in found:
        try:
            truth = await channels.get_channel(rail).query_payout(request_id)
        except Exception:
            log.exception("payout query raised", extra={"payout": payout_id})
            continue
        if not truth.outcome_known:
            continue
        row = await db.run_in_transaction(
            partial(service.record_return_check, payout_id=payout_id, result=truth)
        )
        returned += row.status == "returned"
    return returned


# --------------------------------------------------------------------- penny-drop checks


async def penny_drop(
    db: Database, payee_id: str, *, merchant_id: str | None, config: PayoutConfig | None = None
) -> Payee:
    """Verify a payee by sending a tiny amount to its account on the rail it would use (the
    platform's cost, from `platform:fees`): the rail's approval proves the account exists
    and takes credits; a refusal leaves the payee `unverified`
    (`payee_verification_failed`)."""
    config = config or get_config()
    amount = config.penny_drop_amount

    async def prepare(session: AsyncSession) -> tuple[Payee, PayoutRequest, str]:
        payee = await service.get_payee(session, payee_id, merchant_id=merchant_id)
        if payee.screening == "hit":
            raise PayHubError("payee_sanctions_hit", payee=payee.id)
        account = await vault.reveal_bank_account(session, payee.bank_account)
        infos = {cid: a.info for cid, a in channels.get_channels().items()}
        plan = rails.plan(
            infos, config, bank=payee.bank_code, amount=amount, currency=CNY, at=clock.now()
        )
        request = PayoutRequest(
            request_id=new_id("req"),
            payout_id=new_id("pv"),
            merchant_id=payee.merchant_id,
            amount=amount,
            currency=CNY,
            account=BankAccount(payee.bank_code, account.account_number, account.holder_name),
            reference=f"verify {payee.id}",
        )
        return payee, request, plan.rail

    payee, request, rail = await db.run_in_transaction(prepare)
    adapter = channels.get_channel(rail)
    result = await adapter.payout(request)
    if not result.outcome_known:
        result = await adapter.query_payout(request.request_id)
    if result.status is not ChannelStatus.APPROVED:
        raise PayHubError(
            "payee_verification_failed",
            payee=payee.id,
            detail=result.raw_message or result.status.value,
        )

    async def verified(session: AsyncSession) -> Payee:
        await service.record(
            session,
            JournalSpec(
                id=f"{request.payout_id}:penny",
                postings=(
                    PostingSpec("platform:fees", Side.DEBIT, amount, CNY),
                    PostingSpec("bank:custody", Side.CREDIT, amount, CNY),
                ),
                description=f"Penny-drop verification of {payee.id} on {rail}",
                metadata={"payee": payee.id},
            ),
            [
                service.fees_account(CNY, service.hot_shards(session)),
                service.custody_account(CNY, service.hot_shards(session)),
            ],
        )
        return await service.mark_verified(session, payee.id, by="penny_drop")

    return await db.run_in_transaction(verified)
