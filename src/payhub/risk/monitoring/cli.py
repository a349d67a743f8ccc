"""`payhub aml monitor`: run transaction monitoring over the outbox from the command line
(the job `risk.monitor` does the same in `payhub serve` and `payhub worker`)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from payhub.clikit import console, run_db
from payhub.core.config import get_settings
from payhub.db.session import Database
from payhub.risk.monitoring.consumer import MonitorConsumer, Round, status


def _line(done: Round) -> str:
    if done.skipped:
        return "Another process is monitoring: nothing done."
    return (
        f"Processed {done.events} event(s) ({done.transactions} transaction(s)): "
        f"{done.alerts_raised} alert(s) raised, {done.alerts_revised} revised"
        + (f"; {done.replayed} replayed first." if done.replayed else ".")
    )


def monitor(
    once: Annotated[bool, typer.Option(help="Process what is new and exit.")] = False,
) -> None:
    """Feed every money-moving event to the monitor and store its alerts. The first round
    replays the last 35 days into the graph (without alerts: they are stored already)."""

    async def go(db: Database) -> None:
        consumer = MonitorConsumer(db)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("Replaying the history into the graph", total=None)

            def replayed(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            done = await consumer.run(on_replay=replayed)
        console.print(_line(done))
        while not once:
            await asyncio.sleep(get_settings().job_interval_seconds)
            done = await consumer.run()
            if done.events or done.replayed:
                console.print(_line(done))
        now = await db.transact(status)
        console.print(
            f"Coverage {now.coverage:.2%}: {now.events_processed} of {now.money_events} "
            f"money-moving event(s); {now.lag_events} waiting."
        )

    run_db(go)
