"""`payhub recon …` and `payhub bench recon` through the real command line."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from payhub.db.session import Database
from payhub.iso20022 import camt053
from payhub.settlement.reconciliation.engine import DEFAULT_LATE_WINDOW, day_bounds
from payhub.settlement.reconciliation.injection import Injected, Injection, inject
from payhub.settlement.reconciliation.statements import to_csv
from tests.processes import fresh_database, table_rows
from tests.settlement.reconciliation.helpers import CHANNEL, DAY, books
from tests.test_cli import Cli, flat


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    with fresh_database(tmp_path) as url:
        cli = Cli(url, tmp_path)
        cli.run("migrate")
        yield cli


def _statement(cli: Cli) -> Injected:
    async def seed() -> Injected:
        db = Database(cli.database_url, pool_size=1)
        try:
            our = await books(db, 120)
        finally:
            await db.dispose()
        _, end = day_bounds(DAY)
        return inject(
            our.lines,
            Injection(missing_on_statement=1, duplicate=1),
            seed=4,
            day_end=end,
            late_window=DEFAULT_LATE_WINDOW,
        )

    return asyncio.run(seed())


def test_run_report_breaks_and_resolve(cli: Cli) -> None:
    injected = _statement(cli)
    path = cli.directory / "statement.csv"
    path.write_bytes(to_csv(injected.statement))
    day = DAY.isoformat()
    out = flat(
        cli.run("recon", "run", "--channel", CHANNEL, "--date", day, "--file", str(path)).stdout
    )
    assert "duplicate 1, missing_on_statement 1" in out
    report = {
        r[0]: r[1]
        for r in table_rows(cli.run("recon", "report", "--channel", CHANNEL, "--date", day).stdout)
    }
    assert report["breaks: duplicate"] == "1" and report["open breaks"] == "2"
    rows = table_rows(cli.run("recon", "breaks", "--status", "open").stdout)
    missing = next(r for r in rows if r[3] == "missing_on_statement")
    done = flat(
        cli.run(
            "recon", "resolve", missing[0], "--action", "post_proposed", "--reason", "chasing"
        ).stdout
    )
    assert f"{missing[0]}: post_proposed, journal recon:{missing[0]}" in done
    posted = cli.query(f"SELECT COUNT(*) FROM ledger_journals WHERE id = 'recon:{missing[0]}'")
    assert posted[0][0] == 1
    actor = cli.query(
        "SELECT actor FROM audit_events WHERE action = 'reconciliation.break_resolved'"
    )
    assert actor[0][0].startswith("cli:")


def test_bad_input_is_refused_with_catalogue_errors(cli: Cli) -> None:
    bad = cli.write("bad.csv", "channel_id,kind\n")
    day = DAY.isoformat()
    assert "statement_malformed" in cli.fail(
        "recon", "run", "--channel", CHANNEL, "--date", day, "--file", bad
    )
    assert "reconciliation_channel_unknown" in cli.fail(
        "recon", "run", "--channel", "nobank", "--date", day, "--file", bad
    )
    assert "validation_error" in cli.fail("recon", "report", "--channel", CHANNEL, "--date", "x")
    assert cli.query("SELECT COUNT(*) FROM reconciliation_runs")[0][0] == 0


def test_bench_recon_writes_its_figures(cli: Cli) -> None:
    out = cli.directory / "recon.json"
    cli.run("bench", "recon", "--lines", "400", "--breaks", "10", "--json", str(out))
    figures = json.loads(out.read_text())
    assert figures["recon_lines"] >= 400
    assert figures["recon_breaks_found"] == figures["recon_breaks_injected"] == 10
    assert figures["recon_false_breaks"] == 0 and figures["recon_missed_breaks"] == 0
    assert figures["recon_timing_closed_next_day"] == figures["recon_timing_injected"] == 2


def test_statement_export(cli: Cli) -> None:
    """The channel's own statement as CSV (this process's simulator has settled nothing):
    the layout's header alone; refusals for an unknown channel or breaks with no lines."""
    out = cli.directory / "partner.csv"
    day = DAY.isoformat()
    done = flat(
        cli.run(
            "recon", "statement", "--channel", "partner_bank", "--date", day, "--out", str(out)
        ).stdout
    )
    assert done.startswith("0 lines written")
    assert out.read_text().startswith("channel_id,kind,request_id,channel_ref,")
    assert "reconciliation_channel_unknown" in cli.fail(
        "recon", "statement", "--channel", "nobank", "--date", day, "--out", str(out)
    )
    assert "validation_error" in cli.fail(
        "recon", "statement", "--channel", "partner_bank", "--date", day, "--out", str(out),
        "--breaks", "5",
    )  # fmt: skip


def test_statement_export_as_camt053(cli: Cli) -> None:
    """The channel's own statement as camt.053 (empty here: a valid statement with its
    booked balances and no entry), reconciled from the file alone."""
    out = cli.directory / "partner.xml"
    day = DAY.isoformat()
    done = flat(
        cli.run(
            "recon", "statement", "--channel", "partner_bank", "--date", day, "--out", str(out),
            "--format", "camt053",
        ).stdout
    )  # fmt: skip
    assert done.startswith("0 lines written")
    statement = camt053.read(out.read_bytes())
    assert (statement.account, statement.entries) == ("partner_bank", ())
    ran = flat(cli.run("recon", "run", "--camt053", str(out)).stdout)
    assert "partner_bank" in ran and day in ran
    assert "validation_error" in cli.fail(
        "recon", "statement", "--channel", "partner_bank", "--date", day, "--out", str(out),
        "--format", "pdf",
    )  # fmt: skip
