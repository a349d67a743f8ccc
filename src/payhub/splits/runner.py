"""Paying a split batch out: each pending line becomes a payout from the receiver's
available balance to its bank account; payouts are sent in parallel, at most
`concurrency` at a time (the rails' throughput), and each line follows its payout."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from payhub.db.session import Database
from payhub.settlement.payouts import flow
from payhub.settlement.payouts.config import get_config
from payhub.settlement.payouts.models import Payout
from payhub.splits import service

# Lines whose payouts one transaction opens (small: transactions stay short and the
# first payouts leave at once), and the transactions opening them at a time.
OPEN_PER_TRANSACTION = 25
OPENERS = 4


@dataclass(frozen=True, slots=True)
class Progress:
    total: int
    paid: int
    failed: int
    pending: int


Report = Callable[[Progress], None]


async def progress_of(db: Database, batch_id: str) -> Progress:
    async def read(session: AsyncSession) -> Progress:
        lines = await service.sync_lines(session, batch_id)
        counts = service.summarize(lines)
        return Progress(len(lines), counts["paid"], counts["failed"], counts["pending"])

    return await db.run_in_transaction(read)


async def run_batch(
    db: Database,
    batch_id: str,
    *,
    concurrency: int | None = None,
    limit: int | None = None,
    report: Report | None = None,
) -> Progress:
    """Open and send the payouts of the batch's pending lines (at most `limit` of them);
    then bring the lines up to their payouts. A few openers claim lines in small
    transactions (a line is claimed under its lock, so several runners may share a batch)
    and queue their payouts; `concurrency` senders take them from the queue, so a slow
    rail answer holds up one sender, not a whole chunk."""
    senders = concurrency or get_config().concurrency
    start = await progress_of(db, batch_id)
    paid, failed, opened = start.paid, start.failed, 0
    queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=senders * 2)

    def seen(row: Payout) -> None:
        nonlocal paid, failed
        paid += row.status == "paid"
        failed += row.status in ("failed", "returned")
        if report is not None:
            report(Progress(start.total, paid, failed, start.total - paid - failed))

    async def opener() -> None:
        nonlocal opened
        while limit is None or opened < limit:
            size = (
                OPEN_PER_TRANSACTION if limit is None else min(OPEN_PER_TRANSACTION, limit - opened)
            )
            opened += size
            ids = await db.run_in_transaction(
                partial(service.open_payouts, batch_id=batch_id, limit=size)
            )
            if not ids:
                return
            for payout_id in ids:
                await queue.put(payout_id)

    async def sender() -> None:
        while (payout_id := await queue.get()) is not None:
            seen(await flow.send_payout(db, payout_id))

    workers = [asyncio.create_task(sender()) for _ in range(senders)]
    try:
        await asyncio.gather(*(opener() for _ in range(OPENERS)))
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
    done = await progress_of(db, batch_id)
    if report is not None:
        report(done)
    return done


async def run_pending_batches(db: Database, *, limit: int = 1000) -> int:
    """The job: push every batch with pending lines forward (at most `limit` new payouts
    per batch and run). Returns the lines settled so far in those batches."""
    batches = await db.run_in_transaction(lambda s: service.batches_with_work(s, limit=20))
    settled = 0
    for batch_id in batches:
        done = await run_batch(db, batch_id, limit=limit)
        settled += done.paid + done.failed
    return settled
