"""The case workflow through the API: open from alerts, assign, comment, attach, escalate,
close with a disposition, reopen; the whole history kept and audited; closed cases
immutable; every refusal a catalogue error that writes nothing; compliance scope only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from payhub.auth import service as auth
from payhub.channels.base import ChannelAdapter
from payhub.db.session import Database
from payhub.payments.channels import use_channels
from payhub.risk.reports.files import parse_csv, parse_xml
from tests.api.helpers import assert_error
from tests.payments.helpers import count_rows, open_shop, static_routing, world
from tests.risk.aml_helpers import raise_alert

NOWHERE = "alr_01M97DC3WE0MD7H9ACKEA220F5"
NO_CASE = "case_01M97DC3WE0MD7H9ACKEA220F5"


@pytest.fixture(autouse=True)
def channels() -> Iterator[dict[str, ChannelAdapter]]:
    mapping = world()
    with use_channels(mapping), static_routing():
        yield mapping


async def _rows(db: Database) -> dict[str, int]:
    return await count_rows(db, "risk_cases", "risk_case_events", "risk_reports")


async def _case_of(client: httpx.AsyncClient, *alert_ids: str, **body: Any) -> dict[str, Any]:
    made = await client.post("/v1/risk/cases", json={"alerts": list(alert_ids), **body})
    assert made.status_code == 201, made.text
    case: dict[str, Any] = made.json()
    return case


async def _post(client: httpx.AsyncClient, path: str, body: Any) -> dict[str, Any]:
    answer = await client.post(path, json=body)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def test_a_case_from_opening_to_a_suspicious_report(
    client: httpx.AsyncClient, as_key: Callable[[str], httpx.AsyncClient], db: Database
) -> None:
    shop = await open_shop(client, as_key)
    token, pan = await shop.card("ICBC", "credit")
    paid = await shop.paid(token, 20_000)
    assert (await shop.me.post(f"/v1/payments/{paid['id']}/confirm")).status_code == 200
    first = await raise_alert(db, typology="fan_in", subject_id=shop.customer_id)
    second = await raise_alert(db, typology="rapid_in_out", transaction_ids=[paid["id"]])

    case = await _case_of(client, first.id, title="Collection account?", assignee="Li Wei")
    base = f"/v1/risk/cases/{case['id']}"
    assert (case["status"], case["assignee"], case["escalation"]) == ("open", "Li Wei", 0)
    assert (case["subject_type"], case["subject"]) == ("customer", shop.customer_id)
    assert [a["status"] for a in case["alerts"]] == ["in_case"]

    await _post(client, f"{base}/comment", {"text": "Twelve senders, one receiver."})
    attached = await _post(client, f"{base}/attach", {"alerts": [second.id]})
    assert attached["transactions"] == [paid["id"]]  # the alert brought its payment
    again = await _post(client, f"{base}/attach", {"transactions": [paid["id"]]})
    assert len(again["history"]) == len(attached["history"])  # already there: no event
    await _post(client, f"{base}/assign", {})  # to whoever acts
    escalated = await _post(client, f"{base}/escalate", {"reason": "Amounts keep growing."})
    assert escalated["escalation"] == 1
    top = await _post(client, f"{base}/escalate", {"reason": "MLRO decision", "level": 3})
    assert top["escalation"] == 3
    closed = await _post(
        client,
        f"{base}/close",
        {"disposition": "suspicious_reported", "reason": "Layering through group-buy refunds."},
    )
    assert (closed["status"], closed["disposition"]) == ("closed", "suspicious_reported")
    assert {a["status"] for a in closed["alerts"]} == {"closed"}

    shown = (await client.get(base)).json()
    assert [e["kind"] for e in shown["history"]] == [
        "created",
        "assigned",
        "comment",
        "alert_attached",
        "assigned",
        "escalated",
        "escalated",
        "closed",
    ]
    assert [e["seq"] for e in shown["history"]] == list(range(1, 9))
    assert shown["history"][2]["note"] == "Twelve senders, one receiver."
    assert shown["history"][4]["details"]["assignee"].startswith("key:")
    assert shown["history"][6]["details"] == {"from": 1, "to": 3}

    # The suspicious transaction report was drafted with the case.
    [report_id] = shown["reports"]
    report = (await client.get(f"/v1/risk/reports/{report_id}")).json()
    assert (report["kind"], report["status"], report["case"]) == ("suspicious", "draft", case["id"])
    xml = await client.get(f"/v1/risk/reports/{report_id}/file", params={"format": "xml"})
    header, rows = parse_xml(xml.content)
    assert (
        header.case is not None and header.case.narrative == "Layering through group-buy refunds."
    )
    assert header.case.typologies == ["fan_in", "rapid_in_out"]
    assert [r.transaction_id for r in rows] == [paid["id"]] and rows[0].amount == 20_000
    assert rows[0].customer_name == "王**"
    csv = await client.get(f"/v1/risk/reports/{report_id}/file", params={"format": "csv"})
    assert parse_csv(csv.content) == rows
    assert pan not in xml.text and pan not in csv.text

    # Every change is in the audit log (the attach that changed nothing only as a request).
    audited = (await client.get("/v1/audit/events", params={"target": case["id"]})).json()
    actions = [e["action"] for e in audited["data"] if e["action"].startswith("risk_case.")]
    assert sorted(actions) == sorted(f"risk_case.{e['kind']}" for e in shown["history"])

    # Closed: nothing changes but reopening, which is recorded; then it can close again.
    for action, body in (
        ("comment", {"text": "late note"}),
        ("assign", {"assignee": "Wang"}),
        ("attach", {"transactions": [paid["id"]]}),
        ("escalate", {"reason": "more"}),
        ("close", {"disposition": "false_positive", "reason": "again"}),
    ):
        refused = await client.post(f"{base}/{action}", json=body)
        assert_error(refused, 409, "risk_case_state")
    assert (await client.get(base)).json() == shown
    reopened = await _post(client, f"{base}/reopen", {"reason": "The bank sent new facts."})
    assert (reopened["status"], reopened["disposition"]) == ("open", None)
    assert reopened["history"][-1]["details"] == {"previous_disposition": "suspicious_reported"}
    assert {a["status"] for a in reopened["alerts"]} == {"in_case"}
    assert_error(await client.post(f"{base}/reopen", json={"reason": "x"}), 409, "risk_case_state")
    final = await _post(client, f"{base}/close", {"disposition": "explained", "reason": "Payroll."})
    assert final["reports"] == [report_id]  # no new report for a non-reported disposition

    listed = (await client.get("/v1/risk/cases", params={"status": "closed"})).json()
    assert [c["id"] for c in listed["data"]] == [case["id"]]
    assert listed["data"][0]["history"] is None
    assert (await client.get("/v1/risk/cases", params={"status": "open"})).json()["data"] == []
    in_case = await client.get("/v1/risk/alerts", params={"case": case["id"]})
    assert {a["id"] for a in in_case.json()["data"]} == {first.id, second.id}


async def test_refusals_are_catalogue_errors_that_write_nothing(
    client: httpx.AsyncClient, db: Database
) -> None:
    free = await raise_alert(db)
    taken = await raise_alert(db)
    case = await _case_of(client, taken.id)
    base = f"/v1/risk/cases/{case['id']}"
    before = await _rows(db)

    cases = "/v1/risk/cases"
    for path, body, status, code in (
        (cases, {"alerts": [NOWHERE]}, 404, "risk_alert_not_found"),
        (cases, {"alerts": [free.id, taken.id]}, 409, "risk_alert_taken"),
        (cases, {"alerts": ["not-an-id"]}, 400, "invalid_id"),
        (cases, {"alerts": []}, 400, "validation_error"),
        (cases, {"alerts": [free.id], "colour": "red"}, 400, "validation_error"),
        (cases, {"alerts": [free.id], "title": "x" * 201}, 400, "validation_error"),
        (f"{base}/attach", {}, 400, "validation_error"),
        (
            f"{base}/attach",
            {"alerts": [free.id], "transactions": ["pay_nope"]},
            404,
            "risk_transaction_not_found",
        ),
        (
            f"{base}/attach",
            {"transactions": ["pay_01M97DC3WE0MD7H9ACKEA220F5"]},
            404,
            "risk_transaction_not_found",
        ),
        (f"{base}/comment", {"text": ""}, 400, "validation_error"),
        (f"{base}/comment", {"text": "   "}, 400, "validation_error"),
        (f"{base}/escalate", {"reason": "x", "level": 4}, 400, "validation_error"),
        (f"{base}/escalate", {"reason": "x", "level": 0}, 400, "validation_error"),
        (f"{base}/escalate", {}, 400, "validation_error"),
        (f"{base}/close", {"disposition": "fine", "reason": "x"}, 400, "validation_error"),
        (f"{base}/close", {"disposition": "false_positive"}, 400, "validation_error"),
        (
            f"{base}/close",
            {"disposition": "false_positive", "reason": " "},
            400,
            "validation_error",
        ),
        (f"{base}/reopen", {"reason": "not closed"}, 409, "risk_case_state"),
        (f"/v1/risk/cases/{NO_CASE}/comment", {"text": "hello"}, 404, "risk_case_not_found"),
        ("/v1/risk/cases/nope/comment", {"text": "hello"}, 404, "risk_case_not_found"),
    ):
        assert_error(await client.post(path, json=body), status, code)
    assert await _rows(db) == before
    # The free alert is still free: the refused case took nothing.
    assert (await client.get(f"/v1/risk/alerts/{free.id}")).json()["status"] == "open"

    await _post(client, f"{base}/escalate", {"reason": "x", "level": 3})
    assert_error(
        await client.post(f"{base}/escalate", json={"reason": "y"}), 409, "risk_case_state"
    )
    for query, code in (
        ({"status": "pending"}, "validation_error"),
        ({"source": "email"}, "validation_error"),
        ({"typology": "a,b"}, "validation_error"),
        ({"starting_after": "case_x"}, "invalid_id"),
    ):
        assert_error(await client.get("/v1/risk/alerts", params=query), 400, code)
    assert_error(await client.get(f"/v1/risk/alerts/{NOWHERE}"), 404, "risk_alert_not_found")
    assert_error(await client.get(f"/v1/risk/cases/{NO_CASE}"), 404, "risk_case_not_found")
    assert_error(
        await client.get("/v1/risk/cases", params={"disposition": "maybe"}), 400, "validation_error"
    )


async def test_a_repeated_post_with_its_key_opens_one_case(
    client: httpx.AsyncClient, db: Database
) -> None:
    alert = await raise_alert(db)
    headers = {"Idempotency-Key": "open-case-1"}
    first = await client.post("/v1/risk/cases", json={"alerts": [alert.id]}, headers=headers)
    again = await client.post("/v1/risk/cases", json={"alerts": [alert.id]}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and again.content == first.content
    assert (await _rows(db))["risk_cases"] == 1


async def test_only_the_compliance_team_reaches_cases(
    client: httpx.AsyncClient, as_key: Callable[[str], httpx.AsyncClient], db: Database
) -> None:
    alert = await raise_alert(db)
    shop = await open_shop(client, as_key)
    for method, path, body in (
        ("GET", "/v1/risk/alerts", None),
        ("GET", f"/v1/risk/alerts/{alert.id}", None),
        ("POST", "/v1/risk/cases", {"alerts": [alert.id]}),
        ("GET", "/v1/risk/cases", None),
    ):
        refused = await shop.me.request(method, path, json=body)
        assert_error(refused, 403, "permission_denied")
    issued = await db.run_in_transaction(
        lambda s: auth.issue_key(s, name="officer", role="operator", scopes=["compliance"])
    )
    officer = as_key(issued.secret)
    made = await officer.post("/v1/risk/cases", json={"alerts": [alert.id]})
    assert made.status_code == 201, made.text
    assert made.json()["opened_by"] == f"key:{issued.id}"
    assigned = await officer.post(f"/v1/risk/cases/{made.json()['id']}/assign", json={})
    assert assigned.json()["assignee"] == f"key:{issued.id}"
    assert (await officer.get("/v1/risk/alerts")).status_code == 200
