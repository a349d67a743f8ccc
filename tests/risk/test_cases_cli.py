"""`payhub aml …` in subprocesses: list alerts, work a case from opening to closing as
suspicious, generate a day's large-value report, export it, mark it filed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest

from payhub.core.clock import FrozenClock, use_clock
from payhub.core.ids import new_id
from payhub.db.session import Database
from payhub.events import service as events
from payhub.risk.reports.files import parse_csv, parse_xml
from tests.processes import fresh_database, run_payhub, table_rows
from tests.risk.aml_helpers import PAN, Ledger, raise_alert

T = TypeVar("T")


class Aml:
    def __init__(self, url: str, directory: Path) -> None:
        self.url = url
        self.directory = directory

    def run(self, *args: str, expect: int = 0) -> str:
        done = run_payhub(*args, database_url=self.url, cwd=self.directory)
        assert done.returncode == expect, f"payhub {' '.join(args)}: {done.stdout}{done.stderr}"
        assert "Traceback" not in done.stderr
        return done.stdout if expect == 0 else done.stderr

    def db(self, work: Callable[[Database], Awaitable[T]]) -> T:
        async def go() -> T:
            db = Database(self.url, pool_size=1)
            try:
                return await work(db)
            finally:
                await db.dispose()

        return asyncio.run(go())


@pytest.fixture
def aml(tmp_path: Path) -> Iterator[Aml]:
    with fresh_database(tmp_path) as url:
        tool = Aml(url, tmp_path)
        tool.run("migrate")
        yield tool


def test_a_case_and_a_report_from_the_command_line(aml: Aml) -> None:
    async def setup(db: Database) -> tuple[str, str, str]:
        shop = await Ledger.open(db)
        customer = await shop.customer()
        paid, _ = await shop.pay(customer, 50_000_000, datetime(2026, 12, 1, 1, tzinfo=UTC))
        alert = await raise_alert(db, typology="structuring", subject_id=customer)
        return alert.id, paid, customer

    alert_id, payment_id, customer = aml.db(setup)
    listed = table_rows(aml.run("aml", "alerts", "--status", "open"))
    assert [r[0] for r in listed] == [alert_id] and "structuring" in listed[0]

    opened = aml.run("aml", "cases", "open", alert_id, "--title", "Split deposits")
    case_id = opened.split()[2]
    assert case_id.startswith("case_")
    aml.run("aml", "cases", "assign", case_id, "--to", "Li Wei")
    aml.run("aml", "cases", "comment", case_id, "Five payments just under the line.")
    aml.run("aml", "cases", "attach", case_id, "--transaction", payment_id)
    aml.run("aml", "cases", "escalate", case_id, "--reason", "MLRO")
    error = aml.run(
        "aml", "cases", "close", case_id, "--disposition", "maybe", "--reason", "x", expect=2
    )
    assert error.startswith("validation_error")
    closed = aml.run(
        "aml",
        "cases",
        "close",
        case_id,
        "--disposition",
        "suspicious_reported",
        "--reason",
        "Structuring below the reporting line.",
    )
    assert "report draft rpt_" in closed
    shown = aml.run("aml", "cases", "show", case_id)
    for kind in ("created", "assigned", "comment", "transaction_attached", "escalated", "closed"):
        assert kind in shown
    assert "cli:" in shown and "Li Wei" in shown
    assert [r[0] for r in table_rows(aml.run("aml", "cases", "list"))] == [case_id]
    refused = aml.run("aml", "cases", "comment", case_id, "late", expect=2)
    assert refused.startswith("risk_case_state")

    generated = aml.run("aml", "reports", "generate", "--day", "2026-12-01")
    assert "1 transaction(s) of 1 customer(s), draft" in generated
    report_id = generated.split()[1]
    again = aml.run("aml", "reports", "generate", "--day", "2026-12-01")
    assert again.startswith(f"Already generated: {report_id}")
    assert aml.run("aml", "reports", "generate", "--day", "1 Dec", expect=2).startswith(
        "validation_error"
    )
    csv = aml.run("aml", "reports", "export", report_id)
    [row] = parse_csv(csv.encode())
    assert (row.customer_id, row.transaction_id, row.amount) == (customer, payment_id, 50_000_000)
    out = aml.directory / "report.xml"
    aml.run("aml", "reports", "export", report_id, "--format", "xml", "--out", str(out))
    assert parse_xml(out.read_bytes())[1] == [row]
    assert PAN not in csv and PAN not in out.read_text()
    aml.run("aml", "reports", "filed", report_id, "--reference", "PBOC-1")
    register = table_rows(aml.run("aml", "reports", "list"))
    assert {(r[0], r[1], r[5]) for r in register} == {
        (report_id, "large_value", "filed"),
        (
            register[0][0] if register[0][1] == "suspicious" else register[1][0],
            "suspicious",
            "draft",
        ),
    }


def test_monitoring_from_the_command_line(aml: Aml) -> None:
    async def setup(db: Database) -> list[str]:
        # Ten small payments a minute apart, an hour ago: settled, and one burst.
        ids = []
        start = datetime.now(UTC) - timedelta(hours=1)
        for n in range(10):
            with use_clock(FrozenClock(start + timedelta(minutes=n))):
                payment = {
                    "id": new_id("pay"),
                    "customer": "cus_burst",
                    "payment_method": "card_x",
                    "amount_captured": 1_000,
                    "currency": "CNY",
                }
                await db.transact(
                    lambda sql, p=payment: events.emit(  # type: ignore[misc]
                        sql, type="payment.succeeded", merchant_id="mer_x", data={"object": p}
                    )
                )
                ids.append(payment["id"])
        return ids

    ids = aml.db(setup)
    out = aml.run("aml", "monitor", "--once")
    assert "Processed 10 event(s) (10 transaction(s)): 1 alert(s) raised, 0 revised." in out
    assert "Coverage 100.00%: 10 of 10 money-moving event(s); 0 waiting." in out
    again = aml.run("aml", "monitor", "--once")  # a new process: replays, raises nothing
    assert "Processed 0 event(s) (0 transaction(s)): 0 alert(s) raised, 0 revised; 10 " in again
    listed = aml.run("aml", "alerts", "--source", "monitoring")
    assert "high_frequency_small" in listed and "cus_burst" in listed
    assert len(ids) == 10
