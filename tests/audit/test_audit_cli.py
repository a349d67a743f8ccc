"""`payhub keys roll|list` and `payhub audit seal|list|verify` through the real command."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import POSTGRES
from tests.test_cli import Cli
from tests.test_cli import cli as cli

KEY_ID = re.compile(r"Key (key_[0-9A-Z]{26}):")
SECRET = re.compile(r"sk_op_[A-Za-z0-9_-]{40,}")


def test_key_changes_from_the_command_line_are_audited_and_verifiable(cli: Cli) -> None:
    cli.run("migrate")
    made = cli.run("keys", "create", "--name", "night batch", "--scope", "read")
    [key_id] = KEY_ID.findall(made.stdout)
    rolled = cli.run("keys", "roll", key_id, "--overlap", "0")
    [new_id] = KEY_ID.findall(rolled.stdout)
    assert "sk_op_" in rolled.stdout
    listed = cli.run("keys", "list").stdout
    assert key_id in listed and new_id in listed
    for secret in SECRET.findall(made.stdout + rolled.stdout):
        assert secret not in listed  # only the first characters are shown

    turned_on = cli.run("keys", "signing", new_id, "--algorithm", "hmac-sm3").stdout
    assert "hmac-sm3" in turned_on and "ssk_" in turned_on
    assert "no longer signs" in cli.run("keys", "signing", new_id, "--off").stdout
    assert "Sealed 5 events." in cli.run("audit", "seal").stdout
    verified = cli.run("audit", "verify").stdout
    assert "The audit chain holds" in verified and "5 sealed events" in verified
    log = cli.run("audit", "list").stdout
    for action in ("api_key.issued", "api_key.rolled", "api_key.signing_enabled"):
        assert action in log
    assert "cli:" in log and "#5" in log

    # Changed behind the database's guard: found, named, and the command fails.
    if POSTGRES:
        statements = [
            "ALTER TABLE audit_events DISABLE TRIGGER USER",
            f"UPDATE audit_events SET action = 'nothing' WHERE target_id = '{new_id}' "
            "AND action = 'api_key.issued'",
            "ALTER TABLE audit_events ENABLE TRIGGER USER",
        ]
    else:
        statements = [
            "DROP TRIGGER audit_events_seal_once",
            f"UPDATE audit_events SET action = 'nothing' WHERE target_id = '{new_id}' "
            "AND action = 'api_key.issued'",
        ]
    cli.execute(*statements)
    broken = cli.run("audit", "verify", expect=1)
    assert "The audit chain is broken at event #2" in broken.stderr
    assert "Traceback" not in broken.stderr


def test_a_bad_key_id_is_refused_cleanly(cli: Cli, tmp_path: Path) -> None:
    cli.run("migrate")
    message = cli.fail("keys", "roll", "key_01M97DC3WE0MD7H9ACKEA220F5")
    assert "api_key_not_found" in message
