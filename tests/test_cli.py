"""The real `payhub` command line, run in subprocesses against a database of its own."""

from __future__ import annotations

import asyncio
import json
import random
import re
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from payhub.auth import service as auth
from payhub.core.clock import parse_rfc3339, to_rfc3339
from payhub.db.session import Database
from payhub.vault import service as vault
from payhub.vault import testcards
from tests.processes import PAYHUB, fresh_database, run_payhub, table_rows, table_value

ACCOUNT_ID = re.compile(r"acct_[0-9A-HJKMNP-TV-Z]{26}")


class Cli:
    def __init__(self, database_url: str, directory: Path) -> None:
        self.database_url = database_url
        self.directory = directory

    def run(self, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        done = run_payhub(*args, database_url=self.database_url, cwd=self.directory)
        assert done.returncode == expect, (
            f"payhub {' '.join(args)} exited {done.returncode}\n"
            f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        )
        return done

    def fail(self, *args: str) -> str:
        """Run a command that must be refused: exit code 2, a message and no traceback."""
        done = self.run(*args, expect=2)
        assert "Traceback" not in done.stderr
        assert "Traceback" not in done.stdout
        return done.stderr.strip()

    def write(self, name: str, content: Any) -> str:
        path = self.directory / name
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        return str(path)

    def query(self, sql: str) -> list[Any]:
        async def go() -> list[Any]:
            db = Database(self.database_url, pool_size=1)
            try:
                async with db.engine.connect() as conn:
                    return list((await conn.execute(text(sql))).all())
            finally:
                await db.dispose()

        return asyncio.run(go())

    def execute(self, *statements: str) -> None:
        """Run SQL statements in one transaction (to set up or break things on purpose)."""

        async def go() -> None:
            db = Database(self.database_url, pool_size=1)
            try:
                async with db.engine.begin() as conn:
                    for statement in statements:
                        await conn.execute(text(statement))
            finally:
                await db.dispose()

        asyncio.run(go())

    def balance(self, code: str) -> dict[str, str | None]:
        out = self.run("ledger", "accounts", "show", code, "--currency", "CNY").stdout
        return {k: table_value(out, k) for k in ("posted", "pending", "available")}


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    with fresh_database(tmp_path) as url:
        yield Cli(url, tmp_path)


@pytest.fixture
def ledger_cli(cli: Cli) -> Cli:
    """A migrated database with a custody account and a funds account."""
    cli.run("migrate")
    cli.run("ledger", "accounts", "create", "bank:custody", "--side", "debit")
    cli.run(
        "ledger",
        "accounts",
        "create",
        "merchant:m1:available",
        "--no-overdraft",
        "--name",
        "Noodle shop",
        "--owner",
        "m1",
    )
    return cli


def flat(output: str) -> str:
    """Output with runs of whitespace made one space (rich wraps titles to the table width)."""
    return " ".join(output.split())


@pytest.fixture(scope="module")
def shared_cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """One ledger database for the tests that must leave it unchanged."""
    directory = tmp_path_factory.mktemp("shared_cli")
    with fresh_database(directory) as url:
        cli = Cli(url, directory)
        cli.run("migrate")
        cli.run("ledger", "accounts", "create", "bank:custody", "--side", "debit")
        cli.run("ledger", "accounts", "create", "merchant:m1:available", "--no-overdraft")
        yield cli


def journal(id_: str | None, debit: str, credit: str, amount: int, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "postings": [
            {"account": debit, "side": "debit", "amount": amount, "currency": "CNY"},
            {"account": credit, "side": "credit", "amount": amount, "currency": "CNY"},
        ],
        **extra,
    }
    if id_ is not None:
        body["id"] = id_
    return body


def test_the_console_script_is_installed_next_to_the_interpreter() -> None:
    assert PAYHUB.exists()
    done = subprocess.run([str(PAYHUB), "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    for command in (
        "migrate",
        "start",
        "serve",
        "worker",
        "keys",
        "demo",
        "ledger",
        "bench",
        "merchants",
        "customers",
        "cards",
        "payments",
        "webhooks",
        "events",
    ):
        assert command in done.stdout


def test_migrate_is_idempotent(cli: Cli) -> None:
    first = cli.run("migrate")
    assert "Database is up to date" in first.stdout
    assert cli.database_url in first.stdout.replace("\n", "")
    second = cli.run("migrate")
    assert "Database is up to date" in second.stdout
    tables = {
        "ledger_accounts",
        "ledger_journals",
        "ledger_entries",
        "ledger_balances",
        "ledger_holds",
        "api_keys",
        "idempotency_keys",
    }
    for table in tables:
        assert cli.query(f"SELECT COUNT(*) FROM {table}") == [(0,)]


def test_accounts_create_prints_the_account(cli: Cli) -> None:
    cli.run("migrate")
    out = cli.run(
        "ledger",
        "accounts",
        "create",
        "merchant:m1:available",
        "--no-overdraft",
        "--name",
        "Noodle shop",
        "--owner",
        "m1",
    ).stdout
    assert "merchant:m1:available (CNY)" in flat(out)
    assert ACCOUNT_ID.fullmatch(table_value(out, "id") or "")
    assert table_value(out, "name") == "Noodle shop"
    assert table_value(out, "owner") == "m1"
    assert table_value(out, "normal side") == "credit"
    assert table_value(out, "debits ≤ credits") == "True"
    assert table_value(out, "credits ≤ debits") == "False"
    assert table_value(out, "shards") == "1"

    hot = cli.run(
        "ledger", "accounts", "create", "platform:fees", "--currency", "USD", "--shards", "4"
    ).stdout
    assert "platform:fees (USD)" in flat(hot)
    assert table_value(hot, "shards") == "4"
    assert table_value(hot, "name") == "platform:fees"

    rows = cli.query("SELECT code, currency, shards FROM ledger_accounts ORDER BY code")
    assert [tuple(r) for r in rows] == [
        ("merchant:m1:available", "CNY", 1),
        ("platform:fees", "USD", 4),
    ]

    assert "account_code_taken" in cli.fail(
        "ledger", "accounts", "create", "platform:fees", "--currency", "USD"
    )
    assert cli.fail("ledger", "accounts", "create", "bad code!").startswith("account_code_invalid:")
    assert cli.fail("ledger", "accounts", "create", "x:y", "--currency", "XYZ").startswith(
        "currency_invalid: XYZ is not an ISO 4217 currency"
    )


def test_post_show_list_reverse(ledger_cli: Cli) -> None:
    cli = ledger_cli
    path = cli.write(
        "j1.json",
        journal("j-1", "bank:custody", "merchant:m1:available", 1999, description="Top-up"),
    )
    posted = cli.run("ledger", "post", path).stdout
    assert "journal j-1 (standard) — Top-up" in flat(posted)
    assert ["bank:custody", "19.99 CNY", ""] in table_rows(posted)
    assert ["merchant:m1:available", "", "19.99 CNY"] in table_rows(posted)
    assert posted.strip().endswith("posted")

    again = cli.run("ledger", "post", path).stdout
    assert "already posted (same content)" in again

    assert cli.balance("merchant:m1:available") == {
        "posted": "19.99 CNY",
        "pending": "0.00 CNY",
        "available": "19.99 CNY",
    }
    assert cli.balance("bank:custody")["posted"] == "19.99 CNY"

    listed = cli.run("ledger", "accounts", "list").stdout
    rows = {row[0]: row for row in table_rows(listed)}
    assert set(rows) == {"bank:custody", "merchant:m1:available"}
    assert rows["merchant:m1:available"][1:6] == [
        "CNY",
        "credit",
        "19.99 CNY",
        "0.00 CNY",
        "19.99 CNY",
    ]
    assert rows["bank:custody"][1:4] == ["CNY", "debit", "19.99 CNY"]
    assert ACCOUNT_ID.fullmatch(rows["bank:custody"][6])
    # Newest first.
    assert [row[0] for row in table_rows(listed)] == ["merchant:m1:available", "bank:custody"]
    filtered = cli.run("ledger", "accounts", "list", "--code-prefix", "bank:").stdout
    assert [row[0] for row in table_rows(filtered)] == ["bank:custody"]

    shown = cli.run("ledger", "journal", "j-1").stdout
    assert "journal j-1 (standard) — Top-up" in flat(shown)

    reversed_ = cli.run("ledger", "reverse", "j-1", "--id", "rev-j-1").stdout
    assert "journal rev-j-1 (reversal) — Reversal of j-1" in flat(reversed_)
    assert ["bank:custody", "", "19.99 CNY"] in table_rows(reversed_)
    assert ["merchant:m1:available", "19.99 CNY", ""] in table_rows(reversed_)
    assert cli.balance("merchant:m1:available") == {
        "posted": "0.00 CNY",
        "pending": "0.00 CNY",
        "available": "0.00 CNY",
    }
    assert cli.balance("bank:custody")["posted"] == "0.00 CNY"

    assert cli.fail("ledger", "reverse", "j-1") == (
        "journal_already_reversed: Journal j-1 has already been reversed."
    )
    entries = cli.run("ledger", "entries", "merchant:m1:available", "--currency", "CNY").stdout
    journals = [row[1] for row in table_rows(entries)]
    assert sorted(journals) == ["j-1", "rev-j-1"]


def test_reverse_without_an_id_makes_one(ledger_cli: Cli) -> None:
    cli = ledger_cli
    cli.run(
        "ledger",
        "post",
        cli.write("j.json", journal("j-9", "bank:custody", "merchant:m1:available", 500)),
    )
    out = cli.run("ledger", "reverse", "j-9").stdout
    match = re.search(r"journal (jrn_[0-9A-Z]{26}) \(reversal\) — Reversal of j-9", flat(out))
    assert match, out
    assert cli.balance("merchant:m1:available")["posted"] == "0.00 CNY"


def test_post_a_batch(ledger_cli: Cli) -> None:
    cli = ledger_cli
    path = cli.write(
        "batch.json",
        {
            "journals": [
                journal("b-1", "bank:custody", "merchant:m1:available", 100),
                {
                    "id": "b-2",
                    "postings": [
                        {
                            "account": "bank:custody",
                            "side": "debit",
                            "amount": 100,
                            "currency": "CNY",
                        },
                        {
                            "account": "merchant:m1:available",
                            "side": "credit",
                            "amount": 99,
                            "currency": "CNY",
                        },
                    ],
                },
                journal("b-3", "bank:custody", "merchant:m1:available", 250),
            ]
        },
    )
    out = cli.run("ledger", "post", path).stdout
    assert "#0 created: b-1" in out
    assert "#1 rejected: journal_unbalanced" in out
    assert "#2 created: b-3" in out
    assert cli.balance("merchant:m1:available")["posted"] == "3.50 CNY"
    again = cli.run("ledger", "post", path).stdout
    assert "#0 duplicate: b-1" in again
    assert cli.balance("merchant:m1:available")["posted"] == "3.50 CNY"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            journal("u-1", "bank:custody", "merchant:m1:available", 100)
            | {
                "postings": [
                    {"account": "bank:custody", "side": "debit", "amount": 100, "currency": "CNY"},
                    {
                        "account": "merchant:m1:available",
                        "side": "credit",
                        "amount": 99,
                        "currency": "CNY",
                    },
                ]
            },
            "journal_unbalanced: Debits and credits differ in CNY: "
            "a journal must balance in every currency.",
        ),
        (
            journal("o-1", "merchant:m1:available", "bank:custody", 1),
            "insufficient_funds: Account merchant:m1:available does not have enough funds: "
            "its debits may not exceed its credits.",
        ),
        (
            journal("n-1", "bank:custody", "merchant:nobody:available", 100),
            "account_not_found: No such ledger account: merchant:nobody:available (CNY).",
        ),
        (
            {
                "postings": [
                    {"account": "bank:custody", "side": "debit", "amount": 100, "currency": "XYZ"},
                    {
                        "account": "merchant:m1:available",
                        "side": "credit",
                        "amount": 100,
                        "currency": "XYZ",
                    },
                ]
            },
            "currency_invalid: XYZ is not an ISO 4217 currency that carries money.",
        ),
        (
            {
                "postings": [
                    {"account": "bank:custody", "side": "debit", "amount": 1, "currency": "CNY"}
                ]
            },
            "journal_too_few_postings: A journal needs at least two postings.",
        ),
        (
            journal("has space", "bank:custody", "merchant:m1:available", 100),
            "invalid_id: The value of id is not a valid id.",
        ),
        ({"postings": "x"}, "validation_error: postings: Input should be a valid list"),
        (
            journal("x-1", "bank:custody", "merchant:m1:available", 100) | {"colour": "red"},
            "validation_error: colour: Extra inputs are not permitted",
        ),
        (
            {
                "postings": [
                    {
                        "account": "bank:custody",
                        "side": "debit",
                        "amount": "100",
                        "currency": "CNY",
                    },
                    {
                        "account": "merchant:m1:available",
                        "side": "credit",
                        "amount": 100,
                        "currency": "CNY",
                    },
                ]
            },
            "validation_error: postings.0.amount: Input should be a valid integer",
        ),
        ("{not json", "cannot read"),
    ],
    ids=[
        "unbalanced",
        "insufficient-funds",
        "unknown-account",
        "unknown-currency",
        "one-posting",
        "bad-id",
        "postings-not-a-list",
        "unknown-field",
        "amount-as-string",
        "not-json",
    ],
)
def test_bad_journal_file_exits_2_with_the_catalogue_code(
    shared_cli: Cli, content: Any, expected: str
) -> None:
    cli = shared_cli
    message = cli.fail("ledger", "post", cli.write("bad.json", content))
    assert message.startswith(expected), message
    # Nothing of the refused journal was written.
    assert cli.query("SELECT COUNT(*) FROM ledger_journals") == [(0,)]
    assert cli.query("SELECT COUNT(*) FROM ledger_entries") == [(0,)]


def test_missing_journal_file_exits_2(shared_cli: Cli) -> None:
    message = shared_cli.fail("ledger", "post", str(shared_cli.directory / "nope.json"))
    assert message.startswith("cannot read")
    assert "nope.json" in message


def test_unknown_journal_and_account(shared_cli: Cli) -> None:
    assert shared_cli.fail("ledger", "reverse", "missing-1") == (
        "journal_not_found: No such journal: missing-1."
    )
    assert shared_cli.fail("ledger", "journal", "missing-1") == (
        "journal_not_found: No such journal: missing-1."
    )
    assert shared_cli.fail(
        "ledger", "accounts", "show", "merchant:nobody:available", "--currency", "CNY"
    ).startswith("account_not_found: No such ledger account: merchant:nobody:available")


def test_error_messages_are_not_read_as_markup(shared_cli: Cli) -> None:
    cli = shared_cli
    content = journal(None, "bank:custody", "[/]nobody", 100)
    message = cli.fail("ledger", "post", cli.write("markup.json", content))
    assert message == "account_not_found: No such ledger account: [/]nobody (CNY)."


def test_account_codes_are_shown_as_written(cli: Cli) -> None:
    cli.run("migrate")
    out = cli.run("ledger", "accounts", "create", "payout:bank:in_transit", "--side", "debit")
    assert "payout:bank:in_transit (CNY)" in flat(out.stdout)
    listed = cli.run("ledger", "accounts", "list").stdout
    assert [row[0] for row in table_rows(listed)] == ["payout:bank:in_transit"]


def _bind_cards(url: str, n: int) -> dict[str, str]:
    """Cards bound straight through the vault (the CLI reads numbers at a prompt)."""

    async def go() -> dict[str, str]:
        db = Database(url, pool_size=1)
        made = {}
        try:
            for i in range(n):
                pan = testcards.test_card("ICBC", "debit", rng=random.Random(i))
                view, _ = await db.run_in_transaction(
                    lambda s, pan=pan, i=i: vault.bind_card(
                        s,
                        merchant_id="mer_1",
                        customer_id=f"cus_{i}",
                        pan=pan,
                        exp_month=12,
                        exp_year=datetime.now(UTC).year + 1,
                    )
                )
                made[view.token] = pan
        finally:
            await db.dispose()
        return made

    return asyncio.run(go())


def _reveal_all(url: str, tokens: list[str]) -> list[str]:
    async def go() -> list[str]:
        db = Database(url, pool_size=1)
        try:
            return [
                (await db.run_in_transaction(lambda s, t=t: vault.reveal_card(s, t))).pan
                for t in tokens
            ]
        finally:
            await db.dispose()

    return asyncio.run(go())


def test_data_keys_rotate_reencrypt_retire_destroy(cli: Cli) -> None:
    cli.run("migrate")
    cards = _bind_cards(cli.database_url, 5)
    listed = flat(cli.run("keys", "data-keys").stdout)
    assert "│ 1 │ aes-256-gcm │ active │ 5 │" in listed.replace("┃", "│")
    assert "master key from: env" in listed

    rotated = flat(cli.run("keys", "rotate").stdout)
    assert "Data key version 2 (aes-256-gcm) is active" in rotated
    assert cli.fail("keys", "destroy", "1", "--yes").startswith("data_key_in_use")
    assert cli.fail("keys", "retire", "1").startswith("data_key_in_use")
    assert cli.fail("keys", "destroy", "2", "--yes").startswith("data_key_unexpected_state")
    assert cli.fail("keys", "retire", "9").startswith("data_key_not_found")

    moved = flat(cli.run("keys", "reencrypt", "--batch", "2").stdout)
    assert "5/5" in moved
    assert "Moved 5 rows to the active key" in moved
    assert "retired" in cli.run("keys", "retire", "1").stdout
    assert "destroyed" in cli.run("keys", "destroy", "1", "--yes").stdout
    assert cli.query(
        "SELECT version, state, wrapped_key IS NULL FROM vault_data_keys ORDER BY version"
    ) == [(1, "destroyed", True), (2, "active", False)]
    assert _reveal_all(cli.database_url, list(cards)) == list(cards.values())
    actions = cli.query(
        "SELECT action FROM audit_events WHERE actor LIKE 'cli:%' AND action LIKE 'vault.%' "
        "ORDER BY occurred_at, id"
    )
    assert [a for (a,) in actions] == [
        "vault.data_key.rotated",
        "vault.reencrypted",
        "vault.reencrypted",
        "vault.reencrypted",
        "vault.data_key.retired",
        "vault.data_key.destroyed",
    ]

    # A master key that cannot be had: a catalogue error, and no new key.
    done = run_payhub(
        "keys",
        "rotate",
        database_url=cli.database_url,
        cwd=cli.directory,
        PAYHUB_VAULT_MASTER_KEY_PROVIDER="file",
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("vault_master_key_unavailable")
    assert cli.query("SELECT COUNT(*) FROM vault_data_keys") == [(2,)]
    # `serve` finds it before listening.
    done = run_payhub(
        "serve",
        database_url=cli.database_url,
        cwd=cli.directory,
        timeout=60,
        PAYHUB_VAULT_MASTER_KEY_PROVIDER="tests_nowhere.kms:provider",
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "vault_master_key_unavailable" in done.stderr
    assert "cannot be imported" in done.stderr
    everything = cli.run("keys", "data-keys").stdout + moved + rotated
    for pan in cards.values():
        assert pan not in everything


def test_keys_create_prints_a_working_key_once(cli: Cli) -> None:
    cli.run("migrate")
    out = cli.run("keys", "create", "--name", "x").stdout
    match = re.fullmatch(
        r"Key (key_[0-9A-Z]{26}): (sk_op_[A-Za-z0-9_\-]{43}) \(shown once\)", out.strip()
    )
    assert match, out
    key_id, secret = match.groups()
    other = cli.run("keys", "create", "--name", "x").stdout
    assert secret not in other

    rows = cli.query("SELECT id, name, role, key_hash, display FROM api_keys ORDER BY id")
    assert len(rows) == 2
    stored = next(r for r in rows if r[0] == key_id)
    assert tuple(stored[1:3]) == ("x", "operator")
    assert stored[4] == secret[:12] + "…"
    # Only a keyed hash is stored, never the key itself.
    assert all(secret not in str(column) for row in rows for column in row)
    assert stored[3] == auth.hash_key(secret)

    async def authenticate() -> auth.Principal:
        db = Database(cli.database_url, pool_size=1)
        try:
            return await db.run_in_transaction(lambda s: auth.authenticate(s, secret))
        finally:
            await db.dispose()

    principal = asyncio.run(authenticate())
    assert principal.key_id == key_id
    assert principal.role == "operator"
    assert principal.scopes == frozenset(auth.OPERATOR_SCOPES)

    merchant = cli.run(
        "keys", "create", "--name", "shop", "--role", "merchant", "--merchant", "mer_1"
    ).stdout
    assert re.search(r": sk_mer_\S+ \(shown once\)", merchant)

    revoked = cli.run("keys", "revoke", key_id).stdout
    assert f"Key {key_id} revoked." in revoked
    assert cli.query(f"SELECT revoked_at IS NOT NULL FROM api_keys WHERE id = '{key_id}'") == [
        (True,)
    ]
    assert cli.fail("keys", "create", "--name", "y", "--scope", "everything").startswith(
        "validation_error"
    )


def test_demo_seed_seeds_once(cli: Cli) -> None:
    cli.run("migrate")
    lines = cli.run("demo", "seed").stdout.strip().splitlines()
    assert lines[0] == "Seeded 4 journals."
    assert lines[1].startswith("Demo shop: merchant mer_")
    assert "instant payout po_" in lines[2] and lines[2].endswith(" paid.")
    assert lines[3].startswith("Demo group leader: merchant mer_")
    assert "split batch spb_" in lines[3] and lines[3].endswith(" paid.")
    assert "sk_mer_" in lines[4]
    assert cli.run("demo", "seed").stdout.strip() == "Already seeded."
    assert cli.query("SELECT COUNT(*) FROM ledger_journals WHERE id LIKE 'demo-%'") == [(4,)]
    # The demo shop's payments went through the real flows: 8 payments, 7 confirmed, each
    # capture and refund a journal of its own.
    # The group leader's three orders of its round too (9 confirmed in all).
    assert cli.query("SELECT COUNT(*) FROM payments") == [(11,)]
    assert cli.query("SELECT COUNT(*) FROM payments WHERE decision IS NOT NULL") == [(10,)]
    captured = cli.query("SELECT COUNT(*) FROM payment_attempts WHERE kind = 'capture'")
    assert captured[0][0] >= 1
    # Money out: the shop and the leader settle in real time (the shop keeps a reserve);
    # the shop's verified payee took one instant payout, the leader's round was split to
    # two suppliers, booked and paid; the leader is on a plan of its own.
    assert cli.query("SELECT mode, reserve_bps FROM settlement_settings ORDER BY reserve_bps") == [
        ("realtime", 0),
        ("realtime", 1000),
    ]
    assert cli.query("SELECT role, status FROM payees ORDER BY role") == [
        ("group_leader", "verified"),
        ("merchant", "verified"),
        ("supplier", "verified"),
        ("supplier", "verified"),
    ]
    assert cli.query(
        "SELECT instant, status, split_batch_id IS NULL FROM payouts ORDER BY instant"
    ) == [(False, "paid", False), (False, "paid", False), (True, "paid", True)]
    assert cli.query("SELECT COUNT(*) FROM split_lines WHERE status = 'paid'") == [(2,)]
    assert cli.query("SELECT name FROM fee_plans") == [("Community group buying",)]
    assert cli.query("SELECT COUNT(*) FROM merchants WHERE fee_plan_id IS NOT NULL") == [(1,)]
    reserved = cli.query("SELECT SUM(reserve) FROM settlement_entries")
    assert reserved[0][0] > 0
    # Custody: the demo ledger's 34.88, less what the payouts sent to the banks.
    paid_out = cli.query("SELECT SUM(amount) FROM payouts WHERE status = 'paid'")[0][0]
    assert cli.balance("bank:custody")["posted"] == f"{(3488 - paid_out) / 100:.2f} CNY"
    assert cli.balance("merchant:mer_demo_noodles:available")["posted"] == "34.79 CNY"
    assert cli.balance("merchant:mer_demo_noodles:pending")["posted"] == "127.23 CNY"
    # The demo ledger's 0.98, the fees the payments were charged, the instant payout's
    # fee and the platform's commission on the split batch.
    shop_fees = cli.query("SELECT SUM(merchant_fee - merchant_fee_refunded) FROM payment_fees")
    assert shop_fees[0][0] > 0
    payout_fees = cli.query("SELECT SUM(fee) FROM payouts")[0][0]
    commission = cli.query("SELECT SUM(platform_commission) FROM split_batches")[0][0]
    assert payout_fees > 0 and commission > 0
    fees = 98 + shop_fees[0][0] + payout_fees + commission
    assert cli.balance("platform:fees")["posted"] == f"{fees / 100:.2f} CNY"
    # A second seed (a restart) adds nothing.
    tables = ("payments", "payees", "payouts", "split_batches", "fee_plans", "events")
    before = {t: cli.query(f"SELECT COUNT(*) FROM {t}") for t in tables}
    assert cli.run("demo", "seed").stdout.strip() == "Already seeded."
    assert {t: cli.query(f"SELECT COUNT(*) FROM {t}") for t in tables} == before
    listed = cli.run("ledger", "accounts", "list", "--code-prefix", "merchant:mer_demo").stdout
    assert sorted(row[0] for row in table_rows(listed)) == [
        "merchant:mer_demo_noodles:available",
        "merchant:mer_demo_noodles:pending",
    ]


def test_worker_once_prints_json(ledger_cli: Cli) -> None:
    cli = ledger_cli
    out = cli.run("worker", "--once").stdout
    assert json.loads(out) == {
        "audit.seal": 0,  # the set-up changed nothing the audit log records
        "auth.purge_nonces": 0,
        "ledger.expire_holds": 0,
        "idempotency.purge_expired": 0,
        "payments.resolve_processing": 0,
        "payments.expire_authorizations": 0,
        "events.dispatch": 0,
        "events.send_webhooks": 0,
        "risk.monitor": 0,  # no money moved
        "vault.reencrypt": 0,
        "sanctions.rescreen": 0,
        "risk.large_value_reports": 1,  # yesterday's (empty) large-value report, once
        "settlement.settle_due": 0,  # no merchant has captured
        "settlement.release_reserves": 0,
        "settlement.channel_settlement": 0,  # the channels' recent days had no movements
        "payouts.dispatch": 0,
        "payouts.resolve": 0,
        "payouts.returns": 0,
        "splits.run": 0,
    }

    # A hold that lapses in a moment: the next run expires it and releases the funds.
    cli.run(
        "ledger",
        "post",
        cli.write("fund.json", journal("f-1", "bank:custody", "merchant:m1:available", 5000)),
    )
    expires = to_rfc3339(datetime.now(UTC) + timedelta(seconds=5))
    hold = journal("h-1", "merchant:m1:available", "bank:custody", 1200, expires_at=expires)
    assert cli.run("ledger", "holds", "create", cli.write("hold.json", hold)).stdout.strip() == (
        "hold h-1: pending"
    )
    assert cli.balance("merchant:m1:available") == {
        "posted": "50.00 CNY",
        "pending": "-12.00 CNY",
        "available": "38.00 CNY",
    }
    time.sleep(max(0.0, (parse_rfc3339(expires) - datetime.now(UTC)).total_seconds()) + 0.2)
    assert json.loads(cli.run("worker", "--once").stdout) == {
        "audit.seal": 1,  # the first run's report generation, recorded in the audit log
        "auth.purge_nonces": 0,
        "ledger.expire_holds": 1,
        "idempotency.purge_expired": 0,
        "payments.resolve_processing": 0,
        "payments.expire_authorizations": 0,
        "events.dispatch": 0,
        "events.send_webhooks": 0,
        "risk.monitor": 0,
        "vault.reencrypt": 0,
        "sanctions.rescreen": 0,
        "risk.large_value_reports": 0,
        "settlement.settle_due": 0,
        "settlement.release_reserves": 0,
        "settlement.channel_settlement": 0,
        "payouts.dispatch": 0,
        "payouts.resolve": 0,
        "payouts.returns": 0,
        "splits.run": 0,
    }
    assert cli.balance("merchant:m1:available") == {
        "posted": "50.00 CNY",
        "pending": "0.00 CNY",
        "available": "50.00 CNY",
    }
    assert json.loads(cli.run("worker", "--once").stdout)["ledger.expire_holds"] == 0
