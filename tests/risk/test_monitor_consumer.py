"""Monitoring the platform's own traffic: payments made through the API reach the monitor
through the outbox, its alerts are stored (revised in place within the cool-down), each
event is processed once however many consumers run, and a restarted process rebuilds its
graph without raising anything twice."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from payhub.auth import service as auth
from payhub.channels.base import ChannelAdapter
from payhub.db.session import Database
from payhub.jobs import JOBS
from payhub.payments.channels import use_channels
from payhub.risk.cases import alerts
from payhub.risk.decisions import service as risk
from payhub.risk.decisions.rules import NO_RULES
from payhub.risk.monitoring.consumer import MonitorConsumer, Round, transaction_of
from payhub.risk.monitoring.tasks import consumer_for
from tests.api.helpers import assert_error
from tests.payments.helpers import Shop, count_rows, open_shop, static_routing, world

SMALL = 1_000  # 10.00 CNY: well under the small-amount line


@pytest.fixture(autouse=True)
def channels() -> Iterator[dict[str, ChannelAdapter]]:
    mapping = world()
    with use_channels(mapping), static_routing():
        yield mapping


async def _no_rules(db: Database) -> None:
    await db.run_in_transaction(
        lambda s: risk.publish(s, NO_RULES, created_by="tests", note="no rules")
    )


async def _pay(shop: Shop, token: str, count: int, amount: int = SMALL) -> list[str]:
    ids = []
    for _ in range(count):
        payment = await shop.paid(token, amount)
        answer = await shop.me.post(f"/v1/payments/{payment['id']}/confirm", json={})
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "succeeded", answer.text
        ids.append(payment["id"])
    return ids


def consumer(db: Database, **options: Any) -> MonitorConsumer:
    # The events are committed as each request ends: no need to wait for them to settle.
    return MonitorConsumer(db, settle=timedelta(0), **options)


async def _monitoring_alerts(db: Database) -> list[alerts.AlertView]:
    found, _ = await db.transact(
        lambda sql: alerts.list_alerts(
            sql, alerts.AlertFilter(source="monitoring"), limit=100, starting_after=None
        )
    )
    return found


async def test_a_burst_of_small_payments_raises_one_alert_revised_in_place(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    await _no_rules(db)
    shop = await open_shop(client, as_key)
    token, _ = await shop.card()
    burst = await _pay(shop, token, 10)
    job = consumer(db)

    first = await job.run()
    assert (first.events, first.transactions, first.alerts_raised) == (10, 10, 1)
    [alert] = await _monitoring_alerts(db)
    assert (alert.typology, alert.subject_type, alert.subject_id) == (
        "high_frequency_small",
        "customer",
        shop.customer_id,
    )
    assert alert.transaction_ids == burst and alert.revision == 1
    assert alert.dedup_key == f"monitoring:high_frequency_small:{shop.customer_id}:{burst[-1]}"
    assert {e["id"] for e in alert.evidence["edges"]} >= set(burst)

    # More of the same within the cool-down: the stored alert grows, no second one.
    more = await _pay(shop, token, 2)
    again = await job.run()
    assert (again.events, again.alerts_raised, again.alerts_revised) == (2, 0, 2)
    [revised] = await _monitoring_alerts(db)
    assert revised.id == alert.id and revised.revision == 3
    assert revised.transaction_ids == burst + more

    # Nothing new: nothing processed, nothing written.
    assert await job.run() == Round()

    # A refund moves money back: an edge merchant → customer, processed like the rest.
    refund = await shop.me.post("/v1/refunds", json={"payment": burst[0], "amount": 500})
    assert refund.status_code == 201, refund.text
    assert (await job.run()).events == 1


async def test_a_restarted_process_replays_without_raising_again(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    await _no_rules(db)
    shop = await open_shop(client, as_key)
    token, _ = await shop.card()
    burst = await _pay(shop, token, 11)
    assert (await consumer(db).run()).alerts_raised == 1

    restarted = consumer(db)  # a fresh process: an empty graph
    seen: list[tuple[int, int]] = []
    nothing_new = await restarted.run(on_replay=lambda done, total: seen.append((done, total)))
    assert nothing_new.replayed == 11 and nothing_new.events == 0
    assert nothing_new.alerts_raised == 0 and seen[-1] == (11, 11)
    assert len(await _monitoring_alerts(db)) == 1

    # The replayed graph knows the burst: one more payment revises the stored alert.
    later = await _pay(shop, token, 1)
    after = await restarted.run()
    assert (after.events, after.alerts_raised, after.alerts_revised) == (1, 0, 1)
    [alert] = await _monitoring_alerts(db)
    assert alert.transaction_ids == burst + later and alert.revision == 3


async def test_an_alert_in_a_case_is_continued_by_a_follow_up(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    await _no_rules(db)
    shop = await open_shop(client, as_key)
    token, _ = await shop.card()
    burst = await _pay(shop, token, 10)
    job = consumer(db)
    await job.run()
    [alert] = await _monitoring_alerts(db)
    case = await client.post("/v1/risk/cases", json={"alerts": [alert.id]})
    assert case.status_code == 201, case.text

    later = await _pay(shop, token, 2)
    done = await job.run()
    assert (done.alerts_raised, done.alerts_revised) == (1, 1)
    follow_up, taken = await _monitoring_alerts(db)
    assert taken.id == alert.id and taken.transaction_ids == burst and taken.status == "in_case"
    assert follow_up.dedup_key == f"{alert.dedup_key}~2" and follow_up.status == "open"
    assert follow_up.transaction_ids == later and follow_up.revision == 2
    assert follow_up.explanation.startswith("Continues an alert already in a case")


async def test_concurrent_consumers_process_each_event_once(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    await _no_rules(db)
    shop = await open_shop(client, as_key)
    token, _ = await shop.card()
    await _pay(shop, token, 12)
    workers = [consumer(db, batch=3) for _ in range(3)]
    rounds: list[Round] = []
    for _ in range(3):
        rounds += await asyncio.gather(*(w.run() for w in workers))
    assert sum(r.events for r in rounds) == 12
    assert sum(r.alerts_raised for r in rounds) == 1
    assert len(await _monitoring_alerts(db)) == 1
    assert await count_rows(db, "risk_monitor_cursor") == {"risk_monitor_cursor": 1}
    status = (await client.get("/v1/risk/monitoring")).json()
    assert status["events_processed"] == status["money_events"] == 12
    assert status["skipped"] == 0 and status["coverage"] == 1.0


async def test_the_status_reports_coverage_and_lag_to_compliance_only(
    client: httpx.AsyncClient, as_key: Any, anonymous: httpx.AsyncClient, db: Database
) -> None:
    await _no_rules(db)
    empty = (await client.get("/v1/risk/monitoring")).json()
    assert empty["money_events"] == empty["events_processed"] == 0
    assert empty["coverage"] == 1.0 and empty["cursor"] is None

    shop = await open_shop(client, as_key)
    token, _ = await shop.card()
    await _pay(shop, token, 10)
    waiting = (await client.get("/v1/risk/monitoring")).json()
    assert waiting["money_events"] == 10 and waiting["events_processed"] == 0
    assert waiting["coverage"] == 0.0 and waiting["lag"]["events"] == 10
    assert waiting["lag"]["seconds"] >= 0

    await consumer(db).run()
    status = (await client.get("/v1/risk/monitoring")).json()
    assert status["object"] == "risk_monitoring"
    assert status["money_events"] == status["events_processed"] == 10
    assert status["transactions_observed"] == 10 and status["coverage"] == 1.0
    assert status["lag"] == {"events": 0, "seconds": 0.0} and status["skipped"] == 0
    assert status["alerts_raised"] == 1 and status["alerts_revised"] == 0
    assert status["cursor"] is not None and status["cursor"].startswith("evt_")
    assert "refund.succeeded" in status["event_types"]

    assert_error(await shop.me.get("/v1/risk/monitoring"), 403, "permission_denied")
    assert (await anonymous.get("/v1/risk/monitoring")).status_code == 401
    issued = await db.run_in_transaction(
        lambda s: auth.issue_key(s, name="officer", role="operator", scopes=["compliance"])
    )
    assert (await as_key(issued.secret).get("/v1/risk/monitoring")).status_code == 200


async def test_the_job_keeps_one_graph_per_process(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    await _no_rules(db)
    shop = await open_shop(client, as_key)
    token, _ = await shop.card()
    await _pay(shop, token, 3)
    job = JOBS["risk.monitor"]
    assert await job(db) == 0  # too fresh: the events have not settled yet
    assert consumer_for(db) is consumer_for(db)
    consumer_for(db).settle = timedelta(0)
    assert await job(db) == 3
    assert await job(db) == 0


async def test_a_payment_without_a_customer_is_its_card_with_its_location(db: Database) -> None:
    row = {
        "type": "payment.succeeded",
        "merchant_id": "mer_1",
        "created_at": datetime(2026, 12, 1, tzinfo=UTC),
        "data": {
            "object": {
                "id": "pay_1",
                "customer": None,
                "payment_method": "card_1",
                "amount_captured": 700,
                "currency": "CNY",
            }
        },
        "card_fingerprint": "abc",
        "latitude": 31.2,
        "longitude": 121.5,
    }
    tx = await db.transact(lambda sql: transaction_of(sql, row))
    assert tx is not None
    assert (tx.source, tx.target, tx.amount, tx.latitude) == ("fp:abc", "mer_1", 700, 31.2)
    refund = {
        **row,
        "type": "refund.succeeded",
        "card_fingerprint": None,
        "data": {**row["data"], "refund": {"id": "re_1", "amount": 300, "currency": "CNY"}},
    }
    back = await db.transact(lambda sql: transaction_of(sql, refund))
    assert back is not None
    assert (back.id, back.source, back.target, back.amount) == ("re_1", "mer_1", "card_1", 300)
    assert back.latitude is None
