"""`payhub risk …` through the real command line, against the demo shop's payments."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import fresh_database, table_rows
from tests.test_cli import Cli, flat

DECLINE_OVER_100 = {
    "rules": [
        {
            "id": "over_one_hundred_yuan",
            "score": 100,
            "when": {"feature": "amount", "op": ">", "value": 10_000},
        }
    ],
    "review_at": 50,
    "decline_at": 90,
}


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Cli]:
    with fresh_database(tmp_path) as url:
        cli = Cli(url, tmp_path)
        cli.run("migrate")
        cli.run("demo", "seed")
        yield cli


def test_rules_are_published_staged_dry_run_activated_and_rolled_back(demo: Cli) -> None:
    # Every payment the demo confirmed (its shop's and its group round's) was decided.
    n = int(demo.query("SELECT COUNT(*) FROM risk_decisions")[0][0])
    assert n >= 7
    assert flat(demo.run("risk", "coverage").stdout).startswith(
        f"{n} of {n} confirmed payments decided: 100.00% coverage"
    )
    decided = demo.run("risk", "decisions").stdout
    assert decided.count("approve") == n

    rules = demo.write("rules.json", DECLINE_OVER_100)
    staged = demo.run("risk", "rules", "publish", rules, "--stage", "--note", "trial").stdout
    assert "version 1 (staged)" in staged
    assert "version 0 (active)" in demo.run("risk", "rules", "show").stdout

    out = demo.run("risk", "rules", "dry-run", "--version", "1").stdout
    over = int(demo.query("SELECT COUNT(*) FROM risk_decisions WHERE amount > 10000")[0][0])
    assert 0 < over < n  # the demo's amounts fall on both sides of the line
    assert f"Dry run over {n} decisions: {over} would change" in flat(out)
    rows = {row[0]: row[1] for row in table_rows(out)}
    assert rows["approve→decline"] == str(over) and rows["approve→approve"] == str(n - over)
    assert rows["over_one_hundred_yuan"] == str(over)
    from_file = flat(demo.run("risk", "rules", "dry-run", rules).stdout)
    assert f"{over} would change" in from_file

    assert "version 1 is active" in demo.run("risk", "rules", "activate", "1").stdout
    versions = table_rows(demo.run("risk", "rules", "versions").stdout)
    assert [row[:5] for row in versions] == [
        ["1", "yes", "1", "50", "90"],
        ["0", "", "10", "50", "90"],
    ]
    assert versions[0][-1] == "trial"
    assert "version 0 is active" in demo.run("risk", "rules", "activate", "0").stdout
    audited = demo.query(
        "SELECT action FROM audit_events WHERE action LIKE 'risk_rules.%' ORDER BY occurred_at"
    )
    assert [a for (a,) in audited] == [
        "risk_rules.published",
        "risk_rules.activated",
        "risk_rules.activated",
    ]


def test_bad_rule_files_and_versions_are_refused(demo: Cli) -> None:
    bad = demo.write("bad.json", {"rules": [{"id": "x", "score": 1, "when": {}}]})
    assert "validation_error" in demo.fail("risk", "rules", "publish", bad)
    broken = demo.write("broken.json", "{not json")
    assert "validation_error" in demo.fail("risk", "rules", "publish", broken)
    assert "risk_rules_not_found" in demo.fail("risk", "rules", "activate", "9")
    assert "validation_error" in demo.fail("risk", "rules", "dry-run")
    assert demo.query("SELECT COUNT(*) FROM risk_rule_sets") == [(0,)]
