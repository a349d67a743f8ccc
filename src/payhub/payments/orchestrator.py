"""Payment flows across transactions: commit the attempt, call the channel with no
transaction open, record the answer; repeat while the answer asks for another call (a
fallback channel after a soft decline, the capture of an automatic-capture payment).

Also the two background jobs that finish what requests could not: `resolve_in_flight`
(answers that never came) and `expire_authorizations` (holds not captured in time).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial

from payhub.channels.base import AuthorizeRequest, CardData, ChannelResult, ChannelStatus
from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.db.sql import Sql
from payhub.payments import channels
from payhub.payments import service as steps
from payhub.payments.service import ChannelCall, Step
from payhub.risk.decisions.features import Signals
from payhub.routing import service as routing
from payhub.routing.base import Result

log = logging.getLogger(__name__)

# A `pending` attempt older than this lost its process before the answer was recorded: no
# channel's timeout comes close, so the call is surely over and a query tells the truth.
PENDING_GRACE = timedelta(seconds=60)

# Called in the transaction that records a flow's last answer, with where the payment stands
# (the API stores its response for replays there, so no transaction of its own is needed).
Settle = Callable[[Sql, Step], Awaitable[None]]


async def send(call: ChannelCall, card: CardData | None) -> ChannelResult:
    """Send one call to its channel. An adapter that raises is taken as an answer lost on
    the way back (the request may have gone out): the resolver's query settles it."""
    adapter = channels.get_channel(call.channel_id)
    try:
        if call.kind in steps.AUTHORIZING:
            assert card is not None and call.amount is not None
            return await adapter.authorize(
                AuthorizeRequest(
                    request_id=call.request_id,
                    payment_id=call.payment_id,
                    merchant_id=call.merchant_id,
                    amount=call.amount,
                    currency=call.currency,
                    card=card,
                    scene=call.scene,
                    capture=call.kind == "sale",
                )
            )
        assert call.authorization_ref is not None
        if call.kind == "capture":
            assert call.amount is not None
            result = await adapter.capture(call.request_id, call.authorization_ref, call.amount)
        elif call.kind == "refund":
            assert call.amount is not None
            result = await adapter.refund(call.request_id, call.authorization_ref, call.amount)
        else:
            result = await adapter.void(call.request_id, call.authorization_ref)
        if not result.outcome_known:
            # A follow-up moves no new money: ask once at once (our request id makes the
            # question safe) rather than leave the merchant waiting for the resolver.
            truth = await adapter.query(call.request_id)
            if truth.outcome_known:
                return truth
        return result
    except Exception:
        log.exception(
            "channel call raised; left for resolution",
            extra={"channel": call.channel_id, "attempt": call.attempt_id, "kind": call.kind},
        )
        return ChannelResult(ChannelStatus.LOST, raw_message="the adapter raised")


async def drive(
    db: Database, step: Step, *, cascade: bool = False, settle: Settle | None = None
) -> Step:
    """Send the step's call, record the answer, and go on while the answer asks for more."""
    card = step.card
    while step.call is not None:
        call = step.call
        result = await send(call, card)
        step = await db.transact(
            partial(_record, call=call, result=result, cascade=cascade, settle=settle)
        )
        if call.kind in steps.AUTHORIZING:
            _learn(step, call, result)
    return step


async def _record(
    sql: Sql, *, call: ChannelCall, result: ChannelResult, cascade: bool, settle: Settle | None
) -> Step:
    step = await steps.record_answer(sql, call, result, cascade=cascade)
    if step.call is None and settle is not None:
        await settle(sql, step)
    return step


def _learn(step: Step, call: ChannelCall, result: ChannelResult) -> None:
    """Tell this process's router what the channel did (it learns in memory)."""
    ctx = steps.routing_context(step.payment)
    if ctx is not None:
        routing.get_router().observe(ctx, call.channel_id, Result.of(result), result.latency_ms)


# ------------------------------------------------------------------------------ requests


async def confirm_payment(
    db: Database,
    payment_id: str,
    merchant_id: str | None,
    cvv: str | None = None,
    *,
    signals: Signals | None = None,
    settle: Settle | None = None,
) -> Step:
    """Score the payment's risk; then authorise at the routed channel; approved →
    `requires_capture`, or captured at once → `succeeded`. A soft decline tries the next
    eligible channel, a hard one never does; an unknown outcome stops there (`processing`)
    until the resolver learns the truth."""
    step = await db.transact(
        lambda sql: steps.start_confirm(sql, payment_id, merchant_id, cvv, signals=signals)
    )
    return await drive(db, step, cascade=True, settle=settle)


async def capture_payment(
    db: Database,
    payment_id: str,
    merchant_id: str | None,
    amount: int | None = None,
    *,
    settle: Settle | None = None,
) -> Step:
    step = await db.transact(lambda sql: steps.start_capture(sql, payment_id, merchant_id, amount))
    return _raise_refusal(await drive(db, step, settle=settle))


async def cancel_payment(
    db: Database, payment_id: str, merchant_id: str | None, *, settle: Settle | None = None
) -> Step:
    step = await db.transact(lambda sql: steps.start_cancel(sql, payment_id, merchant_id))
    return _raise_refusal(await drive(db, step, settle=settle))


async def refund_payment(
    db: Database,
    *,
    payment_id: str,
    merchant_id: str | None,
    amount: int | None = None,
    reason: str | None = None,
) -> Step:
    """A refund ends `succeeded`, `failed` (kept, with its code) or, while the channel's
    answer is unknown, `pending`."""
    started = await db.transact(
        lambda sql: steps.start_refund(
            sql, payment_id=payment_id, merchant_id=merchant_id, amount=amount, reason=reason
        )
    )
    step = await drive(db, started)
    if step.refund is None:
        # Still in flight (or settled by another process): answer with the refund as it is.
        refund_id = started.refund.id if started.refund is not None else ""
        step.refund = await db.transact(
            lambda sql: steps.get_refund(sql, refund_id, merchant_id=None)
        )
    return step


def _raise_refusal(step: Step) -> Step:
    """A capture or void the channel refused is recorded, then reported to the caller."""
    if step.error is not None:
        raise step.error
    return step


# ---------------------------------------------------------------------------------- jobs


async def resolve_in_flight(
    db: Database, *, limit: int = 100, grace: timedelta = PENDING_GRACE
) -> int:
    """Ask the channels what became of requests whose answer was lost, timed out, or never
    recorded, and apply the truth (which may start the next call: the capture of an
    automatic-capture payment). A query that is itself unanswered leaves the request for
    the next run. Several workers may run this at once: an answer is applied only while
    its attempt is still in flight. Returns how many were settled."""
    calls = await db.transact(lambda sql: steps.unresolved_calls(sql, grace=grace, limit=limit))
    settled = 0
    for call in calls:
        adapter = channels.get_channel(call.channel_id)
        try:
            truth = await adapter.query(call.request_id)
        except Exception:
            log.exception("channel query raised", extra={"attempt": call.attempt_id})
            continue
        if not truth.outcome_known:
            continue

        step = await db.transact(
            partial(steps.record_answer, call=call, result=truth, by_query=True)
        )
        await drive(db, step)
        settled += 1
    return settled


async def expire_authorizations(db: Database, *, limit: int = 100) -> int:
    """Release authorisations past `expires_at` (7 days by default), each on its own: a
    channel refusing one void leaves that payment for the next run, not the others."""
    ids = await db.transact(lambda sql: steps.expired_authorizations(sql, limit=limit))
    released = 0
    for payment_id in ids:
        try:
            step = await db.transact(partial(steps.start_expiry, payment_id=payment_id))
        except PayHubError:
            continue
        if step is None:
            continue
        step = await drive(db, step)
        if step.error is None and step.settled:
            released += 1
    return released
