"""Scenario files: the DESIGN format, JSON and YAML, and clear errors for bad files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from payhub.channels.base import CardType, ChannelKind
from payhub.channels.sim.scenario import (
    Scenario,
    ScenarioError,
    builtin_scenario,
    builtin_scenarios,
    load_scenario,
    parse_scenario,
    scenario_from_data,
)
from payhub.channels.sim.workload import generate_payments
from tests.channels.helpers import base_data

# The example of DESIGN.md §5, verbatim.
DESIGN_EXAMPLE = """
{
  "name": "seed-baseline", "seed": 7, "duration_s": 3600, "payments": 20000,
  "currency": "CNY",
  "amount": {"median_minor": 3500, "sigma": 0.9},
  "hard_decline_rate": 0.012,
  "issuers": [
    {"code": "PARTNER", "share": 0.30, "credit_share": 0.2},
    {"code": "ICBC", "share": 0.25, "credit_share": 0.3},
    {"code": "CITYBANK7", "share": 0.05, "credit_share": 0.1}
  ],
  "channels": [
    {"id": "partner_bank", "issuers": ["PARTNER"],
     "fee_bps": {"debit": 20, "credit": 45},
     "latency_ms": {"median": 80, "p99": 300}, "timeout_ms": 3000,
     "success": {"default": 0.995}},
    {"id": "unionpay_quick", "issuers": "*",
     "fee_bps": {"debit": 35, "credit": 60},
     "latency_ms": {"median": 300, "p99": 1500}, "timeout_ms": 5000,
     "success": {"default": 0.93, "by_issuer": {"CITYBANK7": 0.82}}}
  ],
  "incidents": [
    {"channel": "unionpay_quick", "start_s": 1200, "end_s": 1500,
     "success_multiplier": 0.3},
    {"channel": "unionpay_quick", "issuer": "ICBC", "start_s": 2000,
     "end_s": 2300, "timeout_rate": 0.5}
  ]
}
"""

CHINESE_BANKS = {
    "ICBC", "CCB", "ABC", "BOC", "BOCOM", "CMB", "CITIC", "CEB", "CMBC", "PAB", "SPDB",
    "CIB", "HXB", "PSBC", "GDB", "PARTNER", "CITYBANK7", "RURAL12",
}  # fmt: skip


def test_the_design_example_parses_as_it_is() -> None:
    scenario = parse_scenario(DESIGN_EXAMPLE)
    assert scenario.channel("unionpay_quick").success.for_issuer("CITYBANK7") == 0.82
    assert scenario.channel("unionpay_quick").success.for_issuer("ICBC") == 0.93
    assert scenario.channel("unionpay_quick").issuers is None
    assert scenario.channel("partner_bank").issuers == ("PARTNER",)
    assert scenario.incidents[1].issuer == "ICBC"
    assert scenario.payout_rails == () and scenario.start_at is None
    assert scenario.channel("partner_bank").lost_rate == 0.0
    # Its three issuers' shares add up to 0.6: shares are weights, scaled to add up to 1.
    weights = dict(scenario.issuer_weights)
    assert weights["PARTNER"] == pytest.approx(0.5)
    assert weights["CITYBANK7"] == pytest.approx(0.05 / 0.6)
    payments = generate_payments(scenario, 6000)
    partner = sum(p.issuer == "PARTNER" for p in payments) / len(payments)
    assert partner == pytest.approx(0.5, abs=0.02)


def test_the_default_scenario(default_scenario: Scenario) -> None:
    s = default_scenario
    assert "default" in builtin_scenarios()
    assert (s.payments, s.duration_s, s.currency) == (20_000, 3600, "CNY")
    assert {i.code for i in s.issuers} == CHINESE_BANKS
    assert abs(sum(i.share for i in s.issuers) - 1) < 1e-9
    assert s.channel_ids == ["partner_bank", "unionpay_quick", "netsunion", "icbc_direct"]
    partner, unionpay = s.channel("partner_bank"), s.channel("unionpay_quick")
    netsunion, icbc = s.channel("netsunion"), s.channel("icbc_direct")
    assert partner.issuers == ("PARTNER",) and icbc.issuers == ("ICBC",)
    assert unionpay.issuers is None and netsunion.issuers is None
    assert partner.success.default == 0.995
    # The in-house channel is the fastest and cheapest; UnionPay the slowest and priciest,
    # and weaker at the small banks.
    assert partner.latency_ms.median < netsunion.latency_ms.median < unionpay.latency_ms.median
    assert partner.fee_bps.debit < netsunion.fee_bps.debit < unionpay.fee_bps.debit
    assert unionpay.success.for_issuer("CITYBANK7") < unionpay.success.default
    assert unionpay.success.for_issuer("RURAL12") < unionpay.success.default
    assert any(i.success_multiplier is not None for i in s.incidents)
    assert any(i.timeout_rate is not None and i.issuer for i in s.incidents)
    assert s.rail_ids == ["partner_internal", "ibps", "hvps"]
    assert s.rail("ibps").max_amount is not None and s.rail("hvps").max_amount is None
    assert s.rail("hvps").business_hours is not None


def test_json_and_yaml_give_the_same_scenario(tmp_path: Path, default_scenario: Scenario) -> None:
    data = default_scenario.model_dump(mode="json")
    (tmp_path / "s.json").write_text(json.dumps(data), encoding="utf-8")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    (tmp_path / "s.yml").write_text(yaml.safe_dump(data), encoding="utf-8")
    from_json = load_scenario(tmp_path / "s.json")
    assert from_json == default_scenario
    assert load_scenario(tmp_path / "s.yaml") == from_json
    assert load_scenario(str(tmp_path / "s.yml")) == from_json


def test_handwritten_yaml() -> None:
    text = """
name: yaml-world
seed: 3
duration_s: 60
payments: 10
currency: CNY
amount: {median_minor: 1000, sigma: 0.5}
hard_decline_rate: 0.01
issuers:
  - {code: ICBC, share: 1}
channels:
  - id: only
    issuers: "*"
    card_types: [debit]
    fee_bps: {debit: 10, credit: 20}
    latency_ms: {median: 50, p99: 200}
    timeout_ms: 1000
    success: {default: 0.9}
    lost_rate: 0.01
    min_amount: 100
    max_amount: 100000
    currencies: [CNY, USD]
"""
    s = parse_scenario(text, format="yaml")
    only = s.channel("only")
    assert only.card_types == (CardType.DEBIT,)
    assert only.currencies == ("CNY", "USD")
    info = s.info("only")
    assert info.kind is ChannelKind.CARD
    assert info.currencies == {"CNY", "USD"} and info.issuers is None
    assert not info.accepts(issuer="ICBC", amount=5000, currency="CNY", card_type=CardType.CREDIT)


def _break(path: str, value: Any) -> dict[str, Any]:
    """base_data() with one value replaced ('channels.1.latency_ms.p99'); `...` deletes it."""
    data = base_data()
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    elif value is ...:
        del node[last]
    else:
        node[last] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("seed", ..., "seed: required field is missing"),
        ("seed", True, "seed: Input should be a valid integer (got True)"),
        ("seed", "7", "seed: Input should be a valid integer (got '7')"),
        ("currency", "XYZ", "currency: 'XYZ' is not an ISO 4217 currency"),
        ("hard_decline_rate", 1.5, "hard_decline_rate: Input should be less than or equal to 1"),
        ("channels.0.succes", {}, "channels[0] (alpha).succes: unknown field"),
        ("channels.1.latency_ms.p99", 50, "channels[1] (beta).latency_ms: p99 (50) must not be"),
        ("channels.1.issuers", "ALL", 'channels[1] (beta).issuers: must be "*" or a non-empty'),
        ("channels.1.issuers", ["CCB"], "channels (beta): unknown issuer CCB"),
        ("channels.0.success", {"default": 0.9, "by_issuer": {"X": 0.5}}, "unknown issuer X"),
        ("channels.0.timeout_ms", 0, "channels[0] (alpha).timeout_ms: Input should be greater"),
        ("channels.0.currencies", ["CNY", "ABC"], "'ABC' is not an ISO 4217 currency"),
        ("payout_rails.0.min_amount", 2_000_000, "(rail): min_amount is above max_amount"),
        ("channels.1.id", "alpha", "the id alpha is used twice"),
        ("channels.1.id", "Beta!", "channels[1] (Beta!).id: String should match pattern"),
        ("issuers.0.share", 0, "issuers[0] (PARTNER).share: Input should be greater than 0"),
        ("issuers.1.code", "PARTNER", "issuers: PARTNER is listed twice"),
        ("channels", [], "channels: must list at least one"),
        ("incidents", [{"channel": "gamma", "start_s": 1, "end_s": 2, "timeout_rate": 0.5}],
         "incidents[0]: unknown channel gamma"),
        ("incidents", [{"channel": "alpha", "start_s": 5, "end_s": 2, "timeout_rate": 0.5}],
         "incidents[0]: end_s (2) must be after start_s (5)"),
        ("incidents", [{"channel": "alpha", "start_s": 1, "end_s": 2}],
         "incidents[0]: an incident needs at least one of"),
        ("incidents", [{"channel": "alpha", "issuer": "CCB", "start_s": 1, "end_s": 2,
                        "lost_rate": 0.5}], "incidents[0]: unknown issuer CCB"),
        ("payout_rails.0.business_hours", {"open": "18:00", "close": "09:00"},
         "close (09:00) must be after open (18:00)"),
        ("payout_rails.0.business_hours", {"days": [0], "open": "08:00", "close": "09:00"},
         "days are ISO weekdays"),
        ("start_at", "2026-11-25T02:00:00", "start_at: not an RFC 3339 timestamp with a time zone"),
    ],
)  # fmt: skip
def test_bad_scenarios_explain_themselves(path: str, value: Any, expected: str) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario_from_data(_break(path, value), source="bad.json")
    message = str(info.value)
    assert message.startswith("bad.json is not a valid scenario (")
    assert expected in message, message


def test_every_problem_is_listed() -> None:
    data = _break("seed", -1)
    data["channels"][0]["timeout_ms"] = -5
    data["channels"][1]["typo"] = 1
    with pytest.raises(ScenarioError, match=r"\(3 problems\)") as info:
        scenario_from_data(data)
    assert len(str(info.value).splitlines()) == 4


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("a.json", '{"name": "x",', "a.json is not valid JSON: Expecting property name"),
        ("a.json", '{"seed": 1, "seed": 2}', "the key 'seed' appears twice"),
        ("a.json", "[1, 2]", "the top level must be an object"),
        ("a.yaml", "name: [x", "a.yaml is not valid YAML:"),
        ("a.yaml", "", "the top level must be an object"),
        ("a.txt", "{}", "scenario files end in .json, .yaml or .yml"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, text: str, expected: str) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path / name)
    assert expected in str(info.value)


def test_invalid_json_names_line_and_column() -> None:
    with pytest.raises(ScenarioError, match=r"at line 2, column \d+"):
        parse_scenario('{"name": "x",\n "seed": }', source="s.json")


def test_missing_file_and_unknown_builtin(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot be read"):
        load_scenario(tmp_path / "nope.json")
    with pytest.raises(ScenarioError, match="no built-in scenario 'nope'; there are: default"):
        builtin_scenario("nope")


def test_scenarios_are_immutable(default_scenario: Scenario) -> None:
    with pytest.raises(ValueError, match="frozen"):
        default_scenario.seed = 8  # type: ignore[misc]


def test_payout_rail_eligibility(default_scenario: Scenario) -> None:
    from datetime import UTC, datetime

    internal, ibps, hvps = (default_scenario.info(r) for r in ("partner_internal", "ibps", "hvps"))
    assert internal.kind is ChannelKind.PAYOUT
    assert internal.accepts(issuer="PARTNER", amount=10**9, currency="CNY")
    assert internal.refusal(issuer="ICBC", amount=100, currency="CNY") == "58"
    assert ibps.refusal(issuer="ICBC", amount=500_000_001, currency="CNY") == "61"
    assert ibps.fee(100) == 50
    saturday = datetime(2026, 11, 28, 3, tzinfo=UTC)
    assert hvps.refusal(issuer="ICBC", amount=10**10, currency="CNY", at=saturday) == "90"
    monday = datetime(2026, 11, 30, 3, tzinfo=UTC)
    assert hvps.accepts(issuer="ICBC", amount=10**10, currency="CNY", at=monday)
