"""camt.053 statements as a reconciliation source: every break type found from a camt.053
statement exactly as from the same statement in CSV, the channel and day taken from the
file, the CLI and the simulator's camt.053 statement; bad files refused writing nothing."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from payhub.cli import app
from payhub.core.config import reset_settings_cache
from payhub.db.session import Database
from payhub.iso20022 import camt053
from payhub.settlement.reconciliation import camt053_source
from payhub.settlement.reconciliation.engine import DEFAULT_LATE_WINDOW, day_bounds
from payhub.settlement.reconciliation.injection import Injection, inject
from payhub.settlement.reconciliation.statements import to_csv
from tests.api.helpers import assert_error
from tests.payments.helpers import count_rows
from tests.settlement.reconciliation.helpers import CHANNEL, DAY, books, breaks_of, found, run

R = "/v1/reconciliation"
TABLES = ("reconciliation_runs", "reconciliation_breaks", "ledger_journals")
XML = {"content-type": "application/xml"}
_DAYS = itertools.count()


def _inject(lines: list[Any], plan: Injection, day: Any, seed: int = 5) -> Any:
    _, end = day_bounds(day)
    return inject(lines, plan, seed=seed, day_end=end, late_window=DEFAULT_LATE_WINDOW)


async def _breaks(db: Database, run_id: str) -> list[tuple[Any, ...]]:
    """What a run found, without the ids a second run gives its own rows."""
    keep = ("type", "kind", "request_id", "channel_ref", "statement_amount", "difference")
    rows = [tuple(b[k] for k in keep) for b in await breaks_of(db, run_id)]
    return sorted(rows, key=repr)


@pytest.mark.parametrize(
    "plan",
    [
        Injection(missing_on_statement=3),
        Injection(missing_in_ledger=3),
        Injection(amount_mismatch=3),
        Injection(duplicate=3),
        Injection(timing=3),
        Injection(2, 2, 2, 2, 2, 4),  # every type, and lost references
    ],
    ids=[
        "missing_on_statement",
        "missing_in_ledger",
        "amount_mismatch",
        "duplicate",
        "timing",
        "all",
    ],
)
async def test_every_break_type_is_found_from_camt053_as_from_csv(
    db: Database, client: httpx.AsyncClient, plan: Injection
) -> None:
    """The same broken statement, as CSV on one day and as camt.053 (uploaded, channel and
    day read from the file) on a copy of that day: the same breaks, exactly the injected."""
    day = DAY + timedelta(days=4 * next(_DAYS) + 60)
    our = await books(db, 150, day=day)
    injected = _inject(our.lines, plan, day)
    from_csv = await run(db, day, to_csv(injected.statement))
    expected = await _breaks(db, from_csv.id)

    # Undo the CSV run's work on the same books: a fresh day of the same lines would need
    # fresh books, so the camt.053 run reads the same books after the CSV run is removed.
    async with db.engine.begin() as conn:
        await conn.exec_driver_sql("DELETE FROM reconciliation_breaks")
        await conn.exec_driver_sql("DELETE FROM reconciliation_runs")
    data = camt053_source.write(CHANNEL, day, list(injected.statement))
    made = await client.post(f"{R}/runs", content=data, headers=XML)
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["channel"], body["date"]) == (CHANNEL, day.isoformat())
    assert await found(db, body["id"]) == injected.expected()
    assert await _breaks(db, body["id"]) == expected
    assert body["matched_count"] == from_csv.matched_count
    again = await client.post(f"{R}/runs", content=data, headers=XML)
    assert again.status_code == 200 and again.json()["id"] == body["id"]


@pytest.mark.parametrize("case", ["not xml", "xsd", "other message", "foreign entry"])
async def test_a_bad_camt053_is_invalid_file_and_writes_nothing(
    db: Database, client: httpx.AsyncClient, case: str
) -> None:
    our = await books(db, 20)
    good = camt053_source.write(CHANNEL, DAY, list(our.lines))
    data = {
        "not xml": b"<Document><Stmt>",
        "xsd": good.replace(b"<Cd>BOOK</Cd>", b"<Cd>BOOKED</Cd>", 1),
        "other message": b'<?xml version="1.0"?><Document xmlns="urn:x"/>',
        "foreign entry": good.replace(b"<Issr>PayHub</Issr>", b"<Issr>Other</Issr>", 1),
    }[case]
    before = await count_rows(db, *TABLES)
    answer = await client.post(f"{R}/runs", content=data, headers=XML, params={"channel": CHANNEL})
    error = assert_error(answer, 400, "invalid_file")
    assert not any(ln.channel_ref in error["message"] for ln in our.lines)
    assert await count_rows(db, *TABLES) == before


async def test_query_parameters_name_the_channel_and_day(
    db: Database, client: httpx.AsyncClient
) -> None:
    our = await books(db, 20)
    statement = camt053.from_lines("custody-1234", day_bounds(DAY), our.lines, 0)
    data = camt053.write(statement)
    unknown = await client.post(f"{R}/runs", content=data, headers=XML)
    assert_error(unknown, 400, "reconciliation_channel_unknown")
    params = {"channel": CHANNEL, "date": DAY.isoformat()}
    made = await client.post(f"{R}/runs", content=data, headers=XML, params=params)
    assert made.status_code == 201, made.text
    assert made.json()["break_counts"] == {} and made.json()["lines"] == len(our.lines)


async def test_the_cli_writes_and_reconciles_camt053(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = DAY + timedelta(days=4 * next(_DAYS) + 60)
    our = await books(db, 60, day=day)
    injected = _inject(our.lines, Injection(missing_in_ledger=2, duplicate=1), day)
    file = tmp_path / "statement.xml"
    file.write_bytes(camt053_source.write(CHANNEL, day, list(injected.statement)))
    monkeypatch.setenv("PAYHUB_DATABASE_URL", db.url)
    reset_settings_cache()
    try:
        result = await asyncio.to_thread(
            CliRunner().invoke, app, ["recon", "run", "--camt053", str(file)]
        )
    finally:
        reset_settings_cache()
    assert result.exit_code == 0, result.output
    assert "duplicate 1" in result.output and "missing_in_ledger 2" in result.output
