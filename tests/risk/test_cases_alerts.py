"""Alerts: raised in the caller's transaction (a `Sql` unit or an ORM session), once per
dedup key (also under concurrency), refused whole when malformed; and raised by the in-line
decision for every payment it sends to review."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from payhub.channels.base import ChannelAdapter
from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.db.sql import Sql
from payhub.payments.channels import use_channels
from payhub.risk.cases import alerts
from tests.conftest import requires_postgres
from tests.payments.helpers import count_rows, open_shop, static_routing, world
from tests.risk.aml_helpers import raise_alert

REVIEW_LARGE = {
    "rules": [
        {
            "id": "large_for_profile",
            "description": "Over ¥800 goes to review.",
            "score": 60,
            "when": {"feature": "amount", "op": ">", "value": 80_000},
        }
    ],
    "review_at": 50,
    "decline_at": 90,
}


@pytest.fixture
def channels() -> Iterator[dict[str, ChannelAdapter]]:
    mapping = world()
    with use_channels(mapping), static_routing():
        yield mapping


async def test_an_alert_is_raised_with_its_evidence(db: Database) -> None:
    graph = {
        "nodes": ["cus_a", "cus_b", "cus_c"],
        "edges": [["cus_a", "cus_c"], ["cus_b", "cus_c"]],
    }
    alert = await raise_alert(
        db, typology="fan_in", transaction_ids=["pay_1", "pay_2", "pay_1"], evidence=graph
    )
    assert alert.id.startswith("alr_") and alert.status == "open" and alert.case_id is None
    assert alert.transaction_ids == ["pay_1", "pay_2"]  # each once, in order
    assert alert.evidence == graph and alert.source == "monitoring"
    # Through an ORM session too.
    other = await db.run_in_transaction(
        lambda s: alerts.raise_alert(
            s,
            source="sanctions",
            typology="watch_list",
            subject_type="merchant",
            subject_id="mer_x",
            score=100,
            explanation="Name matches a listed entity.",
        )
    )
    assert (await db.transact(lambda sql: alerts.get_alert(sql, other.id))).score == 100


async def test_the_same_dedup_key_returns_the_alert_already_raised(db: Database) -> None:
    first = await raise_alert(db, dedup_key="fan_in:cus_c:2026-12-01")
    again = await raise_alert(db, dedup_key="fan_in:cus_c:2026-12-01", score=99)
    assert again == first  # the first as it was: a repeat changes nothing
    without = [await raise_alert(db), await raise_alert(db)]
    assert without[0].id != without[1].id  # no key, no deduplication
    assert await count_rows(db, "risk_alerts") == {"risk_alerts": 3}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("source", "webhook"),
        ("typology", ""),
        ("typology", "Fan In"),
        ("typology", "x" * 201),
        ("subject_type", "person"),
        ("subject_id", ""),
        ("score", 101),
        ("score", -1),
        ("score", True),
        ("score", 50.5),
        ("explanation", ""),
        ("explanation", "x" * 2001),
        ("transaction_ids", ["pay 1"]),
        ("transaction_ids", [f"pay_{n}" for n in range(1001)]),
        ("evidence", {"when": object()}),
        ("evidence", {"blob": "x" * 300_000}),
        ("dedup_key", ""),
    ],
)
async def test_a_malformed_alert_is_refused_and_nothing_written(
    db: Database, field: str, value: Any
) -> None:
    with pytest.raises(PayHubError) as refused:
        await raise_alert(db, **{field: value})
    assert refused.value.code == "validation_error" and refused.value.param == field
    assert await count_rows(db, "risk_alerts") == {"risk_alerts": 0}


async def test_an_alert_rolls_back_with_its_transaction(db: Database) -> None:
    async def fail(sql: Sql) -> None:
        await alerts.raise_alert(
            sql,
            source="monitoring",
            typology="cycle",
            subject_type="account",
            subject_id="acct_1",
            score=40,
            explanation="Funds came back to where they started.",
        )
        raise PayHubError("internal_error")

    with pytest.raises(PayHubError):
        await db.transact(fail)
    assert await count_rows(db, "risk_alerts") == {"risk_alerts": 0}


@requires_postgres
async def test_two_writers_racing_with_one_key_make_one_alert(db: Database) -> None:
    started = asyncio.Event()

    async def writer(hold: float) -> str:
        async def work(sql: Sql) -> str:
            alert = await alerts.raise_alert(
                sql,
                source="monitoring",
                typology="rapid_in_out",
                subject_type="customer",
                subject_id="cus_race",
                score=80,
                explanation="Funds left within the hour.",
                dedup_key="rapid_in_out:cus_race",
            )
            started.set()
            await asyncio.sleep(hold)  # keep the transaction open while the other inserts
            return alert.id

        return await db.transact(work)

    async def second() -> str:
        await started.wait()
        return await writer(0)

    ids = await asyncio.gather(writer(0.3), second())
    assert ids[0] == ids[1]
    assert await count_rows(db, "risk_alerts") == {"risk_alerts": 1}


async def test_a_payment_sent_to_review_raises_an_inline_alert(
    client: httpx.AsyncClient, as_key: Any, db: Database, channels: Any
) -> None:
    assert (await client.post("/v1/risk/rules", json={"definition": REVIEW_LARGE})).is_success
    shop = await open_shop(client, as_key)
    token, pan = await shop.card("ICBC", "credit")
    small = await shop.paid(token, 5_000)
    large = await shop.paid(token, 90_000)
    for payment in (small, large):
        confirmed = await shop.me.post(f"/v1/payments/{payment['id']}/confirm")
        assert confirmed.status_code == 200, confirmed.text

    listed = (await client.get("/v1/risk/alerts")).json()["data"]
    assert len(listed) == 1  # the approved payment raised none
    alert = listed[0]
    assert alert["source"] == "inline" and alert["typology"] == "large_for_profile"
    assert (alert["subject_type"], alert["subject"]) == ("customer", shop.customer_id)
    assert alert["transactions"] == [large["id"]] and alert["score"] == 60
    assert alert["dedup_key"] == f"inline:{large['id']}"
    decision = (await client.get(f"/v1/risk/decisions/{large['id']}")).json()
    assert alert["evidence"]["decision"] == decision["id"] and decision["outcome"] == "review"
    assert pan not in str(alert)
    found = await client.get(f"/v1/risk/alerts/{alert['id']}")
    assert found.json() == alert
    by_typology = await client.get("/v1/risk/alerts", params={"typology": "large_for_profile"})
    assert [a["id"] for a in by_typology.json()["data"]] == [alert["id"]]


async def test_an_open_alert_takes_a_newer_revision_and_only_that(db: Database) -> None:
    first = await raise_alert(db, dedup_key="monitoring:k", transaction_ids=["pay_1"])
    assert first.revision == 1

    async def revise(revision: int, key: str = "monitoring:k") -> alerts.AlertView | None:
        return await db.transact(
            lambda sql: alerts.revise_alert(
                sql,
                dedup_key=key,
                revision=revision,
                score=90,
                explanation="Now with more senders.",
                transaction_ids=["pay_1", "pay_2", "pay_2"],
                evidence={"nodes": ["a", "b", "c"], "edges": []},
            )
        )

    revised = await revise(2)
    assert revised is not None and revised.id == first.id
    assert (revised.revision, revised.score, revised.transaction_ids) == (2, 90, ["pay_1", "pay_2"])
    assert revised.explanation == "Now with more senders."
    assert revised.evidence == {"nodes": ["a", "b", "c"], "edges": []}
    assert await revise(2) is None  # not newer than what is stored
    assert await revise(3, key="monitoring:other") is None  # no such alert
    with pytest.raises(PayHubError) as refused:
        await revise(1)
    assert refused.value.code == "validation_error"
    # In a case, the alert is what an officer works on: no revision changes it.
    async with db.engine.begin() as conn:
        await conn.exec_driver_sql("UPDATE risk_alerts SET status = 'in_case'")
    assert await revise(4) is None
    stored = await db.transact(lambda sql: alerts.alert_by_key(sql, "monitoring:k"))
    assert stored is not None and stored.revision == 2 and stored.status == "in_case"
