"""The matching engine: every break type found alone and mixed, nothing else; timing
breaks carried and closed (or escalated) by the next statement; pass two by amount,
currency and time; the three-way check; reruns."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.settlement.reconciliation import engine, service
from payhub.settlement.reconciliation.engine import DEFAULT_LATE_WINDOW, day_bounds
from payhub.settlement.reconciliation.injection import Injection, inject
from payhub.settlement.reconciliation.statements import to_csv
from tests.settlement.reconciliation.helpers import CHANNEL, DAY, books, breaks_of, found, run

_DAYS = itertools.count()


def _inject(lines: list[Any], plan: Injection, seed: int = 5, day: Any = DAY) -> Any:
    _, end = day_bounds(day)
    return inject(lines, plan, seed=seed, day_end=end, late_window=DEFAULT_LATE_WINDOW)


async def test_a_true_statement_reconciles_with_no_break(db: Database) -> None:
    our = await books(db)
    view = await run(db, DAY, to_csv(our.lines))
    assert view.breaks_found == 0 and view.break_counts == {}
    assert view.lines == view.matched_count == len(our.lines)
    signed = sum(-ln.amount if ln.kind.value == "refund" else ln.amount for ln in our.lines)
    assert view.matched_amounts == {"CNY": signed}
    assert view.statement_net == {"CNY": sum(ln.net for ln in our.lines)}


@pytest.mark.parametrize(
    "break_type",
    ["missing_on_statement", "missing_in_ledger", "amount_mismatch", "duplicate", "timing"],
)
async def test_each_break_type_alone_is_found_and_nothing_else(
    db: Database, break_type: str
) -> None:
    our = await books(db, 150)
    injected = _inject(our.lines, Injection(**{break_type: 3}))
    view = await run(db, DAY, to_csv(injected.statement))
    assert await found(db, view.id) == injected.expected()
    assert view.break_counts == {break_type: 3}


async def test_breaks_carry_the_proposed_correcting_journal(db: Database) -> None:
    our = await books(db, 150)
    injected = _inject(
        our.lines,
        Injection(
            missing_on_statement=1, missing_in_ledger=1, amount_mismatch=2, duplicate=1, timing=1
        ),
    )
    view = await run(db, DAY, to_csv(injected.statement))
    clearing = f"channel:{CHANNEL}:clearing"
    for b in await breaks_of(db, view.id):
        journal = b["proposed_journal"]
        if b["type"] == "timing":
            assert journal is None  # clears itself on the next statement
            continue
        debit, credit = journal["postings"]
        assert debit["amount"] == credit["amount"] == abs(b["difference"]) > 0
        assert (debit["side"], credit["side"]) == ("debit", "credit")
        assert clearing in (debit["account"], credit["account"])
        # The clearing account moves by the difference: debited when the channel owes more.
        assert (debit["account"] == clearing) == (b["difference"] > 0)
        if b["type"] == "amount_mismatch" and b["difference"] == -(b["statement_fee"] or 0):
            assert f"channel:{CHANNEL}:fees" in (debit["account"], credit["account"])


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(min_value=0, max_value=10_000),
    counts=st.tuples(*[st.integers(min_value=0, max_value=4)] * 6),
)
async def test_for_any_seeded_injection_found_breaks_are_exactly_the_injected(
    db: Database, seed: int, counts: tuple[int, ...]
) -> None:
    """Every injected break found, of its type, and no false one; lost references (not a
    break) are matched by amount, currency and time."""
    day = DAY + timedelta(days=3 * next(_DAYS) + 30)
    our = await books(db, 160, seed=seed, day=day)
    try:
        injected = _inject(our.lines, Injection(*counts), seed=seed, day=day)
    except ValueError:
        return  # too few lines inside the late window for this many timing breaks
    view = await run(db, day, to_csv(injected.statement))
    assert await found(db, view.id) == injected.expected()
    # (Its counts may also hold earlier examples' timing breaks escalated by this run.)
    assert len(await breaks_of(db, view.id)) == len(injected.truth)
    not_matching = [
        _line_of(injected, b.request_id)
        for b in injected.truth
        if b.type in ("missing_in_ledger", "duplicate", "amount_mismatch")
    ]
    assert view.matched_count == len(injected.statement) - len(not_matching)
    # The totals too: what matched, signed by kind, and the statement's net as listed.
    assert view.matched_amounts == {"CNY": _signed(injected.statement) - _signed(not_matching)}
    assert view.statement_net == {"CNY": sum(ln.net for ln in injected.statement)}


def _line_of(injected: Any, request_id: str) -> Any:
    return next(ln for ln in injected.statement if ln.request_id == request_id)


def _signed(lines: list[Any]) -> int:
    return sum(-ln.amount if ln.kind.value == "refund" else ln.amount for ln in lines)


async def test_a_large_statements_plan_finds_the_same_breaks(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A statement past `SMALL_STATEMENT` lines is matched with whole-statement hash joins
    (PostgreSQL: nested loops off): the same breaks, counts and totals as index probes."""
    monkeypatch.setattr(engine, "SMALL_STATEMENT", 0)
    our = await books(db, 200, seed=11)
    plan = Injection(
        missing_on_statement=2, missing_in_ledger=2, amount_mismatch=2, duplicate=2, timing=2,
        lost_references=3,
    )  # fmt: skip
    injected = _inject(our.lines, plan, seed=11)
    view = await run(db, DAY, to_csv(injected.statement))
    assert await found(db, view.id) == injected.expected()
    assert view.matched_count == len(injected.statement) - 6
    following = await run(db, DAY + timedelta(days=1), to_csv(injected.next_day))
    assert following.timing_closed == 2 and following.breaks_found == 0


async def test_a_timing_break_is_carried_and_closed_by_the_next_statement(db: Database) -> None:
    our = await books(db, 150)
    injected = _inject(our.lines, Injection(timing=2))
    first = await run(db, DAY, to_csv(injected.statement))
    assert first.break_counts == {"timing": 2}
    following = await run(db, DAY + timedelta(days=1), to_csv(injected.next_day))
    # The late lines close the timing breaks and raise nothing: not reported twice.
    assert following.breaks_found == 0 and following.timing_closed == 2
    assert following.matched_count == 2
    closed = await breaks_of(db, first.id)
    assert {(b["status"], b["resolution"], b["closed_by_run_id"]) for b in closed} == {
        ("resolved", "auto_closed", following.id)
    }
    report = await _report(db, DAY + timedelta(days=1))
    assert report.open_breaks == 0


async def test_a_timing_break_whose_line_never_comes_becomes_missing(db: Database) -> None:
    our = await books(db, 150)
    injected = _inject(our.lines, Injection(timing=1))
    first = await run(db, DAY, to_csv(injected.statement))
    following = await run(db, DAY + timedelta(days=1), to_csv([]))
    assert following.break_counts == {"missing_on_statement": 1}
    (carried,) = await breaks_of(db, first.id)
    assert (carried["type"], carried["status"]) == ("missing_on_statement", "open")
    assert carried["proposed_journal"] is not None
    # Still one break: the next run made no new row for it.
    assert await breaks_of(db, following.id) == []


async def test_lines_without_our_reference_match_by_amount_currency_and_time(
    db: Database,
) -> None:
    our = await books(db, 100)
    blanked = [replace(ln, request_id="") for ln in our.lines]
    view = await run(db, DAY, to_csv(blanked))
    assert view.breaks_found == 0 and view.matched_count == len(our.lines)


async def test_a_line_without_reference_and_no_authorisation_match_is_missing(
    db: Database,
) -> None:
    our = await books(db, 100)
    lost = replace(our.lines[10], request_id="", authorization_ref="auth_someone_else")
    lines = [*our.lines[:10], lost, *our.lines[11:]]
    view = await run(db, DAY, to_csv(lines))
    assert view.break_counts == {"missing_in_ledger": 1, "missing_on_statement": 1}


async def test_three_way_custody_difference_is_a_break(db: Database) -> None:
    our = await books(db, 80)
    net = sum(ln.net for ln in our.lines)
    agreeing = await run(db, DAY, to_csv(our.lines), custody={"CNY": net})
    assert agreeing.custody_difference == {"CNY": 0} and agreeing.breaks_found == 0
    other_day = DAY + timedelta(days=20)
    more = await books(db, 80, seed=9, day=other_day)
    net = sum(ln.net for ln in more.lines)
    short = await run(db, other_day, to_csv(more.lines), custody={"CNY": net - 700})
    assert short.custody_difference == {"CNY": -700}
    assert short.break_counts == {"custody_mismatch": 1}


async def test_the_same_statement_again_gives_the_first_run(db: Database) -> None:
    our = await books(db, 50)
    data = to_csv(our.lines)
    first = await run(db, DAY, data)
    again, ran = await db.run_in_transaction(
        lambda s: service.run_csv(s, channel_id=CHANNEL, day=DAY, data=data)
    )
    assert (again.id, ran) == (first.id, False)
    with pytest.raises(PayHubError) as refused:
        await run(db, DAY, to_csv(our.lines[1:]))
    assert refused.value.code == "reconciliation_run_exists"


async def test_an_unknown_channel_is_refused(db: Database) -> None:
    with pytest.raises(PayHubError) as refused:
        await db.run_in_transaction(
            lambda s: service.run_csv(s, channel_id="nobank", day=DAY, data=to_csv([]))
        )
    assert refused.value.code == "reconciliation_channel_unknown"


async def _report(db: Database, day: Any) -> service.DailyReport:
    report: service.DailyReport = await db.run_in_transaction(
        lambda s: service.daily_report(s, channel_id=CHANNEL, day=day)
    )
    return report


async def test_daily_report_counts_and_ages(db: Database) -> None:
    our = await books(db, 150)
    injected = _inject(our.lines, Injection(missing_on_statement=2, duplicate=1, timing=1))
    view = await run(db, DAY, to_csv(injected.statement))
    report = await _report(db, DAY)
    assert report.run_id == view.id and report.matched_count == view.matched_count
    assert report.breaks_by_type["missing_on_statement"] == 2
    assert report.breaks_by_type["duplicate"] == 1 and report.breaks_by_type["timing"] == 1
    assert report.open_breaks == 4 and report.open_by_age == {"0-1d": 4, "2-7d": 0, ">7d": 0}
    later = await _report(db, DAY + timedelta(days=9))
    assert later.run_id is None and later.open_by_age == {"0-1d": 0, "2-7d": 0, ">7d": 4}


async def test_a_line_in_another_currency_than_ours_is_an_amount_mismatch(db: Database) -> None:
    """USD is not the channel's currency (its lines are checked against the whole ISO
    list, after the channel's own): staged, and its pair's currency differs from ours."""
    our = await books(db, 60)
    other = replace(our.lines[7], currency="USD")
    lines = [*our.lines[:7], other, *our.lines[8:]]
    view = await run(db, DAY, to_csv(lines))
    assert await found(db, view.id) == {("amount_mismatch", other.request_id)}
    assert view.statement_net.keys() == {"CNY", "USD"}
    assert view.matched_count == len(lines) - 1 and set(view.matched_amounts) == {"CNY"}
