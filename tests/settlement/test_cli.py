"""`payhub settlement …` as the real console script on a fresh database: settings
(refusing bad input), a run with its progress, balances, the register, channel
settlement and the calendar."""

from __future__ import annotations

import asyncio
from pathlib import Path

from payhub.core.clock import FrozenClock, use_clock
from payhub.db.session import Database
from tests.processes import fresh_database, run_payhub, table_rows
from tests.settlement.helpers import beijing
from tests.settlement.test_properties import _open, _pay


def _capture(url: str) -> str:
    """A merchant that captured 12 345 on Tuesday 1 December 2026 (in the past, so the
    commands, on the real clock, find it due)."""

    async def go() -> str:
        db = Database(url, pool_size=2)
        try:
            with use_clock(FrozenClock(beijing(2026, 12, 1, 10, 0))):
                merchant_id, card = await _open(db)
                await _pay(db, merchant_id, card, 12_345)
            return merchant_id
        finally:
            await db.dispose()

    return asyncio.run(go())


def test_settlement_from_the_command_line(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as url:

        def payhub(*args: str, expect: int = 0) -> str:
            done = run_payhub(*args, database_url=url, cwd=tmp_path)
            assert done.returncode == expect, f"{args}: {done.stdout}{done.stderr}"
            assert "Traceback" not in done.stderr
            return done.stdout if expect == 0 else done.stderr

        payhub("migrate")
        merchant = _capture(url)
        refused = payhub("settlement", "settings", "set", merchant, "--cutoff", "25:00", expect=2)
        assert "settlement_setting_invalid" in refused
        shown = payhub(
            "settlement", "settings", "set", merchant, "--reserve-bps", "100",
            "--reserve-days", "3",
        )  # fmt: skip
        assert table_rows(shown)[0][:4] == ["t1", "23:00", "100 bps", "3 days"]
        ran = payhub("settlement", "run")
        # 12 345 less the default plan's 0.6 % fee (74) booked at capture.
        assert "1 merchants: 1 daily runs, 12271 settled" in ran
        balances = table_rows(payhub("settlement", "balances", merchant))
        assert balances[0][0] == "CNY"
        # 1 % of 12 271 held in reserve (122.71 → 123), the rest available.
        assert "121.48" in balances[0][2] and "1.23" in balances[0][3]
        listed = table_rows(payhub("settlement", "list", "--merchant", merchant))
        assert listed[0][2] == "daily" and listed[0][5].startswith("stl_d_")
        assert "1 merchants: 0 daily runs" in payhub("settlement", "run")  # idempotent
        payhub("settlement", "channels", "--list")
        calendar = payhub("settlement", "calendar", "--year", "2026")
        assert "Spring Festival" in calendar and "2026-10-10" in calendar
        assert "provisional" not in calendar
        provisional = payhub("settlement", "calendar", "--year", "2027")
        assert "provisional" in provisional and "2027-02-10" in provisional
        assert "calendar_unknown" in payhub("settlement", "calendar", "--country", "ZZ", expect=2)
        missing_year = payhub("settlement", "calendar", "--year", "2031", expect=2)
        assert "calendar_year_unknown" in missing_year and "2031" in missing_year
        assert "merchant_not_found" in payhub(
            "settlement", "balances", "mer_01M97DC3WE0MD7H9ACKEA220F5", expect=2
        )
