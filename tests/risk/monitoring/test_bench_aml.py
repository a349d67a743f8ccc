"""`payhub bench aml`: the generator, the AMLworld reader, the scoring, and a smoke run
(tiny, not timed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from payhub.bench.aml_amlworld import AmlworldError, read_amlworld
from payhub.bench.aml_generator import Labelled, generate
from payhub.bench.aml_scoring import score
from payhub.risk.monitoring import TYPOLOGIES, Alert, Evidence
from tests.processes import run_payhub
from tests.risk.monitoring.factories import tx

HEADER = (
    "Timestamp,From Bank,Account,To Bank,Account,Amount Received,Receiving Currency,"
    "Amount Paid,Payment Currency,Payment Format,Is Laundering"
)


def test_the_generator_is_deterministic_per_seed() -> None:
    one, again, other = generate(3, 2_000), generate(3, 2_000), generate(4, 2_000)
    assert [(t.tx, t.typology) for t in one.transactions] == [
        (t.tx, t.typology) for t in again.transactions
    ]
    assert [t.tx for t in one.transactions] != [t.tx for t in other.transactions]


def test_the_generator_labels_every_typology_in_the_scored_period_only() -> None:
    made = generate(5, 5_000)
    times = [t.tx.at for t in made.transactions]
    assert times == sorted(times)
    labelled = [t for t in made.transactions if t.typology]
    assert {t.typology for t in labelled} == set(TYPOLOGIES)
    assert all(t.tx.at >= made.scored_from for t in labelled)
    scored = made.scored
    assert 0.01 <= len(labelled) / len(scored) <= 0.03
    assert len(scored) >= 4_000  # small worlds run over: fixed minimum populations
    assert all(isinstance(t.tx.amount, int) and t.tx.amount > 0 for t in made.transactions)


def _csv(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "trans.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_amlworld_rows_become_labelled_transactions(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "2022/09/01 00:22,001,8000EBD30,002,8000F4580,3697.34,US Dollar,3697.34,US Dollar,ACH,0",
        "2022/09/01 00:20,010,80A,010,80B,10.00,Euro,0.00012345,Bitcoin,Bitcoin,1",
    )
    first, second = read_amlworld(path)
    assert first.tx.at == datetime(2022, 9, 1, 0, 20, tzinfo=UTC)  # sorted by time
    assert (first.tx.source, first.tx.target) == ("010:80A", "010:80B")
    assert (first.tx.amount, first.tx.currency) == (12_345, "XBT")
    assert first.typology == "laundering"
    assert (second.tx.amount, second.tx.currency, second.tx.channel) == (369_734, "USD", "ACH")
    assert second.typology is None
    assert second.tx.id == "row2"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("2022/09/01 00:20,1,A,2,B,1.00,US Dollar,1.00,US Dollar,ACH", "10 columns"),
        ("2022-13-01 00:20,1,A,2,B,1.00,US Dollar,1.00,US Dollar,ACH,0", "bad timestamp"),
        ("2022/09/01 00:20,1,A,2,B,1.00,US Dollar,ten,US Dollar,ACH,0", "bad amount"),
        ("2022/09/01 00:20,1,A,2,B,1.00,US Dollar,-1,US Dollar,ACH,0", "bad amount"),
        ("2022/09/01 00:20,1,A,2,B,1.00,US Dollar,1.00,Doubloon,ACH,0", "unknown currency"),
        ("2022/09/01 00:20,1,A,2,B,1.00,US Dollar,1.00,US Dollar,ACH,yes", "0 or 1"),
        ("2022/09/01 00:20,1,,2,B,1.00,US Dollar,1.00,US Dollar,ACH,0", "account is empty"),
    ],
)
def test_amlworld_bad_rows_name_their_line(tmp_path: Path, row: str, message: str) -> None:
    good = "2022/09/01 00:20,1,A,2,B,1.00,US Dollar,1.00,US Dollar,ACH,0"
    path = _csv(tmp_path, good, row)
    with pytest.raises(AmlworldError, match=rf"trans.csv:3: .*{message}"):
        read_amlworld(path)


def test_amlworld_wrong_header_is_refused(tmp_path: Path) -> None:
    path = _csv(tmp_path, header="Timestamp,From,To,Amount")
    with pytest.raises(AmlworldError, match="not the AMLworld header"):
        read_amlworld(path)


def test_amlworld_limit(tmp_path: Path) -> None:
    row = "2022/09/01 00:20,1,A,2,B,1.00,US Dollar,1.00,US Dollar,ACH,0"
    assert len(read_amlworld(_csv(tmp_path, row, row, row), limit=2)) == 2


def _alert(typology: str, *ids: str) -> Alert:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return Alert("a", typology, "s", 70, at, at, ids, Evidence((), ()), "")


def test_scoring_counts_a_transaction_once_whatever_flags_it() -> None:
    items = [tx("a", "b", 1), tx("a", "c", 1), tx("d", "e", 1), tx("f", "g", 1)]
    labelled = [
        Labelled(items[0], "fan_out"),
        Labelled(items[1], "fan_out"),
        Labelled(items[2], None),
        Labelled(items[3], None),
    ]
    alerts = [
        _alert("fan_out", items[0].id, items[2].id),
        _alert("cycle", items[0].id),
        _alert("cycle", "not-scored"),
    ]
    result = score(labelled, alerts)
    assert (result.flagged, result.true_positives, result.laundering) == (2, 1, 2)
    assert (result.precision, result.recall) == (0.5, 0.5)
    assert result.per_typology["fan_out"].recall == 0.5
    assert result.per_typology["cycle"].alerts == 2
    assert result.per_typology["cycle"].precision == 1.0
    assert result.per_typology["location_anomaly"].recall is None


def test_bench_aml_runs_end_to_end(tmp_path: Path) -> None:
    out, chart = tmp_path / "aml.json", tmp_path / "aml.png"
    decision = tmp_path / "risk.json"
    decision.write_text(json.dumps({"decision_p99_ms": 1.25}), encoding="utf-8")
    done = run_payhub(
        "bench", "aml", "--seed", "7", "--size", "3000", "--json", str(out), "--chart",
        str(chart), "--decision-json", str(decision),
        database_url="sqlite+aiosqlite:///unused.db", cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert {
        "transactions",
        "laundering_share",
        "precision",
        "recall",
        "f1",
        "per_typology",
        "monitor_tx_per_s",
        "decision_p99_ms",
    } <= set(figures)
    assert figures["decision_p99_ms"] == 1.25
    assert set(figures["per_typology"]) == set(TYPOLOGIES)
    assert {"recall", "alerts"} <= set(figures["per_typology"]["cycle"])
    assert figures["monitor_tx_per_s"] > 0
    assert chart.stat().st_size > 0


def test_bench_aml_scores_an_amlworld_file(tmp_path: Path) -> None:
    rows = [
        f"2022/09/01 {n // 60:02d}:{n % 60:02d},1,SRC,2,R{n},5000.00,US Dollar,5000.00,"
        "US Dollar,Wire,1"
        for n in range(12)
    ]
    path = _csv(tmp_path, *rows, "2022/09/01 05:00,3,X,4,Y,12.00,Euro,12.00,Euro,Cash,0")
    out = tmp_path / "aml.json"
    done = run_payhub(
        "bench", "aml", "--input", str(path), "--json", str(out),
        database_url="sqlite+aiosqlite:///unused.db", cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures["transactions"] == 13
    assert figures["decision_p99_ms"] is None
    assert figures["recall"] == 1.0  # the fan-out to twelve new payees
    assert figures["per_typology"]["fan_out"]["alerts"] == 1


def test_bench_aml_reports_a_bad_file(tmp_path: Path) -> None:
    path = _csv(tmp_path, "2022/09/01 00:20,1,A,2,B,1.00,US Dollar,x,US Dollar,ACH,0")
    done = run_payhub(
        "bench", "aml", "--input", str(path),
        database_url="sqlite+aiosqlite:///unused.db", cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "trans.csv:2: bad amount" in done.stdout
    assert "Traceback" not in done.stderr
