"""`payhub fees …` through the real command line, on the demo shop's payments."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import fresh_database, table_rows
from tests.test_cli import Cli, flat

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Cli]:
    with fresh_database(tmp_path) as url:
        cli = Cli(url, tmp_path)
        cli.run("migrate")
        cli.run("demo", "seed")
        yield cli


def test_plans_costs_assignment_and_reports(demo: Cli) -> None:
    # The demo shop (the first merchant made): its captured payments were booked with the
    # built-in plan and list prices.
    merchant = demo.query("SELECT id FROM merchants ORDER BY created_at, id")[0][0]
    booked = demo.query(
        "SELECT SUM(merchant_fee - merchant_fee_refunded), SUM(channel_cost) FROM payment_fees"
        f" WHERE merchant_id = '{merchant}'"
    )[0]
    assert booked[0] > 0 and booked[1] > 0
    report = {
        row[0]: row
        for row in table_rows(demo.run("fees", "report", "--group-by", "merchant").stdout)
    }
    assert int(report[merchant][4]) == booked[0] and int(report[merchant][5]) == booked[1]
    assert int(report[merchant][6]) == booked[0] - booked[1]

    plan_file = demo.write(
        "plan.json",
        {"name": "Noodles", "rules": [{"card_type": "credit", "bps": 70}, {"bps": 45}]},
    )
    made = flat(demo.run("fees", "plans", "create", plan_file).stdout)
    assert "version 1 in force" in made
    plan = demo.query("SELECT id FROM fee_plans WHERE name = 'Noodles'")[0][0]
    assert plan in flat(demo.run("fees", "plans", "list").stdout)
    assignments = "SELECT COUNT(*) FROM audit_events WHERE action = 'merchant.fee_plan_assigned'"
    before = demo.query(assignments)[0][0]  # the demo's group leader has its own plan
    assert f"fee plan {plan}" in flat(demo.run("fees", "assign", merchant, plan).stdout)
    assert demo.query(assignments)[0][0] == before + 1
    quoted = flat(
        demo.run(
            "fees", "quote", merchant, "10000", "--channel", "unionpay_quick",
            "--card-type", "credit",
        ).stdout
    )  # fmt: skip
    assert "Merchant fee 70, channel cost 60, margin 10" in quoted

    cost_file = demo.write(
        "cost.json", {"channel": "unionpay_quick", "debit": {"bps": 30}, "credit": {"bps": 50}}
    )
    assert "version 1" in demo.run("fees", "costs", "set", cost_file).stdout
    listed = {row[0]: row for row in table_rows(demo.run("fees", "costs", "list").stdout)}
    assert listed["unionpay_quick"][1] == "1" and listed["partner_bank"][1] == "list prices"

    payment = demo.query("SELECT payment_id FROM payment_fees ORDER BY payment_id")[0][0]
    assert "margin" in demo.run("fees", "payment", payment).stdout
    costs = table_rows(demo.run("fees", "channel-costs").stdout)
    assert costs[-1][0] == "total" and costs[-1][2] == str(
        demo.query("SELECT COUNT(*) FROM payment_fees")[0][0]
    )


def test_refusals_write_nothing(demo: Cli) -> None:
    before = demo.query("SELECT COUNT(*) FROM fee_plans")[0][0]
    bad = demo.write("bad.json", {"name": "Bad", "rules": [{"bps": 10, "minimum": 9, "cap": 1}]})
    assert "validation_error" in demo.fail("fees", "plans", "create", bad)
    assert "currency_invalid" in demo.fail(
        "fees", "plans", "create", demo.write("cur.json", {"name": "X", "currency": "XXQ",
                                                          "rules": [{"bps": 1}]})
    )  # fmt: skip
    assert "fee_plan_not_found" in demo.fail("fees", "plans", "show", "fpl_nope")
    assert "channel_not_found" in demo.fail(
        "fees", "costs", "set", demo.write("c.json", {"channel": "x", "debit": {"bps": 1},
                                                      "credit": {"bps": 1}})
    )  # fmt: skip
    assert demo.query("SELECT COUNT(*) FROM fee_plans")[0][0] == before
    assert demo.query("SELECT COUNT(*) FROM channel_cost_versions")[0][0] == 0


def test_the_benchmark_saving(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as url:
        cli = Cli(url, tmp_path)
        out = cli.run("fees", "channel-costs", "--bench", str(REPO / "bench" / "results")).stdout
    rows = {row[0]: row for row in table_rows(out)}
    assert "seed-baseline" in rows and rows["seed-baseline"][5].endswith("%")
    assert "reach the 15% target" in flat(out)
