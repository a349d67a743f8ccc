"""Reconciliation benchmark: one channel's day of N statement lines (1,000,000 by default)
against as many recorded payments, with breaks injected, on the configured database.

Our side is written in bulk straight into the payment tables (COPY on PostgreSQL): a
million real payments would take the payments benchmark's hours, and reconciliation reads
only what they leave behind (approved sale and refund attempts with their payments). The
statement is the channel's true record of those movements, broken by seeded injection;
it is reconciled from CSV, as an upload would be, and the breaks found are scored against
the injected ones. The next day's statement (the late lines) is run too: every timing
break must close.

Reference, measured in the same run: COPY of the same lines into a plain table, the
floor of any database-side reconciliation.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import func, insert, select

from payhub.channels.base import StatementKind, StatementLine, fee_for
from payhub.clikit import console
from payhub.core import clock
from payhub.core.config import get_settings
from payhub.core.ids import new_id
from payhub.db import pg
from payhub.db.migrate import upgrade
from payhub.db.session import Database
from payhub.db.sql import table_of
from payhub.merchants.models import Merchant
from payhub.payments.models import Payment, PaymentAttempt
from payhub.settlement.reconciliation import service
from payhub.settlement.reconciliation.engine import BREAKS, RUNS, day_bounds
from payhub.settlement.reconciliation.injection import Injection, inject
from payhub.settlement.reconciliation.statements import to_csv

TARGET_SECONDS = 60.0
CHANNEL = "unionpay_quick"
FEE_BPS = 35
LATE_WINDOW = timedelta(hours=1)

_PAYMENTS = table_of(Payment)
_ATTEMPTS = table_of(PaymentAttempt)
_MERCHANTS = table_of(Merchant)
_PAYMENT_COLUMNS = (
    "id",
    "merchant_id",
    "customer_id",
    "payment_method",
    "amount",
    "currency",
    "amount_capturable",
    "amount_captured",
    "amount_refunded",
    "capture_method",
    "status",
    "scene",
    "description",
    "metadata",
    "channel_id",
    "authorization_ref",
    "failure_code",
    "failure_message",
    "authorized_at",
    "expires_at",
    "in_flight_attempt_id",
    "decision",
    "created_at",
    "updated_at",
)
_ATTEMPT_COLUMNS = (
    "id",
    "payment_id",
    "kind",
    "channel_id",
    "request_id",
    "status",
    "raw_code",
    "raw_message",
    "catalogue_code",
    "latency_ms",
    "amount",
    "refund_id",
    "created_at",
)


@dataclass(slots=True)
class Books:
    """What was written on our side, and the channel's true statement of it."""

    day: date
    lines: list[StatementLine]


def _movements(n: int, seed: int, day: date, channel_id: str) -> Iterator[tuple[Any, ...]]:
    """(payment row, attempt rows, statement lines) per payment, `n` lines in all: one
    sale each, and about one in twenty refunded in part the same day."""
    rng = random.Random(seed)
    start, _ = day_bounds(day)
    # The id's random tail: unique per call even when the clock stands still (a frozen
    # clock, or one moved back, keeps the time part the same from call to call).
    tag = new_id("pay")[-10:]
    made = 0
    i = 0
    while made < n:
        i += 1
        pid = f"pay_{tag}{seed % 1000:03d}{i:013d}"
        amount = max(100, int(rng.lognormvariate(8.2, 0.9)))
        # Clear of midnight on both sides: a line crossing it is a genuine timing case,
        # which this benchmark injects on purpose rather than by accident.
        at = start + timedelta(seconds=rng.uniform(2, 86_396))
        refund = made + 1 < n and rng.random() < 0.05
        refunded = rng.randint(1, amount) if refund else 0
        auth_ref = f"auth_{tag}{i:013d}"
        payment = (
            pid,
            "",
            None,
            "tok_bench",
            amount,
            "CNY",
            0,
            amount,
            refunded,
            "automatic",
            "succeeded",
            "group_buy",
            None,
            "{}",
            channel_id,
            auth_ref,
            None,
            None,
            at,
            None,
            None,
            None,
            at,
            at,
        )
        sale_req = f"req_{tag}{i:013d}s"
        attempts = [
            (
                f"att_{tag}{i:013d}s",
                pid,
                "sale",
                channel_id,
                sale_req,
                "approved",
                "00",
                None,
                None,
                80,
                amount,
                None,
                at,
            )
        ]
        latency = timedelta(milliseconds=rng.randint(40, 900))
        lines = [
            StatementLine(
                channel_id,
                StatementKind.CAPTURE,
                sale_req,
                f"cref_{tag}{i:013d}s",
                auth_ref,
                pid,
                amount,
                "CNY",
                fee_for(amount, FEE_BPS),
                at + latency,
            )
        ]
        if refund:
            rat = at + timedelta(seconds=rng.uniform(1, 86_398 - (at - start).total_seconds()))
            rat = min(rat, start + timedelta(seconds=86_397))
            req = f"req_{tag}{i:013d}r"
            attempts.append(
                (
                    f"att_{tag}{i:013d}r",
                    pid,
                    "refund",
                    channel_id,
                    req,
                    "approved",
                    "00",
                    None,
                    None,
                    80,
                    refunded,
                    None,
                    rat,
                )
            )
            lines.append(
                StatementLine(
                    channel_id,
                    StatementKind.REFUND,
                    req,
                    f"cref_{tag}{i:013d}r",
                    auth_ref,
                    pid,
                    refunded,
                    "CNY",
                    0,
                    rat + latency,
                )
            )
        made += len(lines)
        yield payment, attempts, lines


async def seed_books(
    db: Database, *, n: int, seed: int, day: date, channel_id: str = CHANNEL
) -> Books:
    """Write `n` movements' worth of our side for `channel_id` on `day`; the statement the
    channel would send for them."""
    merchant_id = new_id("mer")
    now = clock.now()
    merchant: dict[str, Any] = {
        "id": merchant_id,
        "name": "Reconciliation bench",
        "legal_name": None,
        "status": "active",
        "currency": "CNY",
        "per_payment_limit": None,
        "daily_limit": None,
        "fee_plan_id": None,
        "metadata": {},
        "created_at": now,
    }
    lines: list[StatementLine] = []
    payments: list[tuple[Any, ...]] = []
    attempts: list[tuple[Any, ...]] = []
    for payment, its_attempts, its_lines in _movements(n, seed, day, channel_id):
        payments.append((payment[0], merchant_id, *payment[2:]))
        attempts.extend(its_attempts)
        lines.extend(its_lines)
    lines.sort(key=lambda ln: ln.occurred_at)
    if not db.is_sqlite:
        async with pg.transaction(db) as conn:
            await conn.execute(
                "INSERT INTO merchants (id, name, status, currency, metadata, created_at) "
                "VALUES ($1, $2, 'active', 'CNY', '{}', $3)",
                merchant_id,
                merchant["name"],
                now,
            )
            await conn.copy_records_to_table(
                "payments", records=payments, columns=list(_PAYMENT_COLUMNS)
            )
            await conn.copy_records_to_table(
                "payment_attempts", records=attempts, columns=list(_ATTEMPT_COLUMNS)
            )
        # As autovacuum would after such a load: the planner must know the tables' size.
        async with pg.transaction(db) as conn:
            await conn.execute("ANALYZE payments")
            await conn.execute("ANALYZE payment_attempts")
        return Books(day, lines)

    async def write(session: Any) -> None:
        await session.execute(insert(_MERCHANTS), [merchant])
        for rows, table, columns in (
            (payments, _PAYMENTS, _PAYMENT_COLUMNS),
            (attempts, _ATTEMPTS, _ATTEMPT_COLUMNS),
        ):
            for k in range(0, len(rows), 2000):
                batch = [dict(zip(columns, r, strict=True)) for r in rows[k : k + 2000]]
                for b in batch:
                    if "metadata" in b:
                        b["metadata"] = {}
                await session.execute(insert(table), batch)

    await db.run_in_transaction(write)
    return Books(day, lines)


async def _next_free_day(db: Database, channel_id: str) -> date:
    """A day after every earlier run and every recorded movement of this channel, so reruns
    on one database reconcile only what they wrote."""

    async def read(session: Any) -> tuple[Any, Any]:
        run = await session.scalar(
            select(func.max(RUNS.c.statement_date)).where(RUNS.c.channel_id == channel_id)
        )
        moved = await session.scalar(
            select(func.max(_ATTEMPTS.c.created_at)).where(_ATTEMPTS.c.channel_id == channel_id)
        )
        return run, moved

    run, moved = await db.run_in_transaction(read)
    latest = date(2030, 1, 4)
    if run is not None:
        latest = max(latest, run)
    if moved is not None:
        moved_day = (datetime.fromisoformat(moved) if isinstance(moved, str) else moved).date()
        latest = max(latest, moved_day)
    return latest + timedelta(days=3)


async def _copy_reference(db: Database, lines: list[StatementLine]) -> float | None:
    """Seconds to COPY the lines into a plain table (PostgreSQL only)."""
    if db.is_sqlite:
        return None
    records = [
        (
            n,
            ln.kind.value,
            ln.request_id,
            ln.channel_ref,
            ln.authorization_ref,
            ln.payment_id,
            ln.amount,
            ln.currency,
            ln.fee,
            ln.occurred_at,
        )
        for n, ln in enumerate(lines, start=1)
    ]
    async with pg.transaction(db) as conn:
        await conn.execute(
            "CREATE TEMP TABLE bench_copy (line_no integer, kind text, request_id text, "
            "channel_ref text, authorization_ref text, payment_id text, amount bigint, "
            "currency text, fee bigint, occurred_at timestamptz) ON COMMIT DROP"
        )
        started = time.perf_counter()
        await conn.copy_records_to_table("bench_copy", records=records)
        return time.perf_counter() - started


async def _found(db: Database, run_id: str) -> set[tuple[str, str]]:
    async def read(session: Any) -> set[tuple[str, str]]:
        rows = await session.execute(
            select(BREAKS.c.type, BREAKS.c.request_id).where(BREAKS.c.run_id == run_id)
        )
        return {(r.type, r.request_id or "") for r in rows}

    found: set[tuple[str, str]] = await db.run_in_transaction(read)
    return found


async def measure(
    db: Database,
    *,
    lines: int,
    breaks: int,
    seed: int,
    progress: Progress | None = None,
    channel_id: str = CHANNEL,
) -> dict[str, Any]:
    """Seed, inject, reconcile from CSV, score; then the next day's late lines."""
    task = progress.add_task("writing our side", total=4) if progress else None

    def step(what: str) -> None:
        if progress is not None and task is not None:
            progress.update(task, advance=1, description=what)

    day = await _next_free_day(db, channel_id)
    books = await seed_books(db, n=lines, seed=seed, day=day, channel_id=channel_id)
    step("injecting breaks")
    _, end = day_bounds(day)
    injected = inject(
        books.lines, Injection.spread(breaks), seed=seed, day_end=end, late_window=LATE_WINDOW
    )
    data = to_csv(injected.statement)
    copy_seconds = await _copy_reference(db, injected.statement)
    step("reconciling")
    phases: dict[str, float] = {}
    started = time.perf_counter()
    run, _ = await db.run_in_transaction(
        lambda s: service.run_csv(s, channel_id=channel_id, day=day, data=data, phases=phases)
    )
    seconds = time.perf_counter() - started
    # What the engine's phases do not cover: hashing the file, the run's row, the audit
    # event and the commit.
    phases["run row, audit, commit"] = seconds - sum(phases.values())
    step("scoring and the next day")
    found = await _found(db, run.id)
    expected = injected.expected()
    next_day = day + timedelta(days=1)
    next_data = to_csv(injected.next_day)
    following, _ = await db.run_in_transaction(
        lambda s: service.run_csv(s, channel_id=channel_id, day=next_day, data=next_data)
    )
    step("done")
    return {
        "database": "sqlite" if db.is_sqlite else "postgresql",
        "channel": channel_id,
        "statement_date": day.isoformat(),
        "recon_lines": run.lines,
        "recon_seconds": round(seconds, 3),
        "recon_engine_ms": run.duration_ms,
        "recon_phase_seconds": {name: round(took, 3) for name, took in phases.items()},
        "recon_breaks_injected": len(expected),
        "recon_breaks_found": len(found & expected),
        "recon_false_breaks": len(found - expected),
        "recon_missed_breaks": len(expected - found),
        "recon_break_counts": run.break_counts,
        "recon_matched": run.matched_count,
        "recon_timing_injected": sum(1 for b in injected.truth if b.type == "timing"),
        "recon_timing_closed_next_day": following.timing_closed,
        "recon_next_day_breaks": following.breaks_found,
        "reference": "COPY of the same lines into a plain table" if copy_seconds else None,
        "reference_seconds": round(copy_seconds, 3) if copy_seconds else None,
        "ratio_vs_reference": round(seconds / copy_seconds, 2) if copy_seconds else None,
        "target": f"recon_seconds ≤ {TARGET_SECONDS:g} with every break found, none false",
        "target_met": seconds <= TARGET_SECONDS and found == expected,
        "csv_bytes": len(data),
        # Other work on the machine slows both the run and the reference alike.
        "load_per_core": round(os.getloadavg()[0] / (os.cpu_count() or 1), 2),
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def recon_command(
    lines: Annotated[int, typer.Option(min=100, help="Statement lines to reconcile.")] = 1_000_000,
    breaks: Annotated[
        int, typer.Option(min=5, help="Breaks to inject (spread over types).")
    ] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the books and the injection.")] = 7,
    database_url: Annotated[
        str | None, typer.Option(help="Database to run on (default: the configured one).")
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the figures here.")
    ] = None,
) -> None:
    """Reconcile a day of N statement lines with injected breaks; score and time it."""
    url = database_url or get_settings().database_url

    async def main(progress: Progress) -> dict[str, Any]:
        db = Database(url, pool_size=2)
        try:
            await upgrade(db.engine)
            return await measure(db, lines=lines, breaks=breaks, seed=seed, progress=progress)
        finally:
            await db.dispose()

    with Progress(console=console) as progress:
        result = asyncio.run(main(progress))
    table = Table(title=f"Reconciliation of {result['recon_lines']:,} lines ({result['database']})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key in (
        "recon_seconds",
        "reference_seconds",
        "ratio_vs_reference",
        "recon_breaks_injected",
        "recon_breaks_found",
        "recon_false_breaks",
        "recon_missed_breaks",
        "recon_timing_closed_next_day",
    ):
        table.add_row(key, str(result[key]))
    console.print(table)
    phases = Table(title="Where the run's seconds went")
    phases.add_column("phase")
    phases.add_column("seconds", justify="right")
    for name, took in result["recon_phase_seconds"].items():
        phases.add_row(name, f"{took:.3f}")
    console.print(phases)
    met = "[green]met[/]" if result["target_met"] else "[red]missed[/]"
    console.print(f"{met}  {result['target']}")
    if json_path is not None:
        json_path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
