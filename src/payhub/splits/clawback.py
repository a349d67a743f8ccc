"""Clawback: a refund of a payment a split batch covered takes the receivers' shares of it
back to the group leader, in the refund's own transaction.

`proportional` (the default): each receiver gives back `refund × its amount / net
collected` (rounded down), the platform its commission's share likewise; each receiver in
a journal of its own, so one receiver who already withdrew everything does not stop the
others or the refund: what could not be taken is recorded on its line as
`clawback_outstanding`. `leader_only`: the leader bears the refund alone.

Written against `Sql` with statements planned once: it runs inside the payment's refund
step, on its hot path (one indexed read when the payment was never split).
"""

from __future__ import annotations

from sqlalchemy import bindparam, select, update

from payhub.core import clock
from payhub.core.errors import PayHubError
from payhub.db.sql import Sql, table_of
from payhub.events import service as events
from payhub.ledger import service as ledger
from payhub.ledger.service import JournalSpec, PostingSpec, Side
from payhub.splits.models import SplitBatch, SplitCover, SplitLine

_BATCHES = table_of(SplitBatch)
_LINES = table_of(SplitLine)
_COVERS = table_of(SplitCover)

_COVER = (
    select(
        _BATCHES.c.id,
        _BATCHES.c.merchant_id,
        _BATCHES.c.currency,
        _BATCHES.c.net_collected,
        _BATCHES.c.platform_commission,
        _BATCHES.c.clawback,
    )
    .join(_COVERS, _COVERS.c.batch_id == _BATCHES.c.id)
    .where(_COVERS.c.payment_id == bindparam("payment_id"))
    .with_for_update(of=_BATCHES)
)
_LINES_OF = (
    select(_LINES.c.id, _LINES.c.position, _LINES.c.receiver_merchant_id, _LINES.c.amount)
    .where(_LINES.c.batch_id == bindparam("batch_id"))
    .order_by(_LINES.c.position)
)
_TAKE = (
    update(_LINES)
    .where(_LINES.c.id == bindparam("line_id"))
    .values(
        clawed_back=_LINES.c.clawed_back + bindparam("taken"),
        clawback_outstanding=_LINES.c.clawback_outstanding + bindparam("owed"),
        updated_at=bindparam("now"),
    )
)
_TOTAL = (
    update(_BATCHES)
    .where(_BATCHES.c.id == bindparam("batch_key"))
    .values(clawed_back=_BATCHES.c.clawed_back + bindparam("taken"), updated_at=bindparam("now"))
)


def share_of(refund: int, part: int, net: int) -> int:
    """A part's share of a refund, rounded down (never more than the part gave)."""
    return refund * part // net if net > 0 else 0


async def _move(sql: Sql, journal_id: str, src: str, dst: str, amount: int, cur: str) -> bool:
    """Move `amount` from account `src` to `dst`; False when `src` may not go below zero."""
    spec = JournalSpec(
        id=journal_id,
        postings=(
            PostingSpec(src, Side.DEBIT, amount, cur),
            PostingSpec(dst, Side.CREDIT, amount, cur),
        ),
        description="Split clawback after a refund",
        metadata={"clawback": journal_id},
    )
    try:
        await ledger.record_journal(sql, spec)
    except PayHubError as error:
        if error.code in ("insufficient_funds", "account_not_found"):
            return False
        raise
    return True


async def after_refund(sql: Sql, *, payment_id: str, refund_id: str, amount: int) -> int:
    """Claw back the split shares of `amount` refunded on `payment_id`; what was taken back
    (0 when the payment was never split or the batch's mode is `leader_only`)."""
    batch = await sql.one(_COVER, payment_id=payment_id)
    if batch is None or batch["clawback"] != "proportional":
        return 0
    net, currency = int(batch["net_collected"]), batch["currency"]
    leader = f"merchant:{batch['merchant_id']}:available"
    now = clock.now()
    taken_total = owed_total = 0
    for line in await sql.all(_LINES_OF, batch_id=batch["id"]):
        share = share_of(amount, int(line["amount"]), net)
        if share == 0:
            continue
        source = f"merchant:{line['receiver_merchant_id']}:available"
        moved = await _move(
            sql, f"cb:{refund_id}:{line['position']}", source, leader, share, currency
        )
        taken, owed = (share, 0) if moved else (0, share)
        taken_total += taken
        owed_total += owed
        await sql.run(_TAKE, line_id=line["id"], taken=taken, owed=owed, now=now)
    commission = share_of(amount, int(batch["platform_commission"]), net)
    if commission and await _move(
        sql, f"cb:{refund_id}:fees", "platform:fees", leader, commission, currency
    ):
        taken_total += commission
    await sql.run(_TOTAL, batch_key=batch["id"], taken=taken_total, now=now)
    await events.emit(
        sql,
        type="split_batch.clawed_back",
        merchant_id=batch["merchant_id"],
        data={
            "object": "split_clawback",
            "split_batch": batch["id"],
            "payment": payment_id,
            "refund": refund_id,
            "refunded": amount,
            "clawed_back": taken_total,
            "outstanding": owed_total,
        },
    )
    return taken_total
