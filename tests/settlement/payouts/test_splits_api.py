"""The split batch API and CLI: create, follow per line, retry; another merchant's batch
stays out of reach."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
from typer.testing import CliRunner

from payhub.cli import app
from payhub.db.session import Database
from payhub.splits import runner
from tests.settlement.payouts.helpers import balance
from tests.settlement.payouts.split_helpers import open_leader, suppliers

Client = Callable[[str], httpx.AsyncClient]


async def test_a_leader_submits_follows_and_retries_a_batch(
    db: Database, client: httpx.AsyncClient, as_key: Client
) -> None:
    leader = await open_leader(db, client, as_key, [20_000, 10_000])
    a, b = await suppliers(db, 2)
    body = {
        "currency": "CNY",
        "payments": leader.payments,
        "lines": [
            {"receiver": a.payee_id, "share_bps": 5_000},
            {"receiver": b.payee_id, "amount": 9_000},
        ],
        "platform_commission": {"bps": 200},
        "leader_commission": {"amount": 1_000},
    }
    me = leader.shop.me
    made = await me.post("/v1/split_batches", json=body, headers={"Idempotency-Key": "r-49"})
    assert made.status_code == 201, made.text
    batch = made.json()
    assert batch["status"] == "processing" and batch["net_collected"] == 30_000
    assert batch["distributed"] == 24_000 and batch["platform_commission"] == 600
    assert [ln["status"] for ln in batch["lines"]] == ["pending", "pending"]
    replay = await me.post("/v1/split_batches", json=body, headers={"Idempotency-Key": "r-49"})
    assert replay.json()["id"] == batch["id"]

    over = {**body, "lines": [{"receiver": a.payee_id, "amount": 30_000}]}
    refused = await me.post("/v1/split_batches", json=over)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "split_payment_invalid"  # already split

    await runner.run_batch(db, batch["id"])
    shown = await me.get(f"/v1/split_batches/{batch['id']}")
    assert shown.json()["status"] == "paid" and shown.json()["lines_paid"] == 2
    assert all(ln["payout"].startswith("po_") for ln in shown.json()["lines"])
    retried = await me.post(f"/v1/split_batches/{batch['id']}/retry")
    assert retried.status_code == 200 and retried.json()["lines_failed"] == 0
    listed = await me.get("/v1/split_batches")
    assert [x["id"] for x in listed.json()["data"]] == [batch["id"]]

    outsider = await open_leader(db, client, as_key, [100])
    hidden = await outsider.shop.me.get(f"/v1/split_batches/{batch['id']}")
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "split_batch_not_found"
    assert (await outsider.shop.me.get("/v1/split_batches")).json()["data"] == []
    assert await balance(db, f"merchant:{a.merchant_id}:available") == 0


async def test_the_cli_creates_and_pays_out_a_batch(
    db: Database, client: httpx.AsyncClient, as_key: Client, tmp_path: Path, monkeypatch: object
) -> None:
    import asyncio

    from payhub.core.config import reset_settings_cache

    leader = await open_leader(db, client, as_key, [5_000])
    (a,) = await suppliers(db, 1)
    file = tmp_path / "batch.json"
    file.write_text(
        json.dumps(
            {
                "merchant": leader.merchant_id,
                "currency": "CNY",
                "payments": leader.payments,
                "lines": [{"receiver": a.payee_id, "amount": 4_000}],
            }
        )
    )
    setenv = monkeypatch.setenv  # type: ignore[attr-defined]
    setenv("PAYHUB_DATABASE_URL", db.url)
    reset_settings_cache()

    def invoke() -> str:
        result = CliRunner().invoke(app, ["splits", "create", str(file), "--run"])
        assert result.exit_code == 0, result.output
        return result.output

    try:
        output = await asyncio.to_thread(invoke)
    finally:
        reset_settings_cache()
    assert "paying out" in output and "receivers booked" in output and "paid" in output
    assert await balance(db, f"merchant:{a.merchant_id}:available") == 0
