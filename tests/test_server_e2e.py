"""`payhub start` as a user runs it: a real server process, spoken to over real HTTP."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from payhub import __version__
from tests.conftest import POSTGRES
from tests.processes import PAYHUB, free_port, fresh_database, payhub_env

OPERATOR_KEY = "sk_op_e2e_" + "k" * 32
STARTUP_TIMEOUT = 30.0


class Server:
    """One `payhub start` process; its output goes to files so no pipe can fill up."""

    def __init__(self, database_url: str, directory: Path, name: str, **env: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.stdout_path = directory / f"{name}.stdout"
        self.stderr_path = directory / f"{name}.stderr"
        with self.stdout_path.open("w") as out, self.stderr_path.open("w") as err:
            self.process = subprocess.Popen(
                [str(PAYHUB), "start", "--port", str(self.port)],
                cwd=directory,
                env=payhub_env(database_url, PAYHUB_DEMO_DATA="true", **env),
                stdout=out,
                stderr=err,
            )
        try:
            self._wait_until_healthy()
        except BaseException:
            self.stop()
            raise

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"payhub start exited with {self.process.returncode}:\n{self.output()}")
            try:
                response = httpx.get(f"{self.base_url}/healthz", timeout=1.0)
            except httpx.TransportError:
                time.sleep(0.1)
                continue
            if response.status_code == 200:
                return
            time.sleep(0.1)
        pytest.fail(f"/healthz did not answer within {STARTUP_TIMEOUT} s:\n{self.output()}")

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8")

    def output(self) -> str:
        return f"stdout:\n{self.stdout}\nstderr:\n{self.stderr}"

    def client(self, key: str | None = OPERATOR_KEY) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=10.0)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode

    def stopped_cleanly(self) -> bool:
        """Stop the server; true when it shut down gracefully on SIGTERM.

        uvicorn shuts down and then re-raises the signal it caught, so the exit status is
        "killed by SIGTERM" either way; its log tells whether the shutdown ran."""
        code = self.stop()
        log = self.stderr
        return (
            code in (0, -signal.SIGTERM)
            and "Application shutdown complete." in log
            and "Finished server process" in log
        )


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    with fresh_database(tmp_path) as url:
        yield url


@pytest.fixture
def servers(database: str, tmp_path: Path) -> Iterator[list[Server]]:
    """Servers a test started; all stopped at the end, whatever happened."""
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def start(servers: list[Server], database: str, directory: Path, **env: str) -> Server:
    server = Server(database, directory, f"server{len(servers) + 1}", **env)
    servers.append(server)
    return server


def panel(stdout: str) -> str:
    """The text of the startup panel, without its frame, one space between words."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", stdout).split())


def payout(id_: str, amount: int) -> dict[str, Any]:
    return {
        "id": id_,
        "description": "Payout to the noodle shop's bank account",
        "postings": [
            {
                "account": "merchant:mer_demo_noodles:available",
                "side": "debit",
                "amount": amount,
                "currency": "CNY",
            },
            {"account": "bank:custody", "side": "credit", "amount": amount, "currency": "CNY"},
        ],
    }


def test_start_serves_the_api_with_demo_data(
    servers: list[Server], database: str, tmp_path: Path
) -> None:
    server = start(servers, database, tmp_path, PAYHUB_OPERATOR_KEY=OPERATOR_KEY)
    text = panel(server.stdout)
    assert "PayHub is starting" in text
    assert f"API docs: http://127.0.0.1:{server.port}/docs" in text
    assert "Demo data seeded: chart of accounts and 4 journals." in text
    assert "Demo shop: merchant mer_" in text
    assert "Operator API key: the one in PAYHUB_OPERATOR_KEY." in text
    assert OPERATOR_KEY not in server.stdout

    with server.client(key=None) as anonymous:
        health = anonymous.get("/healthz")
        assert health.status_code == 200
        assert health.json() == {
            "status": "ok",
            "database": "postgresql" if POSTGRES else "sqlite",
            "version": __version__,
        }
        assert re.fullmatch(r"req_[0-9A-Z]{26}", health.headers["request-id"])

        docs = anonymous.get("/docs")
        assert docs.status_code == 200
        assert docs.headers["content-type"].startswith("text/html")
        assert "swagger-ui" in docs.text
        assert "/openapi.json" in docs.text

        spec = anonymous.get("/openapi.json").json()
        assert spec["info"]["title"] == "PayHub"
        assert spec["info"]["version"] == __version__
        assert {"get", "post"} <= set(spec["paths"]["/v1/ledger/journals"])
        assert "post" in spec["paths"]["/v1/ledger/journals/{journal_id}/reverse"]
        assert "/v1/ledger/accounts/{account}/balance" in spec["paths"]

        refused = anonymous.get("/v1/ledger/accounts/bank:custody", params={"currency": "CNY"})
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "api_key_missing"

    with server.client(key="sk_op_wrong") as wrong:
        refused = wrong.get("/v1/ledger/accounts/bank:custody", params={"currency": "CNY"})
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "api_key_invalid"

    with server.client() as http:
        account = http.get("/v1/ledger/accounts/bank:custody", params={"currency": "CNY"})
        assert account.status_code == 200
        body = account.json()
        assert body["object"] == "ledger_account"
        assert body["code"] == "bank:custody"
        assert body["currency"] == "CNY"
        assert body["normal_side"] == "debit"
        assert body["name"] == "Custody account at the partner bank"
        assert body["created_at"].endswith("Z")

        listed = http.get("/v1/ledger/accounts", params={"limit": 100}).json()
        # The demo chart, plus the accounts the demo shop's captures opened.
        assert len(listed["data"]) >= 8
        assert listed["has_more"] is False
        payments = http.get("/v1/payments", params={"limit": 100}).json()["data"]
        assert len(payments) == 11  # the demo shop's 8, the group leader's round of 3
        assert {p["scene"] for p in payments} == {
            "food_delivery",
            "group_buy",
            "local_services",
            "cross_border",
        }

        def balance(code: str) -> dict[str, Any]:
            response = http.get(f"/v1/ledger/accounts/{code}/balance", params={"currency": "CNY"})
            assert response.status_code == 200, response.text
            result: dict[str, Any] = response.json()
            return result

        # Money out: the shop's instant payout and the split batch's two, all paid.
        payouts = http.get("/v1/payouts", params={"limit": 100}).json()["data"]
        assert sorted((p["instant"], p["status"]) for p in payouts) == [
            (False, "paid"),
            (False, "paid"),
            (True, "paid"),
        ]
        [batch] = http.get("/v1/split_batches").json()["data"]
        assert batch["status"] == "paid" and batch["lines_paid"] == 2
        paid_out = sum(p["amount"] for p in payouts)
        assert balance("bank:custody")["posted"] == 3488 - paid_out
        assert balance("merchant:mer_demo_noodles:available")["posted"] == 3479
        assert balance("merchant:mer_demo_noodles:pending")["posted"] == 12723
        # The demo ledger's 98, the fees of the payments (net of refunds), the instant
        # payout's fee and the platform's commission on the split batch.
        payment_fees = sum(  # net of what refunds gave back
            http.get(f"/v1/payments/{p['id']}/fees").json()["merchant_fee"] for p in payments
        )
        assert payment_fees > 0
        extra = sum(p["fee"] for p in payouts) + batch["platform_commission"]
        assert balance("platform:fees")["posted"] == 98 + payment_fees + extra

        posted = http.post(
            "/v1/ledger/journals",
            json=payout("e2e-payout-1", 2000),
            headers={"Idempotency-Key": "k1"},
        )
        assert posted.status_code == 201, posted.text
        journal = posted.json()
        assert journal["id"] == "e2e-payout-1"
        assert journal["kind"] == "standard"
        assert journal["posted_at"].endswith("Z")
        assert sorted((p["account_code"], p["side"], p["amount"]) for p in journal["postings"]) == [
            ("bank:custody", "credit", 2000),
            ("merchant:mer_demo_noodles:available", "debit", 2000),
        ]

        replay = http.post(
            "/v1/ledger/journals",
            json=payout("e2e-payout-1", 2000),
            headers={"Idempotency-Key": "k1"},
        )
        assert replay.status_code == 201
        assert replay.headers.get("idempotent-replayed") == "true"
        assert replay.json() == journal
        duplicate = http.post("/v1/ledger/journals", json=payout("e2e-payout-1", 2000))
        assert duplicate.status_code == 200
        assert duplicate.json()["id"] == "e2e-payout-1"

        assert balance("bank:custody")["posted"] == 1488 - paid_out
        assert balance("merchant:mer_demo_noodles:available") | {"as_of": None} == {
            "object": "ledger_balance",
            "account": balance("merchant:mer_demo_noodles:available")["account"],
            "currency": "CNY",
            "posted": 1479,
            "pending": 0,
            "available": 1479,
            "debits_posted": 2000,
            "credits_posted": 3479,
            "debits_pending": 0,
            "credits_pending": 0,
            "as_of": None,
        }

        too_much = http.post(
            "/v1/ledger/journals",
            json=payout("e2e-payout-2", 10**9),
            headers={"Accept-Language": "zh-CN"},
        )
        assert too_much.status_code == 402
        error = too_much.json()["error"]
        assert error["code"] == "insufficient_funds"
        assert error["type"] == "payment"
        assert error["message"] == (
            "账户 merchant:mer_demo_noodles:available 余额不足:借方不得超过贷方。"
        )
        assert error["request_id"] == too_much.headers["request-id"]
        assert balance("merchant:mer_demo_noodles:available")["posted"] == 1479

    assert server.stopped_cleanly(), server.output()
    # The server logged every request as one JSON object per line.
    logged = [json.loads(line) for line in server.stderr.splitlines() if line.startswith("{")]
    access = [entry for entry in logged if entry.get("logger") == "payhub.access"]
    paths = [entry["path"] for entry in access]
    assert "/docs" in paths
    assert "/v1/ledger/journals" in paths
    assert all(entry["ts"].endswith("Z") for entry in logged)
    assert any(
        entry["path"] == "/v1/ledger/journals" and entry["status"] == 402 for entry in access
    )
    assert OPERATOR_KEY not in server.stderr


def test_second_start_does_not_seed_again(
    servers: list[Server], database: str, tmp_path: Path
) -> None:
    first = start(servers, database, tmp_path, PAYHUB_OPERATOR_KEY=OPERATOR_KEY)
    assert "Demo data seeded: chart of accounts and 4 journals." in panel(first.stdout)
    with first.client() as http:
        assert (
            http.post("/v1/ledger/journals", json=payout("before-restart", 500)).status_code == 201
        )
    assert first.stopped_cleanly(), first.output()

    second = start(servers, database, tmp_path, PAYHUB_OPERATOR_KEY=OPERATOR_KEY)
    text = panel(second.stdout)
    assert "Demo data seeded" not in text
    assert "Operator API key: the one in PAYHUB_OPERATOR_KEY." in text
    assert f"API docs: http://127.0.0.1:{second.port}/docs" in text
    with second.client() as http:
        journals = http.get("/v1/ledger/journals", params={"limit": 100}).json()["data"]
        # The demo shop's capture and refund journals are named after their attempts.
        # So are the settlement, payout and split-batch journals.
        generated = ("cap_", "ref_", "stl_", "po_", "spb_")
        named = sorted(j["id"] for j in journals if not j["id"].startswith(generated))
        assert named == [
            "before-restart",
            "demo-capture-1",
            "demo-capture-2",
            "demo-channel-settlement-1",
            "demo-merchant-settlement-1",
        ]
        # Nothing seeded again: the payments, payouts and split batch of the first start.
        assert len(http.get("/v1/payments", params={"limit": 100}).json()["data"]) == 11
        payouts = http.get("/v1/payouts", params={"limit": 100}).json()["data"]
        assert len(payouts) == 3
        assert len(http.get("/v1/split_batches").json()["data"]) == 1
        paid_out = sum(p["amount"] for p in payouts if p["status"] == "paid")
        custody = http.get("/v1/ledger/accounts/bank:custody/balance", params={"currency": "CNY"})
        assert custody.json()["posted"] == 3488 - 500 - paid_out
    assert second.stopped_cleanly(), second.output()


def test_start_without_a_configured_key_prints_a_new_one_once(
    servers: list[Server], database: str, tmp_path: Path
) -> None:
    first = start(servers, database, tmp_path)
    match = re.search(
        r"Operator API key \(shown once, keep it\): (sk_op_[A-Za-z0-9_\-]{43})", panel(first.stdout)
    )
    assert match, first.stdout
    key = match.group(1)
    with first.client(key) as http:
        account = http.get("/v1/ledger/accounts/bank:custody", params={"currency": "CNY"})
        assert account.status_code == 200
    assert key not in first.stderr
    assert first.stopped_cleanly(), first.output()

    second = start(servers, database, tmp_path)
    text = panel(second.stdout)
    assert "Operator API key: made on the first start (see its output)." in text
    assert "sk_op_" not in text
    assert "Demo data seeded" not in text
    with second.client(key) as http:
        account = http.get("/v1/ledger/accounts/bank:custody", params={"currency": "CNY"})
        assert account.status_code == 200
