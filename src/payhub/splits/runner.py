"""Paying a split batch out: each pending line becomes a payout from the receiver's
available balance to its bank account; payouts are sent in parallel, at most
`concurrency` at a time (the rails' throughput), and each line follows its payout."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from payhub.channels.base import ChannelResult
from payhub.db.session import Database
from payhub.settlement.payouts import flow
from payhub.settlement.payouts.config import get_config
from payhub.settlement.payouts.service import RailCall
from payhub.splits import service

# Lines whose payouts one transaction opens (small: transactions stay short and the
# first payouts leave at once), and the transactions opening them at a time.
OPEN_PER_TRANSACTION = 25
OPENERS = 4
# Answers one transaction records.
RECORD_PER_TRANSACTION = 25


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
    """Pay out the batch's pending lines (at most `limit` of them), as a pipeline:
    - openers claim a few lines at a time (under their locks, so several runners may share
      a batch), make their payouts and commit them `in_transit`, one transaction each few;
    - `concurrency` senders call the rails with no transaction open;
    - one recorder writes the answers, several to a transaction.
    A slow rail answer holds up one sender, never a transaction. Each payout still goes
    commit → call → record, as a single payout does."""
    senders = concurrency or get_config().concurrency
    start = await progress_of(db, batch_id)
    paid, failed, opened = start.paid, start.failed, 0
    calls: asyncio.Queue[RailCall | None] = asyncio.Queue(maxsize=senders * 2)
    answers: asyncio.Queue[tuple[str, ChannelResult] | None] = asyncio.Queue()

    async def opener() -> None:
        nonlocal opened
        while limit is None or opened < limit:
            size = (
                OPEN_PER_TRANSACTION if limit is None else min(OPEN_PER_TRANSACTION, limit - opened)
            )
            opened += size
            batch = await db.run_in_transaction(
                partial(service.open_and_start, batch_id=batch_id, limit=size)
            )
            if not batch:
                return
            for call in batch:
                await calls.put(call)

    async def sender() -> None:
        while (call := await calls.get()) is not None:
            await answers.put((call.payout_id, await flow.call_rail(call)))

    async def recorder() -> None:
        nonlocal paid, failed
        done = False
        while not done:
            first = await answers.get()
            if first is None:
                return
            chunk = [first]
            while len(chunk) < RECORD_PER_TRANSACTION and not answers.empty():
                item = answers.get_nowait()
                if item is None:
                    done = True
                    break
                chunk.append(item)
            rows = await db.run_in_transaction(partial(service.record_answers, answers=chunk))
            paid += sum(r.status == "paid" for r in rows)
            failed += sum(r.status in ("failed", "returned") for r in rows)
            if report is not None:
                report(Progress(start.total, paid, failed, start.total - paid - failed))

    sending = [asyncio.create_task(sender()) for _ in range(senders)]
    recording = asyncio.create_task(recorder())
    try:
        await asyncio.gather(*(opener() for _ in range(OPENERS)))
        for _ in sending:
            await calls.put(None)
        await asyncio.gather(*sending)
        await answers.put(None)
        await recording
    finally:
        for task in (*sending, recording):
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
