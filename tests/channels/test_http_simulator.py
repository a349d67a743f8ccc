"""The simulator over HTTP: `payhub sim serve`'s app on a real port, and the HTTP adapter.

Servers run in a background thread (uvicorn on a free port), one network each; the real
`payhub sim serve` runs once in a subprocess.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import SecretStr

from payhub.channels.base import ChannelAdapter, ChannelResult, ChannelStatus
from payhub.channels.http import (
    SIGNATURE_HEADER,
    ChannelServerError,
    HttpChannel,
    check_signature,
    dumps,
    info_from_json,
    info_to_json,
    load_http_channels,
    signature_header,
)
from payhub.channels.sim.adapter import channel_infos, load_channels
from payhub.channels.sim.network import SimulatedNetwork
from payhub.channels.sim.scenario import Scenario, builtin_scenario, scenario_from_data
from payhub.channels.sim.server import create_app
from payhub.channels.sim.workload import generate_payments
from payhub.core import clock
from payhub.core.config import DEV_CHANNELS_SECRET, Settings, reset_settings_cache
from payhub.payments import channels as payment_channels
from payhub.payments.channels import use_channels
from tests.channels.helpers import CVV, PAN, auth_request, base_data, payout_request, scenario
from tests.payments.helpers import open_shop, static_routing
from tests.processes import PAYHUB, free_port, payhub_env

SECRET = "test-sim-secret-0123456789"


# ---------------------------------------------------------------------------------------
# Running servers
# ---------------------------------------------------------------------------------------


@dataclass
class Sim:
    url: str
    network: SimulatedNetwork


@asynccontextmanager
async def running_sim(
    world: Scenario | SimulatedNetwork, *, time_scale: float = 0.0
) -> AsyncIterator[Sim]:
    """The simulator's app served by uvicorn in a thread of its own, on a free port."""
    app = create_app(world, secret=SECRET, time_scale=time_scale)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(1000):
        if server.started or not thread.is_alive():
            break
        await asyncio.sleep(0.01)
    assert server.started, "the simulator did not start"
    try:
        yield Sim(f"http://127.0.0.1:{port}", app.state.network)
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 10)
        sock.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


async def signed(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    body: bytes = b"",
    secret: str = SECRET,
    timestamp: int | None = None,
    signed_body: bytes | None = None,
    signed_target: str | None = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    """A request signed as the adapter signs it, or deliberately wrong in one way."""
    request = http.build_request(method, url, content=body or None, params=params)
    target = signed_target or request.url.raw_path.decode()
    request.headers[SIGNATURE_HEADER] = signature_header(
        secret, method, target, body if signed_body is None else signed_body, timestamp=timestamp
    )
    return await http.send(request)


async def read(http: httpx.AsyncClient, sim: Sim, path: str, **params: str) -> Any:
    response = await signed(http, "GET", sim.url + path, params=params or None)
    assert response.status_code == 200, response.text
    return response.json()


def outcome(result: ChannelResult) -> tuple[object, ...]:
    """What must agree between in-process and HTTP (latency is measured, so it differs)."""
    return (result.status, result.raw_code, result.channel_ref, result.approved_amount)


def authorize_body(request_id: str = "req_1", **card: Any) -> bytes:
    return dumps(
        {
            "request_id": request_id,
            "payment_id": "pay_1",
            "merchant_id": "mer_1",
            "amount": 10_000,
            "currency": "CNY",
            "card": {
                "pan": PAN,
                "exp_month": 12,
                "exp_year": 2031,
                "cvv": CVV,
                "issuer_code": "ICBC",
                "card_type": "debit",
                "brand": "unionpay",
                **card,
            },
        }
    )


# ---------------------------------------------------------------------------------------
# Signatures
# ---------------------------------------------------------------------------------------


def test_check_signature_accepts_only_the_exact_request() -> None:
    body = b'{"request_id":"r"}'
    now = int(time.time())
    header = signature_header(SECRET, "POST", "/channels/alpha/query", body, timestamp=now)
    assert check_signature(SECRET, header, "POST", "/channels/alpha/query", body) is None
    assert check_signature(SECRET, header, "post", "/channels/alpha/query", body) is None
    assert check_signature("other", header, "POST", "/channels/alpha/query", body)
    assert check_signature(SECRET, header, "POST", "/channels/beta/query", body)
    assert check_signature(SECRET, header, "GET", "/channels/alpha/query", body)
    assert check_signature(SECRET, header, "POST", "/channels/alpha/query", body + b" ")
    assert check_signature(SECRET, header, "POST", "/channels/alpha/query", body, now=now + 301)
    assert check_signature(SECRET, header, "POST", "/channels/alpha/query", body, now=now - 301)
    assert (
        check_signature(SECRET, header, "POST", "/channels/alpha/query", body, now=now + 299)
        is None
    )
    for broken in (None, "", "v1=abc", f"t={now}", f"t=x,v1={'0' * 64}", "t=1,t=2,v1=00", "é"):
        assert check_signature(SECRET, broken, "POST", "/channels/alpha/query", body)
    # A key rotation may send two signatures: one good one is enough.
    good = header.split("v1=")[1]
    assert (
        check_signature(
            SECRET, f"t={now},v1={'0' * 64},v1={good}", "POST", "/channels/alpha/query", body
        )
        is None
    )


async def test_the_server_refuses_unsigned_and_badly_signed_requests(
    http: httpx.AsyncClient,
) -> None:
    async with running_sim(scenario()) as sim:
        url = sim.url + "/channels/alpha/authorize"
        body = authorize_body("req_sig")
        stale = int(time.time()) - 600
        refusals = {
            "missing": await http.post(url, content=body),
            "wrong secret": await signed(http, "POST", url, body=body, secret="not-the-secret"),
            "altered body": await signed(
                http, "POST", url, body=body, signed_body=authorize_body("req_other")
            ),
            "other path": await signed(
                http, "POST", url, body=body, signed_target="/channels/beta/authorize"
            ),
            "stale": await signed(http, "POST", url, body=body, timestamp=stale),
            "future": await signed(http, "POST", url, body=body, timestamp=stale + 1200),
            "read endpoint": await http.get(sim.url + "/totals"),
            "query string": await signed(
                http,
                "GET",
                sim.url + "/totals",
                params={"payment_id": "pay_1"},
                signed_target="/totals",
            ),
        }
        for why, response in refusals.items():
            assert response.status_code == 401, why
            assert response.json()["error"]["code"] == "bad_signature", why
            assert PAN not in response.text and CVV not in response.text
        assert sim.network.lookup("alpha", "req_sig") is None  # nothing was acted on

        accepted = await signed(http, "POST", url, body=body)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["status"] == "approved"
        assert (await http.get(sim.url + "/health")).status_code == 200  # unsigned on purpose
        too_big = await signed(http, "POST", url, body=b"x" * (65 * 1024))
        assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "too_large"
        nothing = await signed(http, "POST", sim.url + "/channels/alpha/pay", body=body)
        assert nothing.status_code == 404 and nothing.json()["error"]["code"] == "not_found"


# ---------------------------------------------------------------------------------------
# Same world over HTTP as in-process
# ---------------------------------------------------------------------------------------


def test_channel_info_survives_the_wire(default_scenario: Scenario) -> None:
    for info in channel_infos(default_scenario).values():
        assert info_from_json(json.loads(dumps(info_to_json(info)))) == info


async def test_http_and_in_process_agree_on_every_outcome(http: httpx.AsyncClient) -> None:
    world = scenario(
        hard_decline_rate=0.15,
        alpha={"success": {"default": 0.8}},
        beta={"success": {"default": 0.6}},
    )
    local = load_channels(world)
    async with running_sim(world) as sim:
        remote = await load_http_channels(sim.url, SECRET, client=http)
        assert list(remote) == list(local) == ["alpha", "beta", "rail"]
        assert {cid: a.info for cid, a in remote.items()} == channel_infos(world)
        seen: set[tuple[object, object]] = set()
        for p in generate_payments(world, 40):
            cid = "beta" if p.issuer == "ICBC" and p.index % 2 else "alpha"
            results: list[tuple[object, ...]] = []
            for side in (local, remote):
                adapter: ChannelAdapter = side[cid]
                request = p.authorize_request(f"auth-{p.index}")
                # Every third a sale: authorised and captured in one message.
                request = replace(request, capture=p.index % 3 == 0)
                trail = [await adapter.authorize(request)]
                ref = trail[0].channel_ref
                if trail[0].status is ChannelStatus.APPROVED and ref is not None:
                    trail.append(await adapter.capture(f"cap-{p.index}", ref, p.amount))
                    trail.append(await adapter.refund(f"ref-{p.index}", ref, p.amount // 3 or 1))
                trail.append(await adapter.query(f"auth-{p.index}"))
                results.append(tuple(outcome(r) for r in trail))
            assert results[0] == results[1], p.key
            seen.add((results[0][0][0], results[0][0][1]))
        assert {s for s, _ in seen} == {ChannelStatus.APPROVED, ChannelStatus.DECLINED}

        truth = local["alpha"].network
        totals = await read(http, sim, "/totals")
        assert totals["charged"] == truth.totals().charged > 0
        assert totals["authorizations"] == truth.totals().authorizations
        assert (await read(http, sim, "/charges"))["by_channel"] == truth.charged_by_channel()
        # Statements: the same lines (only the wall-clock moment of each differs).
        start, end = clock.now() - timedelta(hours=1), clock.now() + timedelta(hours=1)
        for cid in ("alpha", "beta"):
            over_http = await remote[cid].statement(cid, start, end)
            in_process = await local[cid].statement(cid, start, end)
            assert len(over_http) == len(in_process) > 0
            for a, b in zip(over_http, in_process, strict=True):
                assert (a.kind, a.request_id, a.channel_ref, a.amount, a.fee) == (
                    b.kind,
                    b.request_id,
                    b.channel_ref,
                    b.amount,
                    b.fee,
                )


async def test_a_repeated_request_id_gets_the_first_outcome_and_charges_once(
    http: httpx.AsyncClient,
) -> None:
    async with running_sim(scenario()) as sim:
        alpha = (await load_http_channels(sim.url, SECRET, client=http))["alpha"]
        first = await alpha.authorize(auth_request("req_1"))
        again = await alpha.authorize(auth_request("req_1"))
        assert first.status is again.status is ChannelStatus.APPROVED
        assert first.channel_ref == again.channel_ref is not None
        ref = first.channel_ref
        captures = [await alpha.capture("cap_1", ref, 4000) for _ in range(3)]
        assert {c.channel_ref for c in captures} == {captures[0].channel_ref}
        reused = await alpha.authorize(auth_request("req_1", amount=99))
        assert (reused.status, reused.raw_code) == (ChannelStatus.ERROR, "94")
        totals = await read(http, sim, "/totals")
        assert (totals["authorizations"], totals["captured"]) == (1, 4000)
        assert (await read(http, sim, "/charges/pay_1"))["charged"] == 4000


# ---------------------------------------------------------------------------------------
# Lost answers, timeouts, dead connections
# ---------------------------------------------------------------------------------------


async def test_lost_answers_are_resolved_by_query(http: httpx.AsyncClient) -> None:
    # Every approved answer is lost; queries (not approvals themselves) come back.
    world = scenario(
        alpha={"lost_rate": 1.0, "timeout_ms": 250, "latency_ms": {"median": 5, "p99": 20}}
    )
    async with running_sim(world, time_scale=1.0) as sim:
        alpha = (await load_http_channels(sim.url, SECRET, client=http))["alpha"]
        result = await alpha.authorize(auth_request("req_lost"))
        assert result.status is ChannelStatus.APPROVED and result.outcome_known
        assert result.latency_ms >= 250  # it waited out the timeout before asking
        decided = await read(http, sim, "/channels/alpha/requests/req_lost")
        assert decided["decision"]["channel_ref"] == result.channel_ref
        assert result.channel_ref is not None
        captured = await alpha.capture("cap_lost", result.channel_ref, 10_000)
        assert captured.status is ChannelStatus.APPROVED
        repeat = await alpha.authorize(auth_request("req_lost"))
        assert repeat.channel_ref == result.channel_ref
        totals = await read(http, sim, "/totals")
        assert (totals["authorizations"], totals["charged"]) == (1, 10_000)


async def test_an_answer_that_stays_unknown_is_a_timeout(http: httpx.AsyncClient) -> None:
    # Every answer, queries included, is slower than the timeout.
    world = scenario(alpha={"timeout_ms": 150, "latency_ms": {"median": 1000, "p99": 2000}})
    async with running_sim(world, time_scale=1.0) as sim:
        infos = await load_http_channels(sim.url, SECRET, client=http)
        alpha = HttpChannel(
            infos["alpha"].info, base_url=sim.url, secret=SECRET, client=http, query_attempts=2
        )
        result = await alpha.authorize(auth_request("req_slow"))
        assert result.status is ChannelStatus.TIMEOUT and not result.outcome_known
        assert "still unknown after 2 queries" in (result.raw_message or "")
        # Slow answers were processed: the bank knows, we must ask again later.
        assert sim.network.lookup("alpha", "req_slow") is not None
        asked = await alpha.query("req_slow")
        assert asked.status is ChannelStatus.TIMEOUT


async def test_a_hung_request_the_channel_never_saw_is_an_error(http: httpx.AsyncClient) -> None:
    # ICBC requests hang; the channel processed each with probability 1/2. Queries about a
    # request it never saw are not ICBC's, so they come back `not_found`.
    data = base_data()
    data["start_at"] = "2020-01-01T00:00:00Z"
    data["channels"][0].update(timeout_ms=150, latency_ms={"median": 5, "p99": 20})
    data["incidents"] = [
        {"channel": "alpha", "issuer": "ICBC", "start_s": 0, "end_s": 1e10, "timeout_rate": 1.0}
    ]
    async with running_sim(scenario_from_data(data), time_scale=1.0) as sim:
        infos = await load_http_channels(sim.url, SECRET, client=http)
        alpha = HttpChannel(
            infos["alpha"].info,
            base_url=sim.url,
            secret=SECRET,
            client=http,
            query_attempts=2,
            query_backoff_s=0.01,
        )
        ids = [f"req_hang_{n}" for n in range(8)]
        results = await asyncio.gather(
            *(alpha.authorize(auth_request(rid, payment_id=f"pay_{rid}")) for rid in ids)
        )
        kinds = set()
        for rid, result in zip(ids, results, strict=True):
            acted = sim.network.lookup("alpha", rid) is not None
            kinds.add(acted)
            if acted:
                assert result.status is ChannelStatus.TIMEOUT, rid
            else:
                assert result.status is ChannelStatus.ERROR, rid
                assert "never received" in (result.raw_message or "")
        assert kinds == {True, False}


async def test_connection_refused_is_an_error_and_nothing_happened(
    http: httpx.AsyncClient,
) -> None:
    world = scenario()
    url = f"http://127.0.0.1:{free_port()}"
    alpha = HttpChannel(world.info("alpha"), base_url=url, secret=SECRET, client=http)
    for result in (
        await alpha.authorize(auth_request()),
        await alpha.capture("cap", "AUTHx", 100),
        await alpha.query("req_1"),
    ):
        assert result.status is ChannelStatus.ERROR and result.outcome_known
        assert "not sent" in (result.raw_message or "")
    with pytest.raises(ChannelServerError):
        await alpha.statement("alpha", clock.now(), clock.now())
    with pytest.raises(ChannelServerError, match="cannot reach"):
        await load_http_channels(url, SECRET, client=http)


async def test_a_connection_dropped_after_sending_is_lost(http: httpx.AsyncClient) -> None:
    """A server that reads each request and hangs up without answering."""
    connections = 0

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.read(65536)
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        alpha = HttpChannel(
            scenario().info("alpha"),
            base_url=f"http://127.0.0.1:{port}",
            secret=SECRET,
            client=http,
            query_attempts=2,
            query_backoff_s=0.01,
        )
        result = await alpha.authorize(auth_request())
        assert result.status is ChannelStatus.LOST and not result.outcome_known
        assert connections == 3  # the request, then two queries
        assert (await alpha.query("req_1")).status is ChannelStatus.LOST
    finally:
        server.close()
        await server.wait_closed()


# ---------------------------------------------------------------------------------------
# Read endpoints, payouts, card secrecy
# ---------------------------------------------------------------------------------------


async def test_statement_totals_and_payouts(http: httpx.AsyncClient) -> None:
    async with running_sim(scenario()) as sim:
        channels = await load_http_channels(sim.url, SECRET, client=http)
        alpha, rail = channels["alpha"], channels["rail"]
        ref = (await alpha.authorize(auth_request("a1", payment_id="pay_a"))).channel_ref
        assert ref is not None
        assert (await alpha.capture("c1", ref, 6000)).status is ChannelStatus.APPROVED
        assert (await alpha.refund("r1", ref, 1000)).status is ChannelStatus.APPROVED
        paid = await rail.payout(payout_request("po1"))
        assert paid.status is ChannelStatus.APPROVED
        assert (await rail.query_payout("po1")).channel_ref == paid.channel_ref
        assert (await alpha.payout(payout_request("po2"))).raw_code == "40"  # a card channel

        start, end = clock.now() - timedelta(minutes=5), clock.now() + timedelta(minutes=5)
        lines = await alpha.statement("alpha", start, end)
        assert lines == sim.network.statement("alpha", start, end)
        assert [(x.kind.value, x.amount) for x in lines] == [("capture", 6000), ("refund", 1000)]
        assert await rail.statement("rail", start, end) == sim.network.statement("rail", start, end)
        assert await alpha.statement("alpha", end, end + timedelta(hours=1)) == []
        with pytest.raises(ValueError):
            await alpha.statement("beta", start, end)

        assert await read(http, sim, "/totals", payment_id="pay_a") == {
            "authorizations": 1,
            "authorized": 10_000,
            "captured": 6000,
            "refunded": 1000,
            "voided": 0,
            "charged": 5000,
        }
        assert (await read(http, sim, "/charges"))["by_channel"] == {"alpha": 5000, "beta": 0}
        assert (await read(http, sim, "/paid_out"))["by_rail"] == {"rail": 50_000}
        [auth] = (await read(http, sim, "/authorizations", channel_id="alpha"))["data"]
        assert (auth["ref"], auth["charged"]) == (ref, 5000)
        bad_range = await signed(
            http, "GET", sim.url + "/channels/alpha/statement", params={"start": "yesterday"}
        )
        assert bad_range.status_code == 400
        unknown = await signed(http, "GET", sim.url + "/channels/nope/statement")
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"


async def test_no_card_number_or_cvv_in_answers_or_logs(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    account = "6212260200012345678"
    async with running_sim(scenario()) as sim:
        url = sim.url + "/channels/alpha/authorize"
        answers = [
            await signed(http, "POST", url, body=authorize_body("ok")),
            await signed(http, "POST", url, body=authorize_body("long", pan=PAN + "1234567")),
            await signed(http, "POST", url, body=authorize_body("letters", pan=PAN[:-1] + "x")),
            await signed(http, "POST", url, body=authorize_body("cvv", cvv=CVV + "12")),
            await signed(http, "POST", url, body=authorize_body("int", pan=int(PAN))),
            await signed(http, "POST", url, body=authorize_body("extra", **{PAN: CVV})),
            await signed(http, "POST", url, body=authorize_body("ok")[:-9]),  # cut short
            await http.post(url, content=authorize_body("unsigned")),
            await signed(
                http,
                "POST",
                sim.url + "/channels/rail/payout",
                body=dumps(
                    {
                        "request_id": "po",
                        "payout_id": "po",
                        "merchant_id": "m",
                        "amount": 100,
                        "currency": "CNY",
                        "account": {
                            "bank_code": "ICBC",
                            "account_number": account,
                            "account_name": "Noodles",
                        },
                    }
                ),
            ),
        ]
        answers.append(await signed(http, "GET", sim.url + "/authorizations"))
    assert [a.status_code for a in answers] == [200, 400, 400, 400, 400, 400, 400, 401, 200, 200]
    for answer in answers[1:7]:
        assert answer.json()["error"]["code"] == "malformed_request"
    assert "12 to 19 digits" in answers[1].text and "CVV" in answers[3].text
    logged = "\n".join(repr(vars(record)) for record in caplog.records)
    assert "sim call" in logged and "refused" in logged  # the server does log
    for text in [logged, *(a.text for a in answers)]:
        for secret in (PAN, PAN[-10:], PAN[:-1], str(int(PAN)), account, account[-10:]):
            assert secret not in text
        assert "cvv" not in text.lower() or "CVV must be" in text
        assert f'"{CVV}' not in text and f"'{CVV}" not in text


# ---------------------------------------------------------------------------------------
# PayHub over HTTP channels
# ---------------------------------------------------------------------------------------


def _payhub_world() -> Scenario:
    """The default scenario's channels, made deterministic and fast (as the payment tests)."""
    data: dict[str, Any] = builtin_scenario("default").model_dump(mode="json")
    data["incidents"] = []
    data["hard_decline_rate"] = 0.0
    for channel in data["channels"]:
        channel["success"] = {"default": 1.0, "by_issuer": {}}
        channel["lost_rate"] = 0.0
        channel["latency_ms"] = {"median": 20, "p99": 50}
    return scenario_from_data(data)


async def test_payments_through_the_api_on_http_channels(
    client: httpx.AsyncClient, as_key: Any, http: httpx.AsyncClient
) -> None:
    async with running_sim(_payhub_world(), time_scale=0.1) as sim:
        channels = await load_http_channels(sim.url, SECRET, client=http)
        with use_channels(channels), static_routing():
            shop = await open_shop(client, as_key)
            token, pan = await shop.card("PARTNER", "debit")
            payment = await shop.paid(token, 5000, capture_method="manual")
            pid = payment["id"]
            confirmed = await shop.me.post(f"/v1/payments/{pid}/confirm", json={"cvv": "737"})
            assert confirmed.status_code == 200, confirmed.text
            assert confirmed.json()["status"] == "requires_capture"
            assert confirmed.json()["channel"] == "partner_bank"
            captured = await shop.me.post(f"/v1/payments/{pid}/capture", json={"amount": 3000})
            assert captured.status_code == 200, captured.text
            refund = await shop.me.post("/v1/refunds", json={"payment": pid, "amount": 1000})
            assert refund.status_code == 201, refund.text
            assert refund.json()["status"] == "succeeded"

            other_token, _ = await shop.card("ICBC", "credit")
            other = await shop.paid(other_token, 3500)
            automatic = await shop.me.post(f"/v1/payments/{other['id']}/confirm")
            assert automatic.json()["status"] == "succeeded", automatic.text
            assert automatic.json()["channel"] == "unionpay_quick"

            ours = {}
            for made in (pid, other["id"]):
                shown = (await shop.me.get(f"/v1/payments/{made}")).json()
                ours[made] = shown["amount_captured"] - shown["amount_refunded"]
        # The bank's record over HTTP: charged ⇔ succeeded here, to the minor unit.
        assert ours == {pid: 2000, other["id"]: 3500}
        for made, amount in ours.items():
            assert (await read(http, sim, f"/charges/{made}"))["charged"] == amount
        by_channel = (await read(http, sim, "/charges"))["by_channel"]
        assert by_channel["partner_bank"] == 2000 and by_channel["unionpay_quick"] == 3500
        assert (await read(http, sim, "/totals"))["charged"] == sum(ours.values())
        authorizations = (await read(http, sim, "/authorizations"))["data"]
        assert sorted(a["payment_id"] for a in authorizations) == sorted(ours)
        assert pan not in json.dumps(authorizations)


# ---------------------------------------------------------------------------------------
# Configuration and the real command
# ---------------------------------------------------------------------------------------


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    reset_settings_cache()
    yield
    reset_settings_cache()


async def test_a_channels_url_in_the_settings_builds_http_channels(
    monkeypatch: pytest.MonkeyPatch, fresh_settings: None
) -> None:
    sqlite = "sqlite+aiosqlite:///./unused.db"
    dev = SecretStr(DEV_CHANNELS_SECRET)
    assert Settings.model_fields["channels_secret"].default == dev
    assert Settings.model_fields["channels_url"].default is None
    assert Settings(database_url=sqlite, channels_url=None, channels_secret=dev).warnings() == []
    [warning] = Settings(
        database_url=sqlite, channels_url="http://sim", channels_secret=dev
    ).warnings()
    assert "PAYHUB_CHANNELS_SECRET" in warning
    mine = Settings(database_url=sqlite, channels_url="http://sim", channels_secret=SECRET)
    assert mine.warnings() == []
    async with running_sim(scenario()) as sim:
        monkeypatch.setenv("PAYHUB_CHANNELS_URL", sim.url)
        monkeypatch.setenv("PAYHUB_CHANNELS_SECRET", SECRET)
        reset_settings_cache()
        built = payment_channels._configured_channels()
        assert list(built) == ["alpha", "beta", "rail"]
        assert all(isinstance(a, HttpChannel) for a in built.values())
        result = await built["alpha"].authorize(auth_request())
        assert result.status is ChannelStatus.APPROVED
        first = next(iter(built.values()))
        assert isinstance(first, HttpChannel)
        await first.client.aclose()

        monkeypatch.setenv("PAYHUB_CHANNELS_SECRET", "wrong-secret")
        reset_settings_cache()
        with pytest.raises(ChannelServerError, match="check the shared secret"):
            payment_channels._configured_channels()


async def test_payhub_sim_serve(tmp_path: Path, http: httpx.AsyncClient) -> None:
    """The real command: it says where it listens, signs, answers, and logs no card data."""
    scenario_file = tmp_path / "world.json"
    scenario_file.write_text(json.dumps(base_data()))
    port = free_port()
    env = payhub_env(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}", PAYHUB_LOG_LEVEL="DEBUG")
    args = ["sim", "serve", "--scenario", str(scenario_file), "--port", str(port)]
    process = await asyncio.create_subprocess_exec(
        str(PAYHUB),
        *args,
        "--secret",
        SECRET,
        "--time-scale",
        "0",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            assert process.returncode is None, "payhub sim serve exited"
            try:
                if (await http.get(url + "/health")).status_code == 200:
                    break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
        channels = await load_http_channels(url, SECRET, client=http)
        assert list(channels) == ["alpha", "beta", "rail"]
        result = await channels["alpha"].authorize(auth_request())
        assert result.status is ChannelStatus.APPROVED
        refused = await http.post(url + "/channels/alpha/authorize", content=authorize_body("x"))
        assert refused.status_code == 401
    finally:
        if process.returncode is None:
            process.terminate()
        raw_out, raw_err = await asyncio.wait_for(process.communicate(), 10)
    out, err = raw_out.decode(), raw_err.decode()
    assert f"http://127.0.0.1:{port}" in out and "test (seed 11)" in out
    assert "sim call" in err  # the JSON log lines, at DEBUG
    for text in (out, err):
        assert PAN not in text and PAN[-10:] not in text and SECRET not in text
        assert "cvv" not in text.lower()
