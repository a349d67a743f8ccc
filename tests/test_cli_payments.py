"""The operator's payment commands, run as the real `payhub` console script on a fresh
database: customers, cards, payments and refunds, webhooks and events.

Each command is a process of its own, so the bank channels must outlive them: the commands
talk to one `payhub sim serve` whose channels approve everything, as a deployment talks to
its real channels. Every output is checked for the card number as it is collected.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from payhub.channels.sim.scenario import builtin_scenario
from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.payments import cli as payments_cli
from payhub.payments.models import PAYMENT_STATUSES, SCENES
from payhub.vault import bins
from payhub.vault.cli import parse_expiry
from tests.processes import PAYHUB, free_port, fresh_database, payhub_env, table_rows, table_value

SECRET = "cli-payments-test-secret"  # this module's own channel server
EXPIRY = f"12/{(datetime.now(UTC).year + 3) % 100:02d}"
PAYMENT_ID = re.compile(r"pay_[0-9A-HJKMNP-TV-Z]{26}")


def scenario(*, lost: float = 0.0) -> dict[str, Any]:
    """The default network made predictable: every channel approves, fast, no incidents;
    `lost` of the partner bank's answers never come back."""
    data: dict[str, Any] = builtin_scenario("default").model_dump(mode="json")
    data["incidents"] = []
    data["hard_decline_rate"] = 0.0
    for channel in data["channels"]:
        channel["success"] = {"default": 1.0, "by_issuer": {}}
        channel["lost_rate"] = lost if channel["id"] == "partner_bank" else 0.0
        channel["latency_ms"] = {"median": 20, "p99": 40}
    return data


class Cli:
    """`payhub` on this module's database and channel server, with standard input."""

    def __init__(self, database_url: str, directory: Path, channels_url: str) -> None:
        self.database_url = database_url
        self.directory = directory
        self.channels_url = channels_url
        # Card numbers no output may contain.
        self.secrets: list[str] = []

    def run(
        self, *args: str, input: str = "", expect: int = 0, **env: str
    ) -> subprocess.CompletedProcess[str]:
        settings = {"PAYHUB_CHANNELS_URL": self.channels_url, "PAYHUB_CHANNELS_SECRET": SECRET}
        done = subprocess.run(
            [str(PAYHUB), *args],
            cwd=self.directory,
            env=payhub_env(self.database_url, **(settings | env)),
            # Always a pipe: a command that reads a secret never waits on a terminal.
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == expect, (
            f"payhub {' '.join(args)} exited {done.returncode}\n"
            f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        )
        for secret in self.secrets:
            for shown in (done.stdout, done.stderr):
                assert secret not in shown, f"payhub {' '.join(args)} printed a card number"
                assert secret[6:-4] not in shown, f"payhub {' '.join(args)} printed its digits"
        return done

    def fail(self, *args: str, input: str = "") -> str:
        """A command that must be refused: exit code 2, a message and no traceback."""
        done = self.run(*args, input=input, expect=2)
        assert "Traceback" not in done.stderr + done.stdout
        return done.stderr.strip()

    def query(self, sql: str) -> list[Any]:
        async def go() -> list[Any]:
            db = Database(self.database_url, pool_size=1)
            try:
                async with db.engine.connect() as conn:
                    return list((await conn.execute(text(sql))).all())
            finally:
                await db.dispose()

        return asyncio.run(go())


@dataclass(frozen=True)
class Shop:
    merchant: str
    customer: str
    card: str


def _wait_until_up(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "payhub sim serve exited"
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("payhub sim serve did not come up")


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One simulated bank network for every command of the module."""
    directory = tmp_path_factory.mktemp("sim")
    world = directory / "world.json"
    world.write_text(json.dumps(scenario()))
    port = free_port()
    args = ["sim", "serve", "--scenario", str(world), "--port", str(port), "--secret", SECRET]
    process = subprocess.Popen(
        [str(PAYHUB), *args, "--time-scale", "0"],
        cwd=directory,
        env=payhub_env(f"sqlite+aiosqlite:///{directory / 'unused.db'}"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def cli(sim: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    directory = tmp_path_factory.mktemp("cli_payments")
    with fresh_database(directory) as url:
        cli = Cli(url, directory, sim)
        cli.run("migrate")
        yield cli


@pytest.fixture(scope="module")
def shop(cli: Cli) -> Shop:
    """A merchant, its customer and the customer's partner-bank debit card."""
    made = cli.run("merchants", "create", "Noodle shop").stdout
    merchant = re.search(r"Merchant (mer_\w+)", made)
    assert merchant, made
    person = cli.run(
        "customers",
        "create",
        merchant[1],
        "--name",
        "王小明",
        "--phone",
        "+8613800138000",
        "--home-region",
        "CN-SH",
    ).stdout
    customer = re.search(r"Customer (cus_\w+): 王小明", person)
    assert customer, person

    pan = cli.run("cards", "test-number", "partner", "debit").stdout.strip()
    info = bins.lookup(pan)
    assert info is not None and (info.issuer_code, info.card_type) == ("PARTNER", "debit")
    cli.secrets.append(pan)
    # The number and expiry come on standard input, as a script would give them.
    bound = cli.run(
        "cards", "bind", merchant[1], "--customer", customer[1], input=f"{pan}\n{EXPIRY}\n"
    ).stdout
    assert table_value(bound, "first6") == pan[:6]
    assert table_value(bound, "last4") == pan[-4:]
    assert table_value(bound, "brand") == "unionpay"
    assert table_value(bound, "type") == "debit"
    assert (table_value(bound, "issuer") or "").startswith("PARTNER — ")
    assert bound.strip().endswith("bound")
    token = table_value(bound, "token") or ""
    assert token.startswith("card_")
    return Shop(merchant[1], customer[1], token)


def test_customers_and_cards(cli: Cli, shop: Shop) -> None:
    listed = cli.run("customers", "list", shop.merchant).stdout
    [row] = table_rows(listed)
    assert row[:5] == [shop.customer, "王小明", "+8613800138000", "", "CN-SH"]

    shown = cli.run("cards", "show", shop.card).stdout
    assert table_value(shown, "customer") == shop.customer
    assert table_value(shown, "expiry") == f"12/20{EXPIRY[-2:]}"

    bad = "4111111111111112"  # one digit off a valid number
    assert cli.fail("cards", "bind", shop.merchant, input=f"{bad}\n{EXPIRY}\n") == (
        "card_number_invalid: The card number is not valid: check its digits."
    )
    assert cli.fail("cards", "show", "card_nope").startswith("payment_method_not_found")
    assert cli.fail("customers", "list", "mer_nope").startswith("merchant_not_found")
    # Nothing of the refused card was stored.
    assert cli.query("SELECT COUNT(*) FROM vault_cards") == [(1,)]


@dataclass(frozen=True)
class Paid:
    """A manual-capture payment of 50.00, confirmed, 30.00 captured, 10.00 refunded."""

    payment: str
    refund: str
    said: dict[str, str]  # what each step printed


@pytest.fixture(scope="module")
def paid(cli: Cli, shop: Shop) -> Paid:
    made = cli.run(
        "payments",
        "create",
        shop.merchant,
        "--amount",
        "5000",
        "--card",
        shop.card,
        "--customer",
        shop.customer,
        "--capture",
        "manual",
        "--scene",
        "food_delivery",
    ).stdout
    payment = PAYMENT_ID.search(made)
    assert payment, made
    # The CVV comes on standard input too; it goes to the channel only.
    confirmed = cli.run("payments", "confirm", payment[0], input="737\n").stdout
    captured = cli.run("payments", "capture", payment[0], "--amount", "3000").stdout
    refunded = cli.run(
        "payments", "refund", payment[0], "--amount", "1000", "--reason", "one dish missing"
    ).stdout
    refund = re.search(r"Refund (re_\w+)", refunded)
    assert refund, refunded
    said = {"create": made, "confirm": confirmed, "capture": captured, "refund": refunded}
    return Paid(payment[0], refund[1], said)


def test_create_confirm_capture_refund(cli: Cli, shop: Shop, paid: Paid) -> None:
    pay = paid.payment
    assert table_value(paid.said["create"], "amount") == "50.00 CNY"
    assert paid.said["create"].strip().endswith(f"Payment {pay}: requires_confirmation")

    confirmed = paid.said["confirm"]
    assert confirmed.strip().endswith(f"Payment {pay}: requires_capture")
    assert table_value(confirmed, "capturable") == "50.00 CNY"
    assert table_value(confirmed, "channel") == "partner_bank"
    assert "737" not in confirmed

    captured = paid.said["capture"]
    assert captured.strip().endswith(f"Payment {pay}: succeeded")
    assert table_value(captured, "captured") == "30.00 CNY"
    assert table_value(captured, "capturable") == "20.00 CNY"

    refunded = paid.said["refund"]
    assert refunded.strip().endswith(f"Refund {paid.refund}: succeeded")
    assert table_value(refunded, "payment") == pay
    assert table_value(refunded, "amount") == "10.00 CNY"
    assert table_value(refunded, "reason") == "one dish missing"

    assert cli.fail("payments", "capture", pay, "--amount", "2001") == (
        "capture_exceeds_authorized: The capture is more than the 2000 still capturable."
    )
    assert cli.fail("payments", "refund", pay, "--amount", "2001").startswith(
        "refund_exceeds_captured"
    )
    assert cli.fail("payments", "show", "pay_nope") == (
        "payment_not_found: No such payment: pay_nope."
    )


def test_show_is_the_money_trail(cli: Cli, shop: Shop, paid: Paid) -> None:
    shown = cli.run("payments", "show", paid.payment).stdout
    assert table_value(shown, "refunded") == "10.00 CNY"
    rows = table_rows(shown)
    attempts = [r[1:5] for r in rows if r[0].startswith("att_")]
    assert attempts == [
        ["authorize", "partner_bank", "approved", "50.00 CNY"],
        ["capture", "partner_bank", "approved", "30.00 CNY"],
        ["refund", "partner_bank", "approved", "10.00 CNY"],
    ]
    assert [paid.refund, paid.payment, "succeeded", "10.00 CNY"] in [r[:4] for r in rows]
    # The capture and the refund as ledger journals.
    journals = [r for r in rows if r[0].startswith(("cap_", "ref_"))]
    capture = journals[0][0]
    # Each carries its fees: the platform's 0.6% of 30.00 (0.18), a third of it returned
    # with the refund of a third; partner_bank's 20 bps (0.06), kept on the refund.
    assert sorted(journals) == sorted(
        [
            [capture, "channel:partner_bank:clearing", "30.00 CNY", ""],
            [capture, f"merchant:{shop.merchant}:pending", "", "30.00 CNY"],
            [capture, f"merchant:{shop.merchant}:pending", "0.18 CNY", ""],
            [capture, "platform:fees", "", "0.18 CNY"],
            [capture, "channel:partner_bank:fees", "0.06 CNY", ""],
            [capture, "channel:partner_bank:clearing", "", "0.06 CNY"],
            [f"ref_{paid.refund}", f"merchant:{shop.merchant}:pending", "10.00 CNY", ""],
            [f"ref_{paid.refund}", "channel:partner_bank:clearing", "", "10.00 CNY"],
            [f"ref_{paid.refund}", "platform:fees", "0.06 CNY", ""],
            [f"ref_{paid.refund}", f"merchant:{shop.merchant}:pending", "", "0.06 CNY"],
        ]
    )
    refunds = table_rows(cli.run("payments", "refunds", "--payment", paid.payment).stdout)
    assert [r[:3] for r in refunds] == [[paid.refund, paid.payment, "succeeded"]]


def test_list_with_filters(cli: Cli, shop: Shop, paid: Paid) -> None:
    # Another payment, canceled before it was confirmed.
    made = cli.run(
        "payments", "create", shop.merchant, "--amount", "1250", "--card", shop.card
    ).stdout
    other = PAYMENT_ID.search(made)
    assert other, made
    canceled = cli.run("payments", "cancel", other[0]).stdout
    assert canceled.strip().endswith(f"Payment {other[0]}: canceled")

    listed = table_rows(cli.run("payments", "list", "--merchant", shop.merchant).stdout)
    ours = [r[:7] for r in listed if r[0] in (other[0], paid.payment)]
    assert ours == [
        [
            other[0],
            shop.merchant,
            "canceled",
            "12.50 CNY",
            "0.00 CNY",
            "0.00 CNY",
            "local_services",
        ],
        [
            paid.payment,
            shop.merchant,
            "succeeded",
            "50.00 CNY",
            "30.00 CNY",
            "10.00 CNY",
            "food_delivery",
        ],
    ]
    narrowed = cli.run("payments", "list", "--status", "succeeded", "--scene", "food_delivery")
    assert [r[0] for r in table_rows(narrowed.stdout)] == [paid.payment]

    reported = cli.run("payments", "report", "--merchant", shop.merchant).stdout
    by_scene = {r[0]: r[1:] for r in table_rows(reported)}
    assert by_scene["food_delivery"] == ["1", "1", "1", "100.0%", "30.00 CNY", "10.00 CNY"]
    assert by_scene["local_services"][:3] == ["1", "0", "0"]
    refused = cli.fail("payments", "report", "--since", "yesterday")
    assert refused.startswith("validation_error")


def test_an_unknown_outcome_is_pending_until_resolved(cli: Cli, shop: Shop) -> None:
    made = cli.run("payments", "create", shop.merchant, "--amount", "800", "--card", shop.card)
    payment = PAYMENT_ID.search(made.stdout)
    assert payment, made.stdout
    # This confirm goes to a channel of its own process whose answer never comes back, and
    # which ends with the process: the shared channels never received the request.
    lost = cli.directory / "lost.json"
    lost.write_text(json.dumps(scenario(lost=1.0)))
    pending = cli.run(
        "payments",
        "confirm",
        payment[0],
        "--no-cvv",
        PAYHUB_CHANNELS_URL="",
        PAYHUB_SIM_SCENARIO=str(lost),
    ).stdout
    assert "Pending: the bank channel's answer to attempt att_" in pending
    assert table_value(pending, "status") == "processing"
    assert cli.fail("payments", "capture", payment[0]).startswith("payment_operation_in_progress")

    resolved = cli.run("payments", "resolve").stdout
    assert "Settled 1 payment request(s)" in resolved
    shown = cli.run("payments", "show", payment[0]).stdout
    assert table_value(shown, "status") == "failed"
    assert (table_value(shown, "failure") or "").startswith("channel_timeout")
    assert "Released 0 expired authorisation(s)." in cli.run("payments", "expire").stdout


def test_webhooks_and_events(cli: Cli, shop: Shop, paid: Paid) -> None:
    made = cli.run(
        "webhooks",
        "create",
        "--url",
        "http://127.0.0.1:9/hooks",
        "--event",
        "payment.succeeded",
        "--event",
        "refund.succeeded",
        "--merchant",
        shop.merchant,
    ).stdout
    endpoint = re.search(r"Webhook endpoint (we_\w+): http://127.0.0.1:9/hooks", made)
    assert endpoint, made
    secret = re.search(r"Signing secret: (whsec_\S+) \(shown once\)", made)
    assert secret, made
    rolled = cli.run("webhooks", "roll-secret", endpoint[1], "--overlap", "3600").stdout
    new_secret = re.search(
        rf"New signing secret of {endpoint[1]}: (whsec_\S+) \(shown once\)", rolled
    )
    assert new_secret and new_secret[1] != secret[1], rolled
    assert "signed with the old secret too until" in " ".join(rolled.split())
    (rolled_row,) = cli.query(
        "SELECT actor, details FROM audit_events WHERE action = 'webhook_endpoint.secret_rolled'"
    )
    assert rolled_row[0].startswith("cli:") and "whsec_" not in str(rolled_row[1])
    listed = cli.run("webhooks", "list").stdout
    assert secret[1] not in listed and new_secret[1] not in listed
    assert [r[:5] for r in table_rows(listed)] == [
        [
            endpoint[1],
            shop.merchant,
            "http://127.0.0.1:9/hooks",
            "payment.succeeded, refund.succeeded",
            "yes",
        ]
    ]

    events = table_rows(cli.run("events", "list", "--type", "refund.succeeded").stdout)
    assert len(events) == 1 and events[0][1:3] == ["refund.succeeded", shop.merchant]
    replayed = cli.run("events", "redeliver", events[0][0]).stdout
    assert "1 delivery(ies) queued" in replayed
    deliveries = table_rows(cli.run("webhooks", "deliveries", endpoint[1]).stdout)
    assert [r[1:5] for r in deliveries] == [[endpoint[1], events[0][0], "pending", "0"]]

    assert cli.fail("events", "redeliver", "evt_nope") == (
        "invalid_id: The value of event_id is not a valid id."
    )
    assert cli.fail("webhooks", "create", "--url", "ftp://x").startswith(
        "validation_error: The request is invalid: an http(s) URL"
    )


def test_no_card_number_was_stored_outside_the_vault(cli: Cli, shop: Shop) -> None:
    [pan] = cli.secrets
    for table in ("payments", "payment_attempts", "events", "customers"):
        for row in cli.query(f"SELECT * FROM {table}"):
            assert pan not in json.dumps([str(c) for c in row])


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("12/29", (12, 2029)), ("1/2031", (1, 2031)), (" 07 / 30 ", (7, 2030))],
)
def test_expiry_is_month_and_year(typed: str, expected: tuple[int, int]) -> None:
    assert parse_expiry(typed) == expected


@pytest.mark.parametrize("typed", ["", "1229", "12-29", "12/029", "a/b"])
def test_a_malformed_expiry_is_refused(typed: str) -> None:
    with pytest.raises(PayHubError) as refused:
        parse_expiry(typed)
    assert refused.value.code == "card_expiry_invalid"


def test_the_command_choices_are_the_models() -> None:
    assert [s.value for s in payments_cli.Scene] == list(SCENES)
    assert [s.value for s in payments_cli.Status] == list(PAYMENT_STATUSES)
