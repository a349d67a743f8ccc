"""Resolving breaks: the proposed journal posted balanced and once, write-offs, explained
breaks, and nothing half-written on bad input; concurrent resolutions post once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text

from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.settlement.reconciliation import service
from payhub.settlement.reconciliation.engine import DEFAULT_LATE_WINDOW, day_bounds
from payhub.settlement.reconciliation.injection import Injection, inject
from payhub.settlement.reconciliation.proposals import SUSPENSE, WRITE_OFFS
from payhub.settlement.reconciliation.statements import to_csv
from tests.conftest import requires_postgres
from tests.payments.helpers import balance, count_rows
from tests.settlement.reconciliation.helpers import CHANNEL, DAY, books, breaks_of, run

CLEARING = f"channel:{CHANNEL}:clearing"


async def _broken(db: Database, **plan: int) -> list[dict[str, Any]]:
    our = await books(db, 150)
    _, end = day_bounds(DAY)
    injected = inject(
        our.lines, Injection(**plan), seed=3, day_end=end, late_window=DEFAULT_LATE_WINDOW
    )
    view = await run(db, DAY, to_csv(injected.statement))
    return await breaks_of(db, view.id)


async def _resolve(db: Database, break_id: str, action: str, reason: str = "checked") -> Any:
    return await db.run_in_transaction(
        lambda s: service.resolve_break(s, break_id, action=action, reason=reason)
    )


async def _entries(db: Database, journal_id: str) -> list[tuple[str, str, int]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT a.code, e.side, e.amount FROM ledger_entries e "
                "JOIN ledger_accounts a ON a.id = e.account_id "
                "WHERE e.journal_id = (SELECT id FROM ledger_journals WHERE id = :j) "
                "ORDER BY e.side"
            ),
            {"j": journal_id},
        )
        return [(r[0], r[1], int(r[2])) for r in rows]


async def test_post_proposed_posts_the_balanced_correction_once(db: Database) -> None:
    (brk,) = await _broken(db, missing_in_ledger=1)
    assert brk["difference"] > 0  # the channel says it owes us a capture we never saw
    view = await _resolve(db, brk["id"], "post_proposed", "channel confirmed the capture")
    assert (view.status, view.resolution, view.journal_id) == (
        "resolved",
        "post_proposed",
        f"recon:{brk['id']}",
    )
    entries = await _entries(db, view.journal_id)
    amount = brk["difference"]
    assert sorted(entries) == sorted([(CLEARING, "debit", amount), (SUSPENSE, "credit", amount)])
    before = await count_rows(db, "ledger_journals", "ledger_entries", "audit_events")
    # The same resolution again: the break as it is, nothing posted twice.
    again = await _resolve(db, brk["id"], "post_proposed", "channel confirmed the capture")
    assert again.journal_id == view.journal_id
    after = await count_rows(db, "ledger_journals", "ledger_entries", "audit_events")
    assert after == before
    assert await balance(db, CLEARING) is not None


async def test_write_off_posts_against_write_offs(db: Database) -> None:
    (brk,) = await _broken(db, missing_on_statement=1)
    view = await _resolve(db, brk["id"], "write_off", "below the chase threshold")
    amount = -brk["difference"]
    assert sorted(await _entries(db, view.journal_id)) == sorted(
        [(WRITE_OFFS, "debit", amount), (CLEARING, "credit", amount)]
    )


async def test_mark_explained_posts_nothing(db: Database) -> None:
    (brk,) = await _broken(db, duplicate=1)
    before = await count_rows(db, "ledger_journals")
    view = await _resolve(db, brk["id"], "mark_explained", "the channel withdrew the line")
    assert (view.resolution, view.journal_id) == ("mark_explained", None)
    assert await count_rows(db, "ledger_journals") == before


async def test_bad_resolutions_write_nothing(db: Database) -> None:
    found = await _broken(db, timing=1, amount_mismatch=1)
    timing = next(b for b in found if b["type"] == "timing")
    mismatch = next(b for b in found if b["type"] == "amount_mismatch")
    tables = ("ledger_journals", "ledger_entries", "ledger_accounts", "audit_events")
    before = await count_rows(db, *tables)
    for break_id, action, reason, code in (
        (timing["id"], "post_proposed", "x", "reconciliation_no_journal"),
        (mismatch["id"], "delete", "x", "validation_error"),
        (mismatch["id"], "post_proposed", "   ", "validation_error"),
        ("rcb_01M97X1Y0FACK9ZWKPWB31BB2Y", "mark_explained", "x", "reconciliation_break_not_found"),
    ):
        with pytest.raises(PayHubError) as refused:
            await _resolve(db, break_id, action, reason)
        assert refused.value.code == code
    assert await count_rows(db, *tables) == before
    assert {b["status"] for b in await breaks_of(db, mismatch["run_id"])} == {"open"}
    await _resolve(db, mismatch["id"], "mark_explained", "FX rounding agreed")
    with pytest.raises(PayHubError) as refused:
        await _resolve(db, mismatch["id"], "post_proposed", "changed my mind")
    assert refused.value.code == "reconciliation_break_resolved"


async def test_a_resolution_is_audited(db: Database) -> None:
    (brk,) = await _broken(db, missing_in_ledger=1)
    await _resolve(db, brk["id"], "post_proposed", "confirmed")
    async with db.engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT target_id FROM audit_events WHERE action = :a"),
                {"a": "reconciliation.break_resolved"},
            )
        ).all()
    assert [r[0] for r in rows] == [brk["id"]]


@requires_postgres
async def test_concurrent_resolutions_post_the_journal_once(db: Database) -> None:
    (brk,) = await _broken(db, amount_mismatch=1)
    results = await asyncio.gather(
        *(_resolve(db, brk["id"], "post_proposed", "agreed") for _ in range(6)),
        return_exceptions=True,
    )
    assert all(not isinstance(r, BaseException) for r in results), results
    assert {r.journal_id for r in results} == {f"recon:{brk['id']}"}
    assert len(await _entries(db, f"recon:{brk['id']}")) == 2
