"""Answers that never come: lost responses, timeouts, and a process that dies between
committing an attempt and recording the channel's answer. Whatever happens, once the
resolver has run, what the bank charged equals what PayHub captured minus refunded, for
every payment, and no payment holds more than one approved authorisation."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from payhub.channels.base import (
    AuthorizeRequest,
    ChannelInfo,
    ChannelResult,
    ChannelStatus,
    PayoutRequest,
    StatementLine,
)
from payhub.channels.sim.adapter import SimulatedChannel
from payhub.db.session import Database
from payhub.payments import orchestrator
from payhub.payments import service as steps
from payhub.payments.channels import use_channels
from tests.conftest import requires_postgres
from tests.payments.helpers import (
    Shop,
    balance,
    channel_costs,
    event_types,
    network,
    open_shop,
    world,
)

CHANNELS = ("partner_bank", "unionpay_quick", "netsunion", "cross_border_acquirer")


@dataclass
class Muffled:
    """A simulated channel whose answers can be kept from us: the channel still acts on the
    request (the simulator records it), only the answer is dropped — and, while
    `deaf_queries` is set, so are the answers to queries."""

    inner: SimulatedChannel
    lose: set[str] = field(default_factory=set)
    deaf_queries: bool = False

    @property
    def channel_id(self) -> str:
        return self.inner.channel_id

    @property
    def info(self) -> ChannelInfo:
        return self.inner.info

    def _muffle(self, kind: str, result: ChannelResult) -> ChannelResult:
        if kind in self.lose:
            return ChannelResult(ChannelStatus.LOST, latency_ms=result.latency_ms)
        return result

    async def authorize(self, request: AuthorizeRequest) -> ChannelResult:
        return self._muffle("authorize", await self.inner.authorize(request))

    async def capture(self, request_id: str, authorization_ref: str, amount: int) -> ChannelResult:
        return self._muffle(
            "capture", await self.inner.capture(request_id, authorization_ref, amount)
        )

    async def refund(self, request_id: str, authorization_ref: str, amount: int) -> ChannelResult:
        return self._muffle(
            "refund", await self.inner.refund(request_id, authorization_ref, amount)
        )

    async def void(self, request_id: str, authorization_ref: str) -> ChannelResult:
        return self._muffle("void", await self.inner.void(request_id, authorization_ref))

    async def query(self, request_id: str) -> ChannelResult:
        truth = await self.inner.query(request_id)
        return ChannelResult(ChannelStatus.TIMEOUT) if self.deaf_queries else truth

    async def payout(self, request: PayoutRequest) -> ChannelResult:
        return await self.inner.payout(request)

    async def query_payout(self, request_id: str) -> ChannelResult:
        return await self.inner.query_payout(request_id)

    async def statement(
        self, channel_id: str, start: datetime, end: datetime
    ) -> list[StatementLine]:
        return await self.inner.statement(channel_id, start, end)


def muffled_world() -> dict[str, Muffled]:
    inner = world()
    return {cid: Muffled(adapter) for cid, adapter in inner.items()}  # type: ignore[arg-type]


async def _payment(shop: Shop, pid: str) -> dict[str, Any]:
    shown = await shop.me.get(f"/v1/payments/{pid}")
    assert shown.status_code == 200, shown.text
    body: dict[str, Any] = shown.json()
    return body


async def _resolve_everything(db: Database) -> None:
    """Run the resolver until nothing is in flight (queries may be lost too)."""
    for _ in range(200):
        await orchestrator.resolve_in_flight(db, grace=timedelta(0))
        async with db.engine.connect() as conn:
            left = (
                await conn.exec_driver_sql(
                    "SELECT COUNT(*) FROM payments WHERE in_flight_attempt_id IS NOT NULL"
                )
            ).scalar_one()
        if left == 0:
            return
    raise AssertionError(f"{left} payments still wait for an answer")


async def _assert_books_agree(db: Database, shop: Shop, mapping: Any, ids: list[str]) -> None:
    net = network(mapping)
    charged_here = 0
    for pid in ids:
        payment = await _payment(shop, pid)
        assert payment["pending_attempt"] is None
        assert payment["status"] not in ("processing",), payment
        captured_less_refunded = payment["amount_captured"] - payment["amount_refunded"]
        assert net.charged_for_payment(pid) == captured_less_refunded, payment
        # Never two approved authorisations for one payment: no double charge.
        assert len(net.authorizations(payment_id=pid)) <= 1, pid
        if payment["status"] in ("failed", "requires_confirmation"):
            assert net.authorizations(payment_id=pid) == []
        charged_here += captured_less_refunded
    # No orphan: every charge the bank knows of belongs to one of our payments.
    assert {a.payment_id for a in net.authorizations() if a.charged} <= set(ids)
    by_channel = net.charged_by_channel("CNY")
    for cid in CHANNELS:
        # The channel pays us what it charged less its fee (booked with each capture).
        owed = by_channel.get(cid, 0) - await channel_costs(db, cid)
        assert (await balance(db, f"channel:{cid}:clearing") or 0) == owed
    assert sum(by_channel.values()) == charged_here


async def test_thirty_percent_lost_answers_leave_no_double_or_orphan_charge(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    mapping = world(lost={cid: 0.3 for cid in CHANNELS})
    rng = random.Random(7)
    shop = await open_shop(client, as_key)
    cards = [
        await shop.card(issuer, kind)
        for issuer, kind in (
            ("PARTNER", "debit"),
            ("ICBC", "credit"),
            ("CMB", "debit"),
            ("CCB", "credit"),
        )
    ]
    ids: list[str] = []
    with use_channels(mapping):
        for n in range(60):
            token = cards[n % len(cards)][0]
            manual = n % 2 == 0
            made = await shop.paid(
                token, rng.randint(100, 90_000), capture_method="manual" if manual else "automatic"
            )
            ids.append(made["id"])
            confirmed = await shop.me.post(f"/v1/payments/{made['id']}/confirm")
            assert confirmed.status_code in (200, 202), confirmed.text
        await _resolve_everything(db)
        # Captures (partial, then the rest) and refunds, each answer 30% lost.
        for pid in ids:
            payment = await _payment(shop, pid)
            if payment["status"] == "requires_capture":
                part = payment["amount_capturable"] // 2 or 1
                answer = await shop.me.post(f"/v1/payments/{pid}/capture", json={"amount": part})
                assert answer.status_code in (200, 202, 409, 502, 504), answer.text
            elif payment["status"] == "succeeded":
                part = max(payment["amount_captured"] // 3, 1)
                answer = await shop.me.post("/v1/refunds", json={"payment": pid, "amount": part})
                assert answer.status_code in (201, 202, 409), answer.text
        await _resolve_everything(db)
        for pid in ids:
            payment = await _payment(shop, pid)
            if payment["status"] == "succeeded" and payment["amount_capturable"]:
                await shop.me.post(f"/v1/payments/{pid}/capture")
            elif payment["status"] == "requires_capture":
                await shop.me.post(f"/v1/payments/{pid}/cancel")
        await _resolve_everything(db)
        await _assert_books_agree(db, shop, mapping, ids)
        statuses = {(await _payment(shop, pid))["status"] for pid in ids}
        # The world was rough enough to exercise every path, yet money moved.
        assert "succeeded" in statuses
        assert network(mapping).totals().charged > 0


async def test_an_attempt_committed_but_never_sent_is_settled_as_never_received(
    client: httpx.AsyncClient, as_key: Any, db: Database, channels: Any
) -> None:
    shop = await open_shop(client, as_key)
    token, _ = await shop.card("CMB", "debit")
    payment = await shop.paid(token, 3100)
    # The process dies right after committing the attempt, before the call.
    step = await db.run_in_transaction(lambda s: steps.start_confirm(s, payment["id"], None, None))
    assert step.call is not None
    # Younger than the grace period: it may still be on its way, so it is left alone.
    assert await orchestrator.resolve_in_flight(db) == 0
    assert (await _payment(shop, payment["id"]))["status"] == "processing"
    assert await orchestrator.resolve_in_flight(db, grace=timedelta(0)) == 1
    shown = await _payment(shop, payment["id"])
    assert (shown["status"], shown["failure_code"]) == ("failed", "channel_timeout")
    assert network(channels).authorizations(payment_id=payment["id"]) == []


async def test_an_answer_never_recorded_is_recovered_and_the_payment_completes(
    client: httpx.AsyncClient, as_key: Any, db: Database, channels: Any
) -> None:
    shop = await open_shop(client, as_key)
    token, _ = await shop.card("PARTNER", "debit")
    payment = await shop.paid(token, 2600)
    step = await db.run_in_transaction(lambda s: steps.start_confirm(s, payment["id"], None, None))
    assert step.call is not None
    # The channel approves, then the process dies before recording the answer.
    answer = await orchestrator.send(step.call, step.card)
    assert answer.status is ChannelStatus.APPROVED
    assert await orchestrator.resolve_in_flight(db, grace=timedelta(0)) == 1
    shown = await _payment(shop, payment["id"])
    assert (shown["status"], shown["amount_captured"]) == ("succeeded", 2600)
    assert network(channels).charged_for_payment(payment["id"]) == 2600
    attempts = (await shop.me.get(f"/v1/payments/{payment['id']}/attempts")).json()["data"]
    assert [(a["kind"], a["status"]) for a in attempts] == [("sale", "approved")]
    assert "resolved by query" in attempts[0]["raw_message"]
    # 2600 less partner_bank's 20 bps (5.2 → 5), booked with the capture.
    assert await balance(db, "channel:partner_bank:clearing") == 2600 - 5


async def test_one_change_at_a_time_while_an_answer_is_awaited(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    mapping = muffled_world()
    shop = await open_shop(client, as_key)
    token, _ = await shop.card("PARTNER", "debit")
    payment = await shop.paid(token, 9000, capture_method="manual")
    pid = payment["id"]
    with use_channels(mapping):  # type: ignore[arg-type]
        assert (await shop.me.post(f"/v1/payments/{pid}/confirm")).status_code == 200
        bank = mapping["partner_bank"]
        bank.lose, bank.deaf_queries = {"capture"}, True
        first = await shop.me.post(
            f"/v1/payments/{pid}/capture", json={"amount": 4000}, headers={"Idempotency-Key": "c1"}
        )
        assert first.status_code == 202, first.text
        body = first.json()
        assert body["status"] == "requires_capture" and body["pending_attempt"]
        assert body["amount_captured"] == 0  # not until the bank's answer is known
        replay = await shop.me.post(
            f"/v1/payments/{pid}/capture", json={"amount": 4000}, headers={"Idempotency-Key": "c1"}
        )
        assert replay.status_code == 202 and replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json() == body
        for path, json in (
            (f"/v1/payments/{pid}/capture", {"amount": 1000}),
            (f"/v1/payments/{pid}/cancel", None),
            ("/v1/refunds", {"payment": pid, "amount": 100}),
        ):
            refused = await shop.me.post(path, json=json)
            assert refused.status_code == 409, refused.text
            error = refused.json()["error"]
            assert error["code"] == "payment_operation_in_progress" and error["retryable"]
        # Queries unanswered: the resolver leaves it for a later run.
        assert await orchestrator.resolve_in_flight(db, grace=timedelta(0)) == 0
        bank.deaf_queries = False
        assert await orchestrator.resolve_in_flight(db, grace=timedelta(0)) == 1
        shown = await _payment(shop, pid)
        assert (shown["status"], shown["amount_captured"], shown["amount_capturable"]) == (
            "succeeded",
            4000,
            5000,
        )
        bank.lose = set()
        rest = await shop.me.post(f"/v1/payments/{pid}/capture")
        assert rest.status_code == 200 and rest.json()["amount_captured"] == 9000
    assert mapping["partner_bank"].inner.network.charged_for_payment(pid) == 9000
    assert await event_types(db) == [
        "payment.processing",
        "payment.requires_capture",
        "payment.succeeded",
        "payment.captured",
    ]


async def test_a_refund_whose_answer_is_lost_stays_pending_then_settles(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    mapping = muffled_world()
    shop = await open_shop(client, as_key)
    token, _ = await shop.card("ICBC", "credit")
    payment = await shop.paid(token, 5000)
    with use_channels(mapping):  # type: ignore[arg-type]
        assert (await shop.me.post(f"/v1/payments/{payment['id']}/confirm")).status_code == 200
        bank = mapping["unionpay_quick"]
        bank.lose, bank.deaf_queries = {"refund"}, True
        made = await shop.me.post("/v1/refunds", json={"payment": payment["id"], "amount": 1200})
        assert made.status_code == 202, made.text
        refund = made.json()
        assert refund["status"] == "pending"
        assert (await _payment(shop, payment["id"]))["amount_refunded"] == 0
        bank.deaf_queries = False
        assert await orchestrator.resolve_in_flight(db, grace=timedelta(0)) == 1
    shown = (await shop.me.get(f"/v1/refunds/{refund['id']}")).json()
    assert shown["status"] == "succeeded"
    assert (await _payment(shop, payment["id"]))["amount_refunded"] == 1200
    assert mapping["unionpay_quick"].inner.network.charged_for_payment(payment["id"]) == 3800
    assert (await event_types(db))[-1] == "refund.succeeded"


async def test_a_lost_sale_keeps_the_payment_processing_until_known(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    """Automatic capture is one sale message: its answer lost (and queries unanswered for a
    while), the payment waits in `processing`, then completes with the money captured."""
    mapping = muffled_world()
    shop = await open_shop(client, as_key)
    token, _ = await shop.card("PARTNER", "debit")
    payment = await shop.paid(token, 700)
    with use_channels(mapping):  # type: ignore[arg-type]
        bank = mapping["partner_bank"]
        bank.lose, bank.deaf_queries = {"authorize"}, True
        answer = await shop.me.post(f"/v1/payments/{payment['id']}/confirm")
        assert answer.status_code == 202
        assert answer.json()["status"] == "processing"
        bank.deaf_queries = False
        await orchestrator.resolve_in_flight(db, grace=timedelta(0))
    shown = await _payment(shop, payment["id"])
    assert (shown["status"], shown["amount_captured"]) == ("succeeded", 700)
    assert await event_types(db) == ["payment.processing", "payment.succeeded"]


@requires_postgres
async def test_concurrent_captures_never_capture_more_than_authorised(
    client: httpx.AsyncClient, as_key: Any, db: Database, channels: Any
) -> None:
    shop = await open_shop(client, as_key)
    token, _ = await shop.card("PARTNER", "debit")
    payment = await shop.paid(token, 10_000, capture_method="manual")
    pid = payment["id"]
    assert (await shop.me.post(f"/v1/payments/{pid}/confirm")).status_code == 200
    answers = await asyncio.gather(
        *(shop.me.post(f"/v1/payments/{pid}/capture", json={"amount": 3000}) for _ in range(12))
    )
    codes = sorted(a.status_code for a in answers)
    assert set(codes) <= {200, 400, 409}, [a.text for a in answers]
    shown = await _payment(shop, pid)
    captured = 3000 * codes.count(200)
    assert captured <= 10_000 and shown["amount_captured"] == captured
    assert network(channels).charged_for_payment(pid) == captured
    # Less partner_bank's 20 bps of everything captured, booked capture by capture.
    cost = await channel_costs(db, "partner_bank")
    assert cost == round(captured * 20 / 10_000)
    assert await balance(db, "channel:partner_bank:clearing") == captured - cost
