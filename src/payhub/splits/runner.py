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

# Lines whose payouts one transaction opens (a few statements whatever their number, plus a
# screening each), and the transactions opening them at a time. Each opener starts small
# and doubles up to the most, so the first payouts leave at once.
OPEN_FIRST = 20
OPEN_PER_TRANSACTION = 100
OPENERS = 3
# The most answers one transaction records (it takes what has arrived, up to this).
RECORD_PER_TRANSACTION = 500


@dataclass(frozen=True, slots=True)
class Progress:
    total: int
    paid: int
    failed: int
    pending: int


Report = Callable[[Progress], None]


async def progress_of(db: Database, batch_id: str) -> Progress:
    async def read(session: AsyncSession) -> Progress:
        await service.sync_pending(session, batch_id)
        counts = (await service.line_counts(session, [batch_id]))[batch_id]
        return Progress(sum(counts.values()), counts["paid"], counts["failed"], counts["pending"])

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
    - openers claim lines up to a hundred at a time (under their locks, so several runners
      may share a batch), make their payouts and commit them `in_transit`, one transaction
      each;
    - each rail has its own senders, as many as its limit (`PAYHUB_PAYOUT_RAIL_CONCURRENCY`,
      or `concurrency` for every rail), calling it with no transaction open; a rail's
      queue holds at most twice its limit, so openers wait for the slowest rail;
    - one recorder writes the answers, as many as have arrived, in one transaction.
    A slow rail answer holds up one sender, never a transaction. Each payout still goes
    commit → call → record, as a single payout does."""
    config = get_config()
    start = await progress_of(db, batch_id)
    paid, failed, claimed = start.paid, start.failed, 0
    answers: asyncio.Queue[tuple[str, ChannelResult] | None] = asyncio.Queue()
    queues: dict[str, asyncio.Queue[RailCall | None]] = {}
    sending: list[asyncio.Task[None]] = []

    async def sender(calls: asyncio.Queue[RailCall | None]) -> None:
        while (call := await calls.get()) is not None:
            await answers.put((call.payout_id, await flow.call_rail(call)))

    def queue_of(rail: str) -> asyncio.Queue[RailCall | None]:
        if rail not in queues:
            senders = concurrency or config.rail_limit(rail)
            queues[rail] = asyncio.Queue(maxsize=senders * 2)
            sending.extend(asyncio.create_task(sender(queues[rail])) for _ in range(senders))
        return queues[rail]

    async def opener() -> None:
        nonlocal claimed
        most = OPEN_FIRST
        while limit is None or claimed < limit:
            size = most if limit is None else min(most, limit - claimed)
            most = min(most * 2, OPEN_PER_TRANSACTION)
            claimed += size
            opened = await db.run_in_transaction(
                partial(service.open_and_start, batch_id=batch_id, limit=size)
            )
            if not opened.lines:
                return
            for call in opened.calls:
                await queue_of(call.rail).put(call)

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

    recording = asyncio.create_task(recorder())
    try:
        await asyncio.gather(*(opener() for _ in range(OPENERS)))
        for rail, calls in queues.items():
            for _ in range(concurrency or config.rail_limit(rail)):
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
