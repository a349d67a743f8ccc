"""ISO 20022 camt.053.001.08 statements as a reconciliation source: the file is read and
validated whole (XSD and PayHub's rules) before anything is written, then its booked
entries go to the same staging and matching as a CSV statement's lines.

The channel and day come from the caller, or else from the statement itself: its account
(a channel's statement is kept under the channel's id) and the UTC day its period starts.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date

from sqlalchemy.ext.asyncio import AsyncSession

from payhub.channels.base import StatementLine
from payhub.db.sql import Sql
from payhub.iso20022 import camt053
from payhub.settlement.reconciliation import service
from payhub.settlement.reconciliation.engine import day_bounds
from payhub.settlement.reconciliation.statements import file_hash


@dataclass(frozen=True, slots=True)
class Camt053Statement:
    channel_id: str
    day: date
    lines: list[StatementLine]


def read(
    data: bytes, *, channel_id: str | None = None, day: date | None = None
) -> Camt053Statement:
    """The statement's booked entries as `channel_id`'s lines (default: its account), for
    `day` (default: the UTC day its period starts); `invalid_file` for a bad file."""
    stream = camt053.StatementStream(io.BytesIO(data))
    entries = list(stream.entries())  # the whole file is validated here, before any use
    head = stream.head()
    owner = channel_id or head.account
    lines = [
        camt053.line_of(entry, owner, i)
        for i, entry in enumerate(entries)
        if entry.status == camt053.BOOKED
    ]
    return Camt053Statement(owner, day or head.period_start.astimezone(UTC).date(), lines)


def write(
    channel_id: str, day: date, lines: list[StatementLine], *, currency: str = "CNY"
) -> bytes:
    """A channel's day as a camt.053 statement (the simulator's and the drills' format)."""
    start, end = day_bounds(day)
    statement = camt053.from_lines(
        channel_id,
        (start, end),
        lines,
        0,
        currency=None if lines else currency,
        created_at=end,
    )
    return camt053.write(statement)


async def run_camt053(
    tx: AsyncSession | Sql,
    *,
    data: bytes,
    channel_id: str | None = None,
    day: date | None = None,
    custody: dict[str, int] | None = None,
) -> tuple[service.RunView, bool]:
    """`run_statement` for a camt.053 statement as received."""
    statement = read(data, channel_id=channel_id, day=day)
    service.check_channel(statement.channel_id)
    return await service.run_statement(
        tx,
        channel_id=statement.channel_id,
        day=statement.day,
        lines=statement.lines,
        statement_hash=file_hash(data),
        custody=custody,
    )
