"""The reconciliation API: upload (CSV body or JSON), fetch from the channel, read runs
and breaks, resolve, the daily report; catalogue errors writing nothing."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text

from payhub.core import clock
from payhub.db.session import Database
from payhub.payments.channels import use_channels
from payhub.settlement.reconciliation.engine import DEFAULT_LATE_WINDOW, day_bounds
from payhub.settlement.reconciliation.injection import Injection, inject
from payhub.settlement.reconciliation.statements import to_csv
from tests.api.helpers import assert_error
from tests.payments.helpers import count_rows, open_shop, world
from tests.settlement.reconciliation.helpers import CHANNEL, DAY, books

R = "/v1/reconciliation"
TABLES = ("reconciliation_runs", "reconciliation_breaks", "ledger_journals")


async def _upload(client: httpx.AsyncClient, data: bytes, key: str | None = None, **q: str) -> Any:
    headers = {"content-type": "text/csv"}
    if key:
        headers["idempotency-key"] = key
    params = {"channel": CHANNEL, "date": DAY.isoformat(), **q}
    return await client.post(f"{R}/runs", content=data, headers=headers, params=params)


async def test_upload_read_resolve_and_report(client: httpx.AsyncClient, db: Database) -> None:
    our = await books(db, 150)
    _, end = day_bounds(DAY)
    injected = inject(
        our.lines,
        Injection(missing_in_ledger=1, amount_mismatch=1, timing=1),
        seed=2,
        day_end=end,
        late_window=DEFAULT_LATE_WINDOW,
    )
    data = to_csv(injected.statement)
    made = await _upload(client, data, key="recon-1")
    assert made.status_code == 201, made.text
    run = made.json()
    assert run["break_counts"] == {"missing_in_ledger": 1, "amount_mismatch": 1, "timing": 1}
    replay = await _upload(client, data, key="recon-1")
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == run["id"]
    # The same statement without a key: the first run again, as 200.
    again = await _upload(client, data)
    assert again.status_code == 200 and again.json()["id"] == run["id"]

    listed = (await client.get(f"{R}/runs", params={"channel": CHANNEL})).json()
    assert [r["id"] for r in listed["data"]] == [run["id"]]
    assert (await client.get(f"{R}/runs/{run['id']}")).json() == run
    open_breaks = (await client.get(f"{R}/breaks", params={"status": "open"})).json()["data"]
    assert len(open_breaks) == 3
    (ours_missing,) = (
        await client.get(f"{R}/breaks", params={"type": "missing_in_ledger"})
    ).json()["data"]
    assert (
        ours_missing["proposed_journal"]["postings"][0]["account"] == f"channel:{CHANNEL}:clearing"
    )

    body = {"action": "post_proposed", "reason": "the channel confirmed it"}
    path = f"{R}/breaks/{ours_missing['id']}/resolve"
    resolved = await client.post(path, json=body, headers={"idempotency-key": "res-1"})
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["journal"] == f"recon:{ours_missing['id']}"
    replayed = await client.post(path, json=body, headers={"idempotency-key": "res-1"})
    assert replayed.json() == resolved.json()
    journal = await client.get(f"/v1/ledger/journals/recon:{ours_missing['id']}")
    assert journal.status_code == 200, journal.text

    report = await client.get(
        f"{R}/reports/daily", params={"channel": CHANNEL, "date": DAY.isoformat()}
    )
    assert report.status_code == 200, report.text
    figures = report.json()
    assert figures["matched_count"] == run["matched_count"]
    assert figures["breaks_by_type"]["timing"] == 1 and figures["open_breaks"] == 2
    assert figures["open_by_age"] == {"0-1d": 2, "2-7d": 0, ">7d": 0}


async def test_json_upload_with_custody(client: httpx.AsyncClient, db: Database) -> None:
    our = await books(db, 60)
    net = sum(ln.net for ln in our.lines)
    made = await client.post(
        f"{R}/runs",
        json={
            "channel": CHANNEL,
            "date": DAY.isoformat(),
            "statement_csv": to_csv(our.lines).decode(),
            "custody": {"CNY": net + 5},
        },
    )
    assert made.status_code == 201, made.text
    assert made.json()["custody_difference"] == {"CNY": 5}
    assert made.json()["break_counts"] == {"custody_mismatch": 1}


async def test_bad_statements_are_catalogue_errors_and_write_nothing(
    client: httpx.AsyncClient, db: Database
) -> None:
    our = await books(db, 30)
    good = to_csv(our.lines)
    before = await count_rows(db, *TABLES)
    lines = good.decode().splitlines()
    bad_amount = "\n".join(
        [
            *lines[:5],
            lines[5].replace(",CNY,", ",CNY,").replace(f",{our.lines[4].amount},", ",-12,", 1),
            *lines[6:],
        ]
    ).encode()
    for data, line in (
        (b"not,a,statement\n", 1),
        (bad_amount, 6),
        (good.replace(b",CNY,", b",XXX,", 1), 2),
        (good.replace(CHANNEL.encode(), b"partner_bank", 1), 2),
    ):
        answer = await _upload(client, data)
        error = assert_error(answer, 400, "statement_malformed", param="statement")
        assert f"line {line}" in error["message"], (error, line)
    zh = await client.post(
        f"{R}/runs",
        content=b"x\n",
        headers={"content-type": "text/csv", "accept-language": "zh-CN"},
        params={"channel": CHANNEL, "date": DAY.isoformat()},
    )
    assert "对账单第 1 行格式错误" in assert_error(zh, 400, "statement_malformed")["message"]
    unknown = await _upload(client, good, channel="nobank")
    assert_error(unknown, 400, "reconciliation_channel_unknown", param="channel")
    bad_day = await _upload(client, good, date="2026-13-01")
    assert_error(bad_day, 400, "validation_error", param="date")
    assert_error(await client.get(f"{R}/runs/rcr_01M97DC3WE0MD7H9ACKEA220F5"), 404,
                 "reconciliation_run_not_found")  # fmt: skip
    assert_error(await client.get(f"{R}/breaks", params={"type": "lost"}), 400,
                 "validation_error", param="type")  # fmt: skip
    assert await count_rows(db, *TABLES) == before


async def test_fetch_from_the_channel_after_real_payments(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    """Payments through the API on the simulator, then each channel's own statement for
    the day, fetched through its adapter: everything matches."""
    with use_channels(world()):
        shop = await open_shop(client, as_key)
        for issuer in ("PARTNER", "ICBC"):
            token, _ = await shop.card(issuer)
            payment = await shop.paid(token, 4200)
            confirmed = await shop.me.post(f"/v1/payments/{payment['id']}/confirm")
            assert confirmed.json()["status"] == "succeeded", confirmed.text
            refund = await shop.me.post(
                "/v1/refunds", json={"payment": payment["id"], "amount": 1000}
            )
            assert refund.status_code == 201, refund.text
        async with db.engine.connect() as conn:
            channels = [
                r[0]
                for r in await conn.execute(
                    text(
                        "SELECT DISTINCT channel_id FROM payment_attempts WHERE status = 'approved'"
                    )
                )
            ]
        today = clock.now().date().isoformat()
        moved = 0
        for channel in channels:
            made = await client.post(f"{R}/runs", json={"channel": channel, "date": today})
            assert made.status_code == 201, made.text
            run = made.json()
            assert run["source"] == "channel" and run["breaks_found"] == 0, run
            assert run["matched_count"] == run["lines"]
            moved += run["lines"]
        assert moved == 4  # two sales and two refunds
