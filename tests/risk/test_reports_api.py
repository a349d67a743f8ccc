"""Large-value reports from recorded payments and refunds through the API and the daily
job: the thresholds at their boundaries, same-day cumulation across midnight UTC (one
Beijing day) and not across midnight Beijing, in and out apart; the register (once per
day, files with checksums, filing once); compliance scope only; no card number."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from payhub.core.clock import FrozenClock, use_clock
from payhub.db.session import Database
from payhub.risk.reports.files import parse_csv, parse_xml
from payhub.risk.reports.tasks import generate_large_value_reports
from tests.api.helpers import assert_error
from tests.payments.helpers import count_rows, open_shop
from tests.risk.aml_helpers import PAN, Ledger

# Beijing's 1 December runs from 16:00 UTC on 30 November to 16:00 UTC on 1 December.
LATE_UTC_30 = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)  # 07:30 on the 1st in Beijing
EARLY_UTC_1 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 on the 1st in Beijing
BEFORE_MIDNIGHT = datetime(2026, 12, 1, 15, 59, 59, tzinfo=UTC)  # 23:59:59 in Beijing
AFTER_MIDNIGHT = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)  # 00:00 on the 2nd in Beijing
AFTER_THE_DAY = datetime(2026, 12, 2, 16, 30, tzinfo=UTC)


async def _generate(client: httpx.AsyncClient, day: str, status: int = 201) -> dict[str, object]:
    made = await client.post("/v1/risk/reports/large_value", json={"day": day})
    assert made.status_code == status, made.text
    report: dict[str, object] = made.json()
    return report


async def test_the_days_large_value_report(client: httpx.AsyncClient, db: Database) -> None:
    shop = await Ledger.open(db)
    split = await shop.customer("王小明")  # 300,000 + 200,000 across midnight UTC: reported
    boundary = await shop.customer("李四")  # 499,999.99: not reported
    exact = await shop.customer("Jane Doe", phone=None)  # 500,000.00 at once: reported
    two_days = await shop.customer("赵六")  # 300,000 + 200,000 across midnight Beijing: neither
    both_ways = await shop.customer("钱七")  # 300,000 out, 300,000 back in: neither
    abroad = await shop.customer("孙八")  # 200,000 cross-border: reported

    first, _ = await shop.pay(split, 30_000_000, LATE_UTC_30)
    second, _ = await shop.pay(split, 20_000_000, EARLY_UTC_1)
    await shop.pay(boundary, 49_999_999, EARLY_UTC_1)
    third, _ = await shop.pay(exact, 50_000_000, EARLY_UTC_1)
    await shop.pay(two_days, 30_000_000, BEFORE_MIDNIGHT)
    await shop.pay(two_days, 20_000_000, AFTER_MIDNIGHT)
    await shop.pay(both_ways, 30_000_000, EARLY_UTC_1, refund=30_000_000, refund_at=EARLY_UTC_1)
    fourth, _ = await shop.pay(abroad, 20_000_000, EARLY_UTC_1, scene="cross_border")
    await shop.pay(None, 100, EARLY_UTC_1)  # an unnamed customer's small payment

    with use_clock(FrozenClock(AFTER_THE_DAY)):
        report = await _generate(client, "2026-12-01")
        again = await _generate(client, "2026-12-01", status=200)
    assert again == report
    assert (report["kind"], report["status"], report["report_date"]) == (
        "large_value",
        "draft",
        "2026-12-01",
    )
    assert (report["rows"], report["customers"]) == (4, 3)

    csv = await client.get(f"/v1/risk/reports/{report['id']}/file", params={"format": "csv"})
    xml = await client.get(f"/v1/risk/reports/{report['id']}/file", params={"format": "xml"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert xml.headers["content-type"] == "application/xml"
    rows = parse_csv(csv.content)
    header, from_xml = parse_xml(xml.content)
    assert from_xml == rows and header.report_id == report["id"]
    assert header.report_date == "2026-12-01" and header.institution_code == "PAYHUB"
    assert {r.transaction_id for r in rows} == {first, second, third, fourth}
    by_payment = {r.transaction_id: r for r in rows}
    assert by_payment[first].day_total == by_payment[second].day_total == 50_000_000
    assert (
        by_payment[first].customer_name == "王**" and by_payment[third].customer_name == "J*** D**"
    )
    assert by_payment[first].customer_phone == "+86138****5678"
    assert by_payment[fourth].category == "personal_cross_border"
    assert {r.direction for r in rows} == {"out"} and {r.counterparty_name for r in rows} == {
        "Noodle Shop"
    }
    for response, field in ((csv, "csv_sha256"), (xml, "xml_sha256")):
        digest = hashlib.sha256(response.content).digest()
        assert (
            response.headers["content-digest"] == f"sha-256=:{base64.b64encode(digest).decode()}:"
        )
        assert report[field] == digest.hex()
        assert "王小明" not in response.text and "+8613812345678" not in response.text

    # 2 December holds the payment after Beijing's midnight alone: under the line.
    with use_clock(FrozenClock(datetime(2026, 12, 3, 0, 0, tzinfo=UTC))):
        next_day = await _generate(client, "2026-12-02")
    assert next_day["rows"] == 0

    filed = await client.post(
        f"/v1/risk/reports/{report['id']}/file_submitted", json={"reference": "PBOC-2026-0001"}
    )
    assert filed.status_code == 200, filed.text
    assert (filed.json()["status"], filed.json()["filing_reference"]) == ("filed", "PBOC-2026-0001")
    assert filed.json()["filed_by"].startswith("key:")
    refused = await client.post(f"/v1/risk/reports/{report['id']}/file_submitted", json={})
    assert_error(refused, 409, "risk_report_filed")
    listed = (await client.get("/v1/risk/reports", params={"status": "filed"})).json()
    assert [r["id"] for r in listed["data"]] == [report["id"]]
    by_day = (await client.get("/v1/risk/reports", params={"report_date": "2026-12-02"})).json()
    assert [r["id"] for r in by_day["data"]] == [next_day["id"]]
    audited = (await client.get("/v1/audit/events", params={"target": report["id"]})).json()
    assert {e["action"] for e in audited["data"]} == {
        "risk_report.generated",
        "risk_report.filed",
        "operator POST /v1/risk/reports/large_value",  # the repeat, which changed nothing
    }


async def test_a_day_is_reported_only_once_it_is_over_in_beijing(
    client: httpx.AsyncClient, db: Database
) -> None:
    with use_clock(FrozenClock(BEFORE_MIDNIGHT)):
        refused = await client.post("/v1/risk/reports/large_value", json={"day": "2026-12-01"})
        assert_error(refused, 409, "risk_report_day_not_over")
        assert refused.json()["error"]["retryable"] is True
    with use_clock(FrozenClock(AFTER_MIDNIGHT)):
        await _generate(client, "2026-12-01")
    for day in ("2026-13-01", "2026-12-1", "yesterday", "", "2026-12-01T00:00:00Z"):
        bad = await client.post("/v1/risk/reports/large_value", json={"day": day})
        assert_error(bad, 400, "validation_error")
    for body in ({}, {"day": "2026-12-01", "extra": 1}, {"day": 20261201}):
        assert_error(
            await client.post("/v1/risk/reports/large_value", json=body), 400, "validation_error"
        )
    nowhere = "rpt_01M97DC3WE0MD7H9ACKEA220F5"
    assert_error(await client.get(f"/v1/risk/reports/{nowhere}"), 404, "risk_report_not_found")
    assert_error(await client.get(f"/v1/risk/reports/{nowhere}/file"), 404, "risk_report_not_found")
    assert_error(
        await client.post(f"/v1/risk/reports/{nowhere}/file_submitted", json={}),
        404,
        "risk_report_not_found",
    )
    listed = (await client.get("/v1/risk/reports")).json()["data"]
    assert_error(
        await client.get(f"/v1/risk/reports/{listed[0]['id']}/file", params={"format": "pdf"}),
        400,
        "validation_error",
    )
    for query in ({"kind": "monthly"}, {"status": "sent"}, {"report_date": "1 Dec"}):
        assert_error(await client.get("/v1/risk/reports", params=query), 400, "validation_error")
    assert await count_rows(db, "risk_reports") == {"risk_reports": 1}


async def test_the_daily_job_reports_yesterday_once(db: Database) -> None:
    shop = await Ledger.open(db)
    customer = await shop.customer()
    await shop.pay(customer, 50_000_000, EARLY_UTC_1)
    with use_clock(FrozenClock(datetime(2026, 12, 2, 3, 0, tzinfo=UTC))):  # 11:00 on the 2nd
        assert await generate_large_value_reports(db) == 1
        assert await generate_large_value_reports(db) == 0
    async with db.engine.connect() as conn:
        found = (
            await conn.exec_driver_sql(
                "SELECT report_date, row_count, generated_by FROM risk_reports"
            )
        ).all()
    assert [tuple(r) for r in found] == [("2026-12-01", 1, "system")]


async def test_no_card_number_in_any_report(
    client: httpx.AsyncClient, as_key: Callable[[str], httpx.AsyncClient], db: Database
) -> None:
    shop = await Ledger.open(db)
    customer = await shop.customer(name=f"Card {PAN}")  # typed where it should not be
    await shop.pay(customer, 50_000_000, EARLY_UTC_1)
    await shop.pay(None, 50_000_000, EARLY_UTC_1)  # no customer: reported by card token
    with use_clock(FrozenClock(AFTER_THE_DAY)):
        report = await _generate(client, "2026-12-01")
    assert report["rows"] == 2
    for fmt in ("csv", "xml"):
        text = (await client.get(f"/v1/risk/reports/{report['id']}/file?format={fmt}")).text
        assert PAN not in text and PAN[:6] not in text
        assert "card:card_" in text
    # Merchants never see the register.
    merchant = await open_shop(client, as_key)
    for method, path in (
        ("GET", "/v1/risk/reports"),
        ("GET", f"/v1/risk/reports/{report['id']}/file"),
        ("POST", "/v1/risk/reports/large_value"),
        ("POST", f"/v1/risk/reports/{report['id']}/file_submitted"),
    ):
        body = {"day": "2026-12-01"} if path.endswith("large_value") else {}
        refused = await merchant.me.request(method, path, json=body if method == "POST" else None)
        assert_error(refused, 403, "permission_denied")


@pytest.mark.parametrize("amount", [49_999_999, 50_000_000])
async def test_the_threshold_is_met_at_equality(
    client: httpx.AsyncClient, db: Database, amount: int
) -> None:
    shop = await Ledger.open(db)
    await shop.pay(await shop.customer(), amount, EARLY_UTC_1)
    with use_clock(FrozenClock(AFTER_THE_DAY)):
        report = await _generate(client, "2026-12-01")
    assert report["rows"] == (1 if amount == 50_000_000 else 0)
